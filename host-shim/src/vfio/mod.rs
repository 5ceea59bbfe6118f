//! Proving that a prepared device is usable through VFIO, not merely bound to `vfio-pci`.
//!
//! After binding, the node layer opens the device the way the VMM will: through the legacy group
//! (`/dev/vfio/<group>` in a type-1 container: the group must be viable, the device fd obtainable) or
//! through the iommufd cdev (`/dev/vfio/devices/vfioN` bound to `/dev/iommu`, attached to an IOAS with one
//! page mapped for DMA and unmapped, as QEMU does for a confidential guest). Then it closes everything
//! again: a VFIO group or device can have one user, and that user is the VM.
//!
//! [`KernelVfio`] makes the ioctls (the only `unsafe` code of the crate, in [`kernel`]); `crate::sim::SimVfio`
//! (feature `sim`) applies the kernel's viability rule to a simulated bus.

use std::fmt;
use std::io;
use std::path::PathBuf;

use ccgpu_pci::{IommuGroup, PciAddress};
use serde::Serialize;

pub mod kernel;

pub use kernel::{KernelVfio, read_bar_u32};

/// What the kernel told us about a device opened through VFIO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VfioProof {
    /// `VFIO_DEVICE_FLAGS_*` from `VFIO_DEVICE_GET_INFO`.
    pub flags: u32,
    /// Number of regions (BARs, config space, …).
    pub num_regions: u32,
    /// Number of IRQ types.
    pub num_irqs: u32,
    /// Through the iommufd cdev: what the IOAS hand-over returned; `None` through the legacy group.
    pub iommufd: Option<IommufdProof>,
}

/// What the kernel returned along the iommufd hand-over a VMM performs (bind, IOAS, attach, DMA map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IommufdProof {
    /// The device's id in the iommufd context (`VFIO_DEVICE_BIND_IOMMUFD`).
    pub dev_id: u32,
    /// The IOAS allocated for it (`IOMMU_IOAS_ALLOC`).
    pub ioas_id: u32,
    /// The page table the kernel attached the device to (`VFIO_DEVICE_ATTACH_IOMMUFD_PT`): a hardware
    /// page table it created inside the IOAS, so another id than the IOAS's.
    pub hwpt_id: u32,
    /// The IOVA the kernel chose for the mapped page (`IOMMU_IOAS_MAP`).
    pub iova: u64,
    /// Bytes mapped for DMA.
    pub mapped: u64,
    /// Bytes the kernel reported unmapped again (`IOMMU_IOAS_UNMAP`).
    pub unmapped: u64,
}

/// Why a device is not usable through VFIO.
#[derive(Debug, thiserror::Error)]
pub enum VfioError {
    /// A VFIO node could not be opened.
    #[error("opening {path} for {device}")]
    Open {
        /// The device.
        device: PciAddress,
        /// The node.
        path: PathBuf,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// A VFIO ioctl failed.
    #[error("{ioctl} on {path} for {device}")]
    Ioctl {
        /// The device.
        device: PciAddress,
        /// The node the ioctl was made on.
        path: PathBuf,
        /// The ioctl.
        ioctl: &'static str,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel speaks another VFIO API version.
    #[error("VFIO API version {found} at {path}, expected {expected}")]
    ApiVersion {
        /// The container node.
        path: PathBuf,
        /// What the kernel reported.
        found: i64,
        /// What we speak.
        expected: u32,
    },
    /// The group is not viable: some member is still on a driver that is not VFIO-compatible.
    #[error("IOMMU group {group} is not viable for {device}: a member is bound to a non-VFIO driver")]
    NotViable {
        /// The group.
        group: IommuGroup,
        /// The device.
        device: PciAddress,
    },
    /// Simulated bus: the device is not on a VFIO driver, or its cdev does not match.
    #[error("{device} is not usable through VFIO: {reason}")]
    Unusable {
        /// The device.
        device: PciAddress,
        /// Why.
        reason: String,
    },
}

/// Opens prepared devices through VFIO to prove they are usable.
pub trait VfioAccess: Send + Sync + fmt::Debug {
    /// Through the legacy group API: viable group, type-1 IOMMU, device fd, device info.
    fn open_group(&self, group: IommuGroup, device: PciAddress) -> Result<VfioProof, VfioError>;

    /// Through the iommufd cdev `vfioN`: bind to `/dev/iommu`, device info, then the IOAS hand-over
    /// (allocate, attach, map one page for DMA, unmap, detach, destroy).
    fn open_cdev(&self, cdev: &str, device: PciAddress) -> Result<VfioProof, VfioError>;
}
