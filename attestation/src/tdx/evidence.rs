//! What a TDX appraisal takes: the quote as received ([`TdxEvidence`]) and everything else the decision
//! depends on ([`TdxAppraise`]: time, expected REPORT_DATA, policy, Intel's root, the collateral, cache).

use time::OffsetDateTime;

use super::collateral::TdxCollateral;
use super::policy::TdxPolicy;
use super::roots::IntelRoots;
use crate::cache::VerifierCache;

/// One TD's evidence, as received.
#[derive(Debug, Clone, Copy)]
pub struct TdxEvidence<'a> {
    /// The quote (v4 or v5), trailing padding included.
    pub quote: &'a [u8],
}

/// Everything else a TDX appraisal depends on.
#[derive(Debug, Clone, Copy)]
pub struct TdxAppraise<'a> {
    /// The time at which every certificate, CRL and collateral document must be valid.
    pub at: OffsetDateTime,
    /// The REPORT_DATA the TD was asked to bind (nonce or composite digest).
    pub expected_report_data: Option<&'a [u8; 64]>,
    /// Policy.
    pub policy: &'a TdxPolicy,
    /// Trust anchor.
    pub roots: &'a IntelRoots,
    /// The DCAP collateral, or why there is none (every check that needs it fails).
    pub collateral: Result<&'a TdxCollateral, &'a str>,
    /// Optional cache of verified certificate links (never changes a verdict).
    pub cache: Option<&'a VerifierCache>,
}
