//! The functions and driver match entries a simulated machine is built from.

use crate::address::PciAddress;
use crate::ids::{ClassCode, IommuGroup};

/// One function of the simulated machine, as it is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFunction {
    /// Address.
    pub address: PciAddress,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Class code.
    pub class: ClassCode,
    /// IOMMU group (`None`: no IOMMU).
    pub iommu_group: Option<IommuGroup>,
    /// NUMA node.
    pub numa_node: Option<u32>,
    /// Root complex name (`pci0000:00`).
    pub pcie_root: Option<String>,
    /// SR-IOV total VFs (physical functions only).
    pub sriov_total_vfs: Option<u32>,
    /// The physical function of a virtual function.
    pub physfn: Option<PciAddress>,
}

impl SimFunction {
    /// A function with no IOMMU group, NUMA node or root; set them with the builder methods.
    pub fn new(address: PciAddress, vendor: u16, device: u16, class: u32) -> Self {
        Self {
            address,
            vendor,
            device,
            class: ClassCode(class),
            iommu_group: None,
            numa_node: None,
            pcie_root: None,
            sriov_total_vfs: None,
            physfn: None,
        }
    }

    /// Places the function in an IOMMU group.
    pub fn group(mut self, group: u32) -> Self {
        self.iommu_group = Some(IommuGroup(group));
        self
    }

    /// Sets the NUMA node.
    pub fn numa(mut self, node: u32) -> Self {
        self.numa_node = Some(node);
        self
    }

    /// Sets the root complex (`pci0000:00`).
    pub fn root(mut self, root: &str) -> Self {
        self.pcie_root = Some(root.to_owned());
        self
    }
}

/// A driver's static match entry: vendor plus optional device id and optional 16-bit class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMatch {
    /// Vendor id.
    pub vendor: u16,
    /// Device id, any when `None`.
    pub device: Option<u16>,
    /// Base class + subclass, any when `None`.
    pub class16: Option<u16>,
}

impl IdMatch {
    /// Matches every function of `vendor` with class `class16`.
    pub fn vendor_class(vendor: u16, class16: u16) -> Self {
        Self { vendor, device: None, class16: Some(class16) }
    }

    /// Matches every function of class `class16`, any vendor.
    pub fn any_vendor_class(class16: u16) -> Self {
        Self { vendor: 0xffff, device: None, class16: Some(class16) }
    }

    /// True when this entry matches `function`.
    pub(super) fn matches(&self, function: &SimFunction) -> bool {
        (self.vendor == 0xffff || self.vendor == function.vendor)
            && self.device.is_none_or(|d| d == function.device)
            && self.class16.is_none_or(|c| c == function.class.class16())
    }
}
