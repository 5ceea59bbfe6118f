//! Fixtures shared by the unit tests of this crate.

use ccgpu_pci::{ClassCode, PciAddress, PciDevice};

/// An H100 (10de:2330, class 0x0302) at `address` on `driver`, with nothing else known.
pub(crate) fn h100(address: &str, driver: Option<&str>) -> PciDevice {
    PciDevice {
        address: address.parse::<PciAddress>().unwrap_or_else(|e| panic!("{address}: {e}")),
        vendor: 0x10de,
        device: 0x2330,
        class: ClassCode(0x030200),
        driver: driver.map(|d| d.parse().unwrap_or_else(|e| panic!("{d}: {e}"))),
        iommu_group: None,
        numa_node: None,
        pcie_root: None,
        vfio_cdev: None,
        sriov: None,
        physfn: None,
    }
}
