//! The result of a TDX appraisal: every check's outcome and the verdict, the claimed identity, and digests
//! of what was appraised.

use serde::Serialize;

use super::check::TdxCheck;
use super::identity::TdxIdentity;
use crate::appraisal::{Checks, Verdict};

/// The full appraisal of one TD's quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxAppraisal {
    /// Affirming only when every check passed (or was skipped) and there are no warnings.
    pub verdict: Verdict,
    /// Every check's outcome, in order.
    pub checks: Checks<TdxCheck>,
    /// The TD's identity as claimed by the evidence.
    pub identity: TdxIdentity,
    /// Verification time, RFC 3339.
    pub verified_at: String,
    /// Earliest of the PCK chain's notAfter and the collateral's nextUpdate, when all were read.
    pub valid_until: Option<String>,
    /// SHA-384 of the quote bytes as received, hex.
    pub quote_digest: String,
    /// What was accepted without being pinned or established.
    pub warnings: Vec<String>,
}

impl TdxAppraisal {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
}
