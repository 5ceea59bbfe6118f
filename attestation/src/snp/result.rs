//! The result of an SEV-SNP appraisal: every check's outcome and the verdict, the claimed identity, and
//! digests of what was appraised.

use serde::Serialize;

use super::check::SnpCheck;
use super::identity::SnpIdentity;
use crate::appraisal::{Checks, Verdict};

/// The full appraisal of one guest's SNP evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpAppraisal {
    /// Affirming only when every check passed (or was skipped) and there are no warnings; `warning`
    /// when every check passed but `warnings` is not empty.
    pub verdict: Verdict,
    /// Every check's outcome, in order.
    pub checks: Checks<SnpCheck>,
    /// The guest's identity as claimed by the evidence.
    pub identity: SnpIdentity,
    /// Verification time, RFC 3339.
    pub verified_at: String,
    /// Earliest notAfter of ARK, ASK/ASVK and VCEK/VLEK, when all three were readable.
    pub chain_valid_until: Option<String>,
    /// SHA-384 of the report bytes, hex.
    pub report_digest: String,
    /// SHA-384 of the VCEK/VLEK DER, hex, when it was readable.
    pub vek_digest: Option<String>,
    /// What was accepted without being pinned (today: no launch measurement in the policy).
    pub warnings: Vec<String>,
}

impl SnpAppraisal {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
}
