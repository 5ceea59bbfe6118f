//! The result of an NVSwitch appraisal: every check's outcome and the verdict, the claimed identity, the
//! measurement comparison, chain summaries, and digests of everything appraised.

use serde::Serialize;

use super::check::SwitchCheck;
use super::identity::SwitchIdentity;
use crate::appraisal::{Checks, Verdict};
use crate::gpu::{ChainSummary, RevocationMode};
use crate::nvidia::measurements::Comparison;

/// The full appraisal of one NVSwitch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchAppraisal {
    /// Affirming only when every check passed (or was skipped by explicit policy) and there are no
    /// warnings.
    pub verdict: Verdict,
    /// Every check's outcome, in order.
    pub checks: Checks<SwitchCheck>,
    /// The switch's identity as claimed by the evidence.
    pub identity: SwitchIdentity,
    /// Measurement comparison, when it ran (VBIOS counts only).
    pub measurements: Option<Comparison>,
    /// Device chain summary.
    pub device_chain: ChainSummary,
    /// VBIOS RIM chain summary.
    pub vbios_rim_chain: Option<ChainSummary>,
    /// Expected nonce, hex.
    pub nonce: String,
    /// Verification time, RFC 3339.
    pub verified_at: String,
    /// How revocation was handled.
    pub revocation: RevocationMode,
    /// Things accepted only because the policy tolerates them.
    pub warnings: Vec<String>,
    /// SHA-384 of the report bytes, hex.
    pub report_digest: String,
    /// SHA-384 of the VBIOS RIM document, hex.
    pub rim_digest: Option<String>,
}

impl SwitchAppraisal {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The switch's PDI, only when its device chain validated and the report states that PDI (the
    /// topology check uses nothing less).
    pub fn established_pdi(&self) -> Option<crate::nvidia::spdm::Pdi> {
        (self.checks.passed(SwitchCheck::DeviceChain) && self.checks.passed(SwitchCheck::Pdi))
            .then_some(self.identity.pdi)
            .flatten()
    }
}
