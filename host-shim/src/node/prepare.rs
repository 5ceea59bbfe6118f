//! Prepare of one claim, under its lock (see the [`super`] module documentation for the sequence).

use std::collections::{BTreeMap, BTreeSet};

use ccgpu_pci::{DriverName, IommuGroup, PciAddress, PciError};

use super::{ClaimFailure, Node, PreparedClaim, PreparedDevice, lock};
use crate::binding;
use crate::checkpoint::{ClaimRecord, DeviceRecord, Phase, Role};
use crate::config::VfioNodes;
use crate::deadline::Deadline;
use crate::effects::Step;
use crate::group::{self, MemberRole};
use crate::names::{ClaimUid, DeviceName};
use crate::usage::UsageError;

impl Node {
    /// Prepare under the claim's lock: the forward work within `work`, a rollback within `deadline`.
    pub(super) fn prepare_locked(
        &self,
        claim: &ClaimUid,
        devices: &[DeviceName],
        work: Deadline,
        deadline: Deadline,
    ) -> Result<PreparedClaim, ClaimFailure> {
        if devices.is_empty() {
            return Err(ClaimFailure::EmptyRequest);
        }
        let mut seen = BTreeSet::new();
        for d in devices {
            if !seen.insert(d.address()) {
                return Err(ClaimFailure::DuplicateDevice(*d));
            }
        }
        match self.checkpoints.load(claim)? {
            Some(Err(corrupt)) => return Err(ClaimFailure::CorruptRecord(corrupt)),
            Some(Ok(record)) if record.phase == Phase::PrepareCompleted => {
                if record.requested != devices {
                    return Err(ClaimFailure::ClaimChanged {
                        requested: devices.to_vec(),
                        prepared: record.requested.clone(),
                    });
                }
                self.check_still_bound(&record)?;
                return Ok(self.answer(&record));
            }
            // Answering from the checkpoint needs no time; anything else does.
            _ if work.remaining().is_zero() => return Err(ClaimFailure::BudgetSpent),
            None => {}
            // A previous attempt that could not roll back: finish undoing it first.
            Some(Ok(record)) => self.undo(&record, work)?,
        }

        let record = self.plan(claim, devices)?;
        self.reserve(claim, &record)?;
        let result = self.wait_idle(&record, work).and_then(|()| self.checkpoint(&record));
        if let Err(e) = result {
            self.release(claim);
            return Err(e);
        }
        match self.bind_and_publish(record.clone(), work) {
            Ok(done) => {
                let mut cc = lock(&self.remembered_cc);
                for d in &done.devices {
                    if let Some(mode) = d.cc_mode {
                        cc.insert(d.address, mode);
                    }
                }
                Ok(self.answer(&done))
            }
            // The rollback has what is left of the claim's deadline: at least the reserved part.
            Err(cause) => match self.undo(&record, deadline) {
                Ok(()) => Err(cause),
                Err(rollback) => {
                    Err(ClaimFailure::RollbackFailed { cause: Box::new(cause), rollback: Box::new(rollback) })
                }
            },
        }
    }

    /// Reads the requested devices and plans their groups into a `PrepareStarted` record.
    fn plan(&self, claim: &ClaimUid, devices: &[DeviceName]) -> Result<ClaimRecord, ClaimFailure> {
        let bus = self.backends.bus.as_ref();
        let mut planned: BTreeMap<IommuGroup, ()> = BTreeMap::new();
        let mut records = Vec::new();
        for name in devices {
            let address = name.address();
            let pci = match bus.describe(address) {
                Ok(p) => p,
                Err(PciError::NoSuchDevice { .. }) => return Err(ClaimFailure::UnknownDevice(*name)),
                Err(source) => return Err(ClaimFailure::Pci { address, source }),
            };
            if self.config.matching.classify(&pci) != Some(name.kind()) {
                return Err(ClaimFailure::NotManaged {
                    name: *name,
                    kind: name.kind(),
                    vendor: pci.vendor,
                    class: pci.class,
                });
            }
            let plan = group::plan_group(bus, &self.config.matching, &pci)
                .map_err(|source| ClaimFailure::Plan { device: *name, source })?;
            if planned.insert(plan.group, ()).is_some() {
                // Another requested device shares this group: the group is in the plan already, with this
                // device marked as requested.
                continue;
            }
            for (member, role) in plan.members {
                let original_override = bus
                    .driver_override(member.address)
                    .map_err(|source| ClaimFailure::Pci { address: member.address, source })?;
                let requested = role == MemberRole::Requested || devices.iter().any(|d| d.address() == member.address);
                let on_nvidia = member.driver.as_ref().is_some_and(|d| d.as_str() == "nvidia");
                let ppcie_on = requested
                    && lock(&self.remembered_ppcie).get(&member.address) == Some(&Some(crate::ppcie::PpcieMode::On));
                let cc_mode = if ppcie_on {
                    // Recorded so a restarted plugin still knows the held device's mode.
                    Some(crate::ccmode::CcMode::Ppcie)
                } else if on_nvidia && requested {
                    self.backends.cc.cc_mode(&member).unwrap_or_else(|e| {
                        tracing::warn!(bdf = %member.address, error = %e, "CC mode unknown");
                        None
                    })
                } else {
                    lock(&self.remembered_cc).get(&member.address).copied()
                };
                records.push(DeviceRecord {
                    address: member.address,
                    group: plan.group,
                    role: if requested { Role::Requested } else { Role::Companion },
                    original_driver: member.driver,
                    original_override,
                    cc_mode,
                });
            }
        }
        Ok(ClaimRecord {
            claim_uid: claim.clone(),
            boot_id: self.boot_id.clone(),
            phase: Phase::PrepareStarted,
            requested: devices.to_vec(),
            devices: records,
            cdi: self.cdi.record(claim, devices),
        })
    }

    /// Waits (bounded) until no process holds any function of the record open.
    fn wait_idle(&self, record: &ClaimRecord, deadline: Deadline) -> Result<(), ClaimFailure> {
        let budgets = self.config.budgets;
        for d in &record.devices {
            let pci = self
                .backends
                .bus
                .describe(d.address)
                .map_err(|source| ClaimFailure::Pci { address: d.address, source })?;
            let mut last = Vec::new();
            let waited = deadline.poll_until(budgets.in_use, budgets.poll, || {
                last = self.backends.usage.holders(&pci)?;
                Ok::<_, UsageError>(last.is_empty().then_some(()))
            })?;
            if let Err(t) = waited {
                let holders: Vec<String> = last.iter().map(ToString::to_string).collect();
                return Err(ClaimFailure::InUse {
                    address: d.address,
                    holders: holders.join(", "),
                    waited_ms: t.waited.as_millis(),
                });
            }
        }
        Ok(())
    }

    /// Everything after `PrepareStarted` is on disk: bind, verify, open, CDI, `PrepareCompleted`.
    fn bind_and_publish(&self, mut record: ClaimRecord, deadline: Deadline) -> Result<ClaimRecord, ClaimFailure> {
        let bus = self.backends.bus.as_ref();
        let budgets = self.config.budgets;
        if !bus
            .driver_registered(&DriverName::vfio_pci())
            .map_err(|source| ClaimFailure::Pci { address: record.devices[0].address, source })?
        {
            return Err(ClaimFailure::VfioPciMissing);
        }
        for d in &record.devices {
            binding::move_to_vfio(&self.writes, &self.effects, d.address, deadline, &budgets)?;
        }
        self.check_groups_unchanged(&record)?;
        let mut cdi_devices = Vec::new();
        for name in &record.requested {
            let address = name.address();
            let group = record
                .devices
                .iter()
                .find(|d| d.address == address)
                .map(|d| d.group)
                .unwrap_or_else(|| unreachable!("every requested device is in the plan"));
            let dev = &self.config.paths.cdi_dev_root;
            let nodes = match self.config.vfio_nodes {
                VfioNodes::Iommufd => {
                    let pci = bus.describe(address).map_err(|source| ClaimFailure::Pci { address, source })?;
                    let cdev = pci.vfio_cdev.ok_or(ClaimFailure::NoIommufdCdev { address })?;
                    let proof = self.backends.vfio.open_cdev(&cdev, address)?;
                    tracing::debug!(bdf = %address, %cdev, ?proof, "usable through iommufd");
                    vec![dev.join("vfio/devices").join(&cdev)]
                }
                VfioNodes::LegacyGroup => {
                    let proof = self.backends.vfio.open_group(group, address)?;
                    tracing::debug!(bdf = %address, %group, ?proof, "usable through the VFIO group");
                    vec![dev.join("vfio/vfio"), dev.join("vfio").join(group.to_string())]
                }
            };
            cdi_devices.push((*name, nodes));
        }
        let shared =
            if self.config.cdi_iommu_device { vec![self.config.paths.cdi_dev_root.join("iommu")] } else { Vec::new() };
        let spec = self.cdi.spec(&record.claim_uid, &cdi_devices, &shared)?;
        self.effects.step(Step::WriteCdi(&record.claim_uid))?;
        self.cdi.write(&record.claim_uid, &spec)?;
        record.phase = Phase::PrepareCompleted;
        self.checkpoint(&record)?;
        Ok(record)
    }

    fn check_groups_unchanged(&self, record: &ClaimRecord) -> Result<(), ClaimFailure> {
        let bus = self.backends.bus.as_ref();
        let groups: BTreeSet<IommuGroup> = record.devices.iter().map(|d| d.group).collect();
        for group in groups {
            let mut planned: Vec<PciAddress> =
                record.devices.iter().filter(|d| d.group == group).map(|d| d.address).collect();
            planned.sort();
            let any = planned[0];
            let pci = |source| ClaimFailure::Pci { address: any, source };
            let mut now = Vec::new();
            for m in bus.iommu_group_members(group).map_err(pci)? {
                if !bus.describe(m).map_err(pci)?.class.is_bridge() {
                    now.push(m);
                }
            }
            now.sort();
            if now != planned {
                return Err(ClaimFailure::GroupChanged { group, planned, now });
            }
        }
        Ok(())
    }

    fn check_still_bound(&self, record: &ClaimRecord) -> Result<(), ClaimFailure> {
        for d in &record.devices {
            let driver = self
                .backends
                .bus
                .driver(d.address)
                .map_err(|source| ClaimFailure::Pci { address: d.address, source })?;
            if !driver.as_ref().is_some_and(DriverName::is_vfio) {
                return Err(ClaimFailure::Drifted { address: d.address, driver });
            }
        }
        Ok(())
    }

    fn answer(&self, record: &ClaimRecord) -> PreparedClaim {
        PreparedClaim {
            claim_uid: record.claim_uid.clone(),
            devices: record
                .requested
                .iter()
                .zip(&record.cdi.device_ids)
                .map(|(name, id)| PreparedDevice { name: *name, cdi_device_id: id.clone(), unit: None })
                .collect(),
            cdi_spec: record.cdi.file.clone(),
        }
    }
}
