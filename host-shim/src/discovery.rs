//! Discovery: the managed devices (GPUs, NVSwitches) on this node and everything about them a scheduler
//! or an operator needs — IOMMU group and its members, NUMA node, PCIe root, driver, VFIO cdev, SR-IOV,
//! CC mode, PPCIe mode, and whether the device can be prepared at all.
//!
//! Unreadable sysfs is an error for the whole discovery, never an empty list. A device that cannot be
//! prepared (no IOMMU group, a foreign device in its group) is still listed, with the reason, so it is
//! visible instead of silently missing.

use ccgpu_pci::{ClassCode, DriverName, PciAddress, PciBus, PciDevice, PciError};
use serde::Serialize;

use crate::ccmode::{CcMode, CcModeSource};
use crate::config::DeviceMatch;
use crate::group::{MemberRole, PlanError, group_members, plan_group};
use crate::names::{DeviceKind, DeviceName};
use crate::ppcie::PpcieState;

/// One member of a managed device's IOMMU group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    /// Address.
    pub address: PciAddress,
    /// Vendor id.
    pub vendor: u16,
    /// Class.
    pub class: ClassCode,
    /// Driver now.
    pub driver: Option<DriverName>,
    /// How a prepare treats it.
    pub role: MemberRole,
}

/// A managed device as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiscoveredDevice {
    /// Its stable published name.
    pub name: DeviceName,
    /// What sysfs says about it.
    pub pci: PciDevice,
    /// Its IOMMU group's members (empty without a group).
    pub group: Vec<GroupMember>,
    /// CC mode: from NVML while on the NVIDIA driver, else remembered from before binding.
    pub cc_mode: Option<CcMode>,
    /// Protected-PCIe mode: read from the device while free, remembered while a claim holds it (left
    /// out of the JSON where the model has none, as in discovery output recorded before it existed).
    #[serde(skip_serializing_if = "PpcieState::is_unsupported")]
    pub ppcie: PpcieState,
    /// Why it cannot be prepared, when it cannot.
    pub unpreparable: Option<String>,
}

/// Discovery failed: the bus could not be read.
#[derive(Debug, thiserror::Error)]
#[error("discovering PCI devices")]
pub struct DiscoveryError(#[source] pub PciError);

/// Every managed device on `bus`, sorted by address. `remembered` supplies the CC mode of devices that
/// are no longer on the NVIDIA driver; a failing NVML query is logged and reads as unknown. `ppcie`
/// gives each device's PPCIe state.
pub fn discover(
    bus: &dyn PciBus,
    matching: &DeviceMatch,
    cc: &dyn CcModeSource,
    remembered: impl Fn(PciAddress) -> Option<CcMode>,
    ppcie: impl Fn(&PciDevice, DeviceKind) -> PpcieState,
) -> Result<Vec<DiscoveredDevice>, DiscoveryError> {
    let mut out = Vec::new();
    for address in bus.devices().map_err(DiscoveryError)? {
        let pci = match bus.describe(address) {
            Ok(d) => d,
            // Hot-unplugged between listing and reading: not there.
            Err(PciError::NoSuchDevice { .. }) => continue,
            Err(e) => return Err(DiscoveryError(e)),
        };
        let Some(kind) = matching.classify(&pci) else { continue };
        let (group, unpreparable) = match group_members(bus, matching, &pci) {
            Ok((_, members)) => {
                let members = members
                    .into_iter()
                    .map(|(d, role)| GroupMember {
                        address: d.address,
                        vendor: d.vendor,
                        class: d.class,
                        driver: d.driver,
                        role,
                    })
                    .collect();
                let reason = plan_group(bus, matching, &pci).err().map(|e| e.to_string());
                (members, reason)
            }
            Err(e @ PlanError::NoIommuGroup { .. }) => (Vec::new(), Some(e.to_string())),
            Err(PlanError::Pci { source, .. }) => return Err(DiscoveryError(source)),
            Err(e @ PlanError::ForeignDevice { .. }) => (Vec::new(), Some(e.to_string())),
        };
        let on_nvidia = pci.driver.as_ref().is_some_and(|d| d.as_str() == "nvidia");
        let cc_mode = if on_nvidia {
            cc.cc_mode(&pci).unwrap_or_else(|e| {
                tracing::warn!(bdf = %address, error = %e, "CC mode unknown");
                None
            })
        } else {
            remembered(address)
        };
        let ppcie = ppcie(&pci, kind);
        out.push(DiscoveredDevice { name: DeviceName::new(kind, address), pci, group, cc_mode, ppcie, unpreparable });
    }
    Ok(out)
}
