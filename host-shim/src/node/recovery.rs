//! Recovery at start: bring the node back to a consistent state after a crash, a kill or a reboot.
//!
//! Runs before any new work, under the node lock:
//!
//! 1. Corrupt records (bad checksum, wrong claim) are set aside as `<file>.corrupt` and reported.
//! 2. Records from another boot are stale: the devices came up on their boot drivers, so only the record
//!    and its CDI spec are removed.
//! 3. A claim in `PrepareStarted` is rolled back; one in `UnprepareStarted` is finished.
//! 4. A claim in `PrepareCompleted` is kept (its pod may be running) and its groups reserved; a device of
//!    it that left vfio-pci is reported as drifted, not rebound.
//! 5. CDI specs of ours without a record are removed.
//! 6. Functions on a VFIO driver that no claim accounts for are reported — never silently rebound: they
//!    may be pre-bound by the operator (`vfio-pci.ids=`) or in use by a VM we do not know.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ccgpu_pci::{DriverName, PciAddress, PciError};
use serde::Serialize;

use super::{ClaimFailure, Node};
use crate::checkpoint::Phase;
use crate::deadline::Deadline;
use crate::effects::Step;
use crate::names::ClaimUid;

/// What recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Claims prepared and kept.
    pub prepared: Vec<ClaimUid>,
    /// Claims from another boot, dropped.
    pub stale_boot: Vec<ClaimUid>,
    /// Claims in `PrepareStarted`, rolled back.
    pub rolled_back: Vec<ClaimUid>,
    /// Claims in `UnprepareStarted`, finished.
    pub finished_unprepare: Vec<ClaimUid>,
    /// Claims whose undo failed (record kept, groups reserved), with the error.
    pub failed: Vec<(ClaimUid, String)>,
    /// Corrupt records set aside, with the reason.
    pub corrupt: Vec<(PathBuf, String)>,
    /// CDI specs without a record, removed.
    pub orphan_cdi_removed: Vec<ClaimUid>,
    /// Devices of prepared claims no longer on a VFIO driver.
    pub drifted: Vec<(ClaimUid, PciAddress, Option<DriverName>)>,
    /// Functions on a VFIO driver that no claim accounts for (reported, left alone).
    pub unclaimed_vfio: Vec<PciAddress>,
}

impl Node {
    pub(super) fn recover(&self) -> Result<RecoveryReport, ClaimFailure> {
        let mut report = RecoveryReport::default();
        let loaded = self.checkpoints.load_all()?;
        for (path, reason) in loaded.corrupt {
            tracing::error!(path = %path.display(), %reason, "corrupt checkpoint record set aside");
            let aside = self.checkpoints.set_aside(&path)?;
            report.corrupt.push((aside, reason.to_string()));
        }
        let mut kept = Vec::new();
        for record in loaded.records {
            let claim = record.claim_uid.clone();
            if record.boot_id != self.boot_id {
                tracing::info!(claim_uid = %claim, boot_id = %record.boot_id, "record from another boot dropped");
                self.effects.step(Step::RemoveCdi(&record.cdi.file))?;
                self.cdi.remove(&claim)?;
                self.effects.step(Step::RemoveCheckpoint(&claim))?;
                self.checkpoints.remove(&claim)?;
                report.stale_boot.push(claim);
                continue;
            }
            match record.phase {
                Phase::PrepareCompleted => {
                    for d in &record.devices {
                        let driver = self.backends.bus.driver(d.address).or_else(|e| match e {
                            PciError::NoSuchDevice { .. } => Ok(None),
                            source => Err(ClaimFailure::Pci { address: d.address, source }),
                        })?;
                        if !driver.as_ref().is_some_and(DriverName::is_vfio) {
                            tracing::warn!(claim_uid = %claim, bdf = %d.address, ?driver, "prepared device left vfio-pci");
                            report.drifted.push((claim.clone(), d.address, driver));
                        }
                    }
                    report.prepared.push(claim);
                    kept.push(record);
                }
                Phase::PrepareStarted | Phase::UnprepareStarted => {
                    // Reserve first so that a failed undo keeps the groups out of other claims' reach.
                    self.reserve(&claim, &record)?;
                    match self.undo(&record, Deadline::after(self.config.budgets.total)) {
                        Ok(()) if record.phase == Phase::PrepareStarted => {
                            tracing::info!(claim_uid = %claim, "interrupted prepare rolled back");
                            report.rolled_back.push(claim);
                        }
                        Ok(()) => {
                            tracing::info!(claim_uid = %claim, "interrupted unprepare finished");
                            report.finished_unprepare.push(claim);
                        }
                        Err(e) => {
                            tracing::error!(claim_uid = %claim, error = %e, "could not undo interrupted claim");
                            report.failed.push((claim, e.to_string()));
                            kept.push(record);
                        }
                    }
                }
            }
        }
        for record in &kept {
            self.reserve(&record.claim_uid, record)?;
            for d in &record.devices {
                if let Some(mode) = d.cc_mode {
                    super::lock(&self.remembered_cc).insert(d.address, mode);
                }
            }
        }
        let with_record: BTreeSet<&ClaimUid> = kept.iter().map(|r| &r.claim_uid).collect();
        for claim in self.cdi.list()? {
            if !with_record.contains(&claim) {
                let file = self.cdi.file_name(&claim);
                tracing::warn!(claim_uid = %claim, file, "CDI spec without a claim removed");
                self.effects.step(Step::RemoveCdi(&file))?;
                self.cdi.remove(&claim)?;
                report.orphan_cdi_removed.push(claim);
            }
        }
        let accounted: BTreeSet<PciAddress> = kept.iter().flat_map(|r| r.devices.iter().map(|d| d.address)).collect();
        let bus = self.backends.bus.as_ref();
        let pci = |address| move |source| ClaimFailure::Pci { address, source };
        let all = bus.devices().map_err(|source| ClaimFailure::Pci {
            address: PciAddress::new(0, 0, 0, 0).unwrap_or_else(|| unreachable!("0000:00:00.0 is valid")),
            source,
        })?;
        for address in all {
            let driver = match bus.driver(address) {
                Ok(d) => d,
                Err(PciError::NoSuchDevice { .. }) => continue,
                Err(e) => return Err(pci(address)(e)),
            };
            if driver.as_ref().is_some_and(DriverName::is_vfio) && !accounted.contains(&address) {
                tracing::warn!(bdf = %address, "on vfio-pci without a claim; left alone");
                report.unclaimed_vfio.push(address);
            }
        }
        Ok(report)
    }
}
