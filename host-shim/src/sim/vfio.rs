//! [`SimVfio`]: VFIO opens against a simulated bus, applying the kernel's rules.
//!
//! A group is viable when every member is unbound, on a VFIO driver, or on a driver the kernel allows
//! beside VFIO (`pci-stub`, `pcieport`); the device itself must be on a VFIO driver; a cdev open needs the
//! device's current `vfioN`.

use std::sync::Arc;

use ccgpu_pci::{IommuGroup, PciAddress, PciBus};

use crate::vfio::{IommufdProof, VfioAccess, VfioError, VfioProof};

/// VFIO over a simulated (or any) [`PciBus`].
#[derive(Debug, Clone)]
pub struct SimVfio {
    bus: Arc<dyn PciBus>,
}

impl SimVfio {
    /// VFIO checks against `bus`.
    pub fn new(bus: Arc<dyn PciBus>) -> Self {
        Self { bus }
    }

    fn unusable(device: PciAddress, reason: impl Into<String>) -> VfioError {
        VfioError::Unusable { device, reason: reason.into() }
    }

    fn device_on_vfio(&self, device: PciAddress) -> Result<(), VfioError> {
        match self.bus.driver(device) {
            Ok(Some(d)) if d.is_vfio() => Ok(()),
            Ok(other) => Err(Self::unusable(device, format!("bound to {other:?}, not a VFIO driver"))),
            Err(e) => Err(Self::unusable(device, e.to_string())),
        }
    }
}

const PROOF: VfioProof = VfioProof { flags: 2, num_regions: 9, num_irqs: 5, iommufd: None };
/// What the simulated iommufd hand-over reports: one 4 KiB page mapped and unmapped at the IOVA the
/// kernel's allocator picks first.
const IOMMUFD: IommufdProof = IommufdProof { dev_id: 1, ioas_id: 2, hwpt_id: 3, iova: 0, mapped: 4096, unmapped: 4096 };

impl VfioAccess for SimVfio {
    fn open_group(&self, group: IommuGroup, device: PciAddress) -> Result<VfioProof, VfioError> {
        let members = self.bus.iommu_group_members(group).map_err(|e| Self::unusable(device, e.to_string()))?;
        if !members.contains(&device) {
            return Err(Self::unusable(device, format!("not in IOMMU group {group}")));
        }
        for m in members {
            let driver = self.bus.driver(m).map_err(|e| Self::unusable(device, e.to_string()))?;
            let allowed = driver.as_ref().is_none_or(|d| d.is_vfio() || matches!(d.as_str(), "pci-stub" | "pcieport"));
            if !allowed {
                return Err(VfioError::NotViable { group, device });
            }
        }
        self.device_on_vfio(device)?;
        Ok(PROOF)
    }

    fn open_cdev(&self, cdev: &str, device: PciAddress) -> Result<VfioProof, VfioError> {
        self.device_on_vfio(device)?;
        let current = self.bus.describe(device).map_err(|e| Self::unusable(device, e.to_string()))?.vfio_cdev;
        if current.as_deref() != Some(cdev) {
            return Err(Self::unusable(device, format!("cdev {cdev} is not the device's ({current:?})")));
        }
        Ok(VfioProof { iommufd: Some(IOMMUFD), ..PROOF })
    }
}
