//! The [`PciBus`] trait: the narrow seam between our code and the kernel's PCI driver core.
//!
//! Reads describe a function (identity, IOMMU group, NUMA node, PCIe root, current driver, VFIO cdev,
//! SR-IOV); writes are exactly the sysfs writes the kernel understands. Implementations must report an
//! unreadable source as an error: "could not read" never becomes "no such device" or "no GPUs". An
//! attribute is `None` only when the kernel genuinely does not provide it (no IOMMU, no driver bound).

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::address::PciAddress;
use crate::ids::{ClassCode, DriverName, IommuGroup};

/// What the kernel tells us about one PCI function, read at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevice {
    /// Its address.
    pub address: PciAddress,
    /// PCI vendor id (`0x10de` for NVIDIA).
    pub vendor: u16,
    /// PCI device id.
    pub device: u16,
    /// 24-bit class code.
    pub class: ClassCode,
    /// Driver bound now, if any.
    pub driver: Option<DriverName>,
    /// IOMMU group, `None` when the kernel runs without an IOMMU for this function.
    pub iommu_group: Option<IommuGroup>,
    /// NUMA node, `None` when the platform reports none (`-1`).
    pub numa_node: Option<u32>,
    /// The PCIe root complex the function hangs under, as the kernel names it (`pci0000:00`).
    pub pcie_root: Option<String>,
    /// The VFIO character device name (`vfio3` for `/dev/vfio/devices/vfio3`) while bound to a VFIO
    /// driver on a kernel with `CONFIG_VFIO_DEVICE_CDEV` (a `vfio-dev/vfioN` entry with a device number).
    pub vfio_cdev: Option<String>,
    /// SR-IOV capability, when the function is a physical function that has it.
    pub sriov: Option<Sriov>,
    /// The physical function, when this is an SR-IOV virtual function.
    pub physfn: Option<PciAddress>,
}

/// SR-IOV state of a physical function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sriov {
    /// `sriov_totalvfs`.
    pub total_vfs: u32,
    /// `sriov_numvfs`.
    pub num_vfs: u32,
    /// The enabled virtual functions.
    pub vfs: Vec<PciAddress>,
}

/// A failed read or write, carrying the function or path involved and the OS error.
#[derive(Debug, thiserror::Error)]
pub enum PciError {
    /// A sysfs (or simulated) file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A sysfs (or simulated) file could not be written.
    #[error("writing {value:?} to {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What we tried to write.
        value: String,
        /// The OS error (EBUSY, ENODEV, …).
        #[source]
        source: io::Error,
    },
    /// A file had content the kernel never writes there.
    #[error("{path} holds {content:?}, which is not a valid {what}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was expected.
        what: &'static str,
        /// The content (bounded).
        content: String,
    },
    /// The function does not exist (hot-unplugged, or never there).
    #[error("PCI function {address} does not exist")]
    NoSuchDevice {
        /// The address asked for.
        address: PciAddress,
    },
}

impl PciError {
    /// The OS error number behind a failed read or write, when there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            PciError::Read { source, .. } | PciError::Write { source, .. } => source.raw_os_error(),
            PciError::Parse { .. } | PciError::NoSuchDevice { .. } => None,
        }
    }
}

/// The kernel's PCI driver core, as far as ccgpu needs it.
///
/// Writes mirror sysfs one to one; callers confirm their effect by reading back (the kernel may accept a
/// write and still leave a device unbound when a driver's probe fails).
pub trait PciBus: Send + Sync + fmt::Debug {
    /// Every PCI function present.
    fn devices(&self) -> Result<Vec<PciAddress>, PciError>;

    /// Everything we read about one function.
    fn describe(&self, address: PciAddress) -> Result<PciDevice, PciError>;

    /// The driver bound now (cheaper than [`PciBus::describe`]; used when polling).
    fn driver(&self, address: PciAddress) -> Result<Option<DriverName>, PciError>;

    /// The `driver_override` set on the function, if any.
    fn driver_override(&self, address: PciAddress) -> Result<Option<DriverName>, PciError>;

    /// Every function in an IOMMU group, bridges included.
    fn iommu_group_members(&self, group: IommuGroup) -> Result<Vec<PciAddress>, PciError>;

    /// Whether a driver is registered with the PCI bus (`/sys/bus/pci/drivers/<name>` exists).
    fn driver_registered(&self, driver: &DriverName) -> Result<bool, PciError>;

    /// Writes `driver_override` (`None` clears it).
    fn set_driver_override(&self, address: PciAddress, driver: Option<&DriverName>) -> Result<(), PciError>;

    /// Unbinds the function from its current driver (`<dev>/driver/unbind`).
    fn unbind(&self, address: PciAddress) -> Result<(), PciError>;

    /// Asks the kernel to find a driver for the function (`/sys/bus/pci/drivers_probe`).
    fn probe(&self, address: PciAddress) -> Result<(), PciError>;

    /// Binds the function to a named driver (`/sys/bus/pci/drivers/<driver>/bind`).
    fn bind(&self, driver: &DriverName, address: PciAddress) -> Result<(), PciError>;

    /// Removes a dynamic id from a driver (`/sys/bus/pci/drivers/<driver>/remove_id`), as added by
    /// `new_id` or a module's `ids=` parameter.
    fn remove_id(&self, driver: &DriverName, vendor: u16, device: u16) -> Result<(), PciError>;
}
