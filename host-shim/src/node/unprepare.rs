//! Unprepare of one claim from its checkpoint record, and the undo that prepare's rollback and recovery
//! share: CDI spec removed, every function restored in reverse order, record removed, groups released.

use super::{ClaimFailure, Node};
use crate::binding;
use crate::checkpoint::{ClaimRecord, Phase};
use crate::deadline::Deadline;
use crate::effects::Step;
use crate::names::ClaimUid;

impl Node {
    /// Unprepare under the claim's lock, within `deadline`.
    pub(super) fn unprepare_locked(&self, claim: &ClaimUid, deadline: Deadline) -> Result<(), ClaimFailure> {
        let mut record = match self.checkpoints.load(claim)? {
            None => {
                tracing::debug!("no record: already unprepared");
                self.release(claim);
                return Ok(());
            }
            Some(Err(corrupt)) => return Err(ClaimFailure::CorruptRecord(corrupt)),
            Some(Ok(r)) => r,
        };
        if record.phase == Phase::PrepareCompleted {
            record.phase = Phase::UnprepareStarted;
            self.checkpoint(&record)?;
        }
        self.undo(&record, deadline)
    }

    /// Undoes a record: CDI spec removed, functions restored in reverse order, record removed,
    /// reservations released. Stops at the first failure, leaving the record for the next attempt.
    pub(super) fn undo(&self, record: &ClaimRecord, deadline: Deadline) -> Result<(), ClaimFailure> {
        let claim = &record.claim_uid;
        self.effects.step(Step::RemoveCdi(&record.cdi.file))?;
        self.cdi.remove(claim)?;
        let budgets = self.config.budgets;
        for d in record.devices.iter().rev() {
            binding::restore(&self.writes, &self.effects, d, deadline, &budgets)?;
        }
        self.effects.step(Step::RemoveCheckpoint(claim))?;
        self.checkpoints.remove(claim)?;
        self.release(claim);
        Ok(())
    }
}
