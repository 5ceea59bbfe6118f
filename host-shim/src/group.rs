//! Whole-IOMMU-group planning: which functions must go to vfio-pci with a requested device, and which
//! groups we refuse.
//!
//! A VFIO group is only usable when every function in it is on a VFIO-compatible driver, so preparing a
//! GPU means moving its whole group. Members are classified against the requested device:
//!
//! - the requested device itself;
//! - **companions**: other functions of the same card (same vendor, same slot: the HDA audio or USB-C
//!   function of a GPU), and other managed devices that share the group (a second GPU, an NVSwitch) —
//!   they go to vfio-pci too;
//! - **bridges** (class 0x0604): left on their driver (`pcieport` keeps a group viable);
//! - anything else is **foreign**: a NIC or NVMe drive that happens to share the group. We refuse the
//!   group with an error naming it rather than take a device nobody asked for.
//!
//! Trusts the bus's answers; re-checked after binding in case the group changed under us.

use ccgpu_pci::{ClassCode, IommuGroup, PciAddress, PciBus, PciDevice, PciError};
use serde::Serialize;

use crate::config::DeviceMatch;

/// How one member of a requested device's IOMMU group is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberRole {
    /// The requested device.
    Requested,
    /// Goes to vfio-pci with it.
    Companion,
    /// A bridge, left alone.
    Bridge,
    /// A device we must not take: the group is refused.
    Foreign,
}

/// The functions of one IOMMU group that a prepare moves (bridges excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPlan {
    /// The group.
    pub group: IommuGroup,
    /// Functions to move, requested first, each with its role.
    pub members: Vec<(PciDevice, MemberRole)>,
}

impl GroupPlan {
    /// Addresses of the functions to move, sorted.
    #[cfg(test)]
    pub fn addresses(&self) -> Vec<PciAddress> {
        let mut a: Vec<_> = self.members.iter().map(|(d, _)| d.address).collect();
        a.sort();
        a
    }
}

/// Why a device's group cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The kernel has no IOMMU group for it (IOMMU off): VFIO cannot take it.
    #[error("{address} has no IOMMU group (is the IOMMU enabled: intel_iommu=on / amd_iommu=on?)")]
    NoIommuGroup {
        /// The device.
        address: PciAddress,
    },
    /// Its group holds a device we must not take.
    #[error(
        "IOMMU group {group} of {requested} also holds {address} (vendor {vendor:04x}, class {class}), which is \
         neither a function of the same card nor a managed device; refusing to take it"
    )]
    ForeignDevice {
        /// The group.
        group: IommuGroup,
        /// The requested device.
        requested: PciAddress,
        /// The foreign device.
        address: PciAddress,
        /// Its vendor.
        vendor: u16,
        /// Its class.
        class: ClassCode,
    },
    /// The bus could not be read.
    #[error("reading the IOMMU group of {address}")]
    Pci {
        /// The device.
        address: PciAddress,
        /// Bus error.
        #[source]
        source: PciError,
    },
}

/// The role of `member` in the group of `requested`.
pub fn classify_member(matching: &DeviceMatch, requested: &PciDevice, member: &PciDevice) -> MemberRole {
    if member.address == requested.address {
        MemberRole::Requested
    } else if member.class.is_bridge() {
        MemberRole::Bridge
    } else if matching.classify(member).is_some()
        || (member.vendor == requested.vendor && member.address.same_slot(requested.address))
    {
        MemberRole::Companion
    } else {
        MemberRole::Foreign
    }
}

/// Every member of `requested`'s group with its role (bridges and foreign devices included).
pub fn group_members(
    bus: &dyn PciBus,
    matching: &DeviceMatch,
    requested: &PciDevice,
) -> Result<(IommuGroup, Vec<(PciDevice, MemberRole)>), PlanError> {
    let address = requested.address;
    let group = requested.iommu_group.ok_or(PlanError::NoIommuGroup { address })?;
    let pci = |source| PlanError::Pci { address, source };
    let mut out = Vec::new();
    for m in bus.iommu_group_members(group).map_err(pci)? {
        let member = if m == address { requested.clone() } else { bus.describe(m).map_err(pci)? };
        let role = classify_member(matching, requested, &member);
        out.push((member, role));
    }
    out.sort_by_key(|(d, role)| (*role != MemberRole::Requested, d.address));
    Ok((group, out))
}

/// The plan for `requested`: its group's members to move, or the reason it cannot be taken.
pub fn plan_group(bus: &dyn PciBus, matching: &DeviceMatch, requested: &PciDevice) -> Result<GroupPlan, PlanError> {
    let (group, members) = group_members(bus, matching, requested)?;
    let mut plan = GroupPlan { group, members: Vec::new() };
    for (member, role) in members {
        match role {
            MemberRole::Requested | MemberRole::Companion => plan.members.push((member, role)),
            MemberRole::Bridge => {}
            MemberRole::Foreign => {
                return Err(PlanError::ForeignDevice {
                    group,
                    requested: requested.address,
                    address: member.address,
                    vendor: member.vendor,
                    class: member.class,
                });
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use ccgpu_pci::sim::SimBus;
    use ccgpu_pci::sim::SimFunction;

    use super::*;

    fn addr(s: &str) -> PciAddress {
        s.parse().expect("valid")
    }

    #[test]
    fn gpu_hda_and_bridge() {
        let bus = SimBus::hgx(2);
        let gpu = bus.describe(addr("0000:28:00.0")).expect("read");
        let plan = plan_group(&bus, &DeviceMatch::default(), &gpu).expect("plan");
        assert_eq!(plan.addresses(), vec![addr("0000:28:00.0"), addr("0000:28:00.1")], "bridge 27:00.0 left alone");
        assert_eq!(plan.members[0].1, MemberRole::Requested);
        assert_eq!(plan.members[1].1, MemberRole::Companion);
    }

    #[test]
    fn a_foreign_device_in_the_group_is_refused_by_name() {
        let bus = SimBus::hgx(1);
        bus.add_function(SimFunction::new(addr("0000:19:00.0"), 0x144d, 0xa80a, 0x010802).group(10));
        let gpu = bus.describe(addr("0000:18:00.0")).expect("read");
        let err = plan_group(&bus, &DeviceMatch::default(), &gpu).expect_err("foreign NVMe");
        assert!(matches!(err, PlanError::ForeignDevice { address, .. } if address == addr("0000:19:00.0")), "{err}");
    }

    #[test]
    fn no_iommu_no_plan() {
        let bus = SimBus::new();
        bus.add_function(SimFunction::new(addr("0000:01:00.0"), 0x10de, 0x2330, 0x030200));
        let gpu = bus.describe(addr("0000:01:00.0")).expect("read");
        assert!(matches!(plan_group(&bus, &DeviceMatch::default(), &gpu), Err(PlanError::NoIommuGroup { .. })));
    }
}
