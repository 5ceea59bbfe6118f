//! The result of a GPU appraisal: every check's outcome and the verdict, the claimed identity, the
//! measurement comparison, a summary of each certificate chain (for NVIDIA's claims), and digests of
//! everything appraised.

use serde::Serialize;

use super::check::GpuCheck;
use super::identity::GpuIdentity;
use crate::appraisal::{Checks, Verdict};
use crate::nvidia::measurements::Comparison;
use crate::nvidia::rim::{RimChainError, RimIds, RimVerification};
use crate::x509::{CertChain, ChainError, ValidatedChain, parse_one, rfc3339};

/// The full appraisal of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuAppraisal {
    /// Affirming only when every check passed (or was skipped by explicit policy) and there are no
    /// warnings; `warning` when every check passed but `warnings` is not empty.
    pub verdict: Verdict,
    /// Every check's outcome, in order.
    pub checks: Checks<GpuCheck>,
    /// The GPU's identity as claimed by the evidence.
    pub identity: GpuIdentity,
    /// RIM ids the report implies.
    pub rim_ids: Option<RimIds>,
    /// Measurement comparison, when it ran.
    pub measurements: Option<Comparison>,
    /// Device chain summary.
    pub device_chain: ChainSummary,
    /// Driver RIM chain summary.
    pub driver_rim_chain: Option<ChainSummary>,
    /// VBIOS RIM chain summary.
    pub vbios_rim_chain: Option<ChainSummary>,
    /// `oemid` from the driver RIM (TCG FirmwareManufacturerId).
    pub oemid: Option<String>,
    /// Expected nonce, hex.
    pub nonce: String,
    /// Verification time, RFC 3339.
    pub verified_at: String,
    /// How revocation was handled.
    pub revocation: RevocationMode,
    /// Things accepted only because the policy tolerates them (held or unknown certificates).
    pub warnings: Vec<String>,
    /// SHA-384 of the effective policy (canonical JSON), hex.
    pub policy_digest: String,
    /// SHA-384 of the report bytes, hex.
    pub report_digest: String,
    /// SHA-384 of each RIM document, hex: (driver, VBIOS).
    pub rim_digests: (Option<String>, Option<String>),
}

impl GpuAppraisal {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
}

/// How revocation was handled, as recorded in an appraisal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationMode {
    /// Not checked (`--ocsp off`).
    NotChecked,
    /// Checked against OCSP responses.
    Checked,
}

/// Summary of one certificate chain for claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    /// `valid`, `expired` or `invalid` (NVIDIA's cert-status values).
    pub status: &'static str,
    /// Earliest notAfter along the path, RFC 3339, when the chain could be read.
    pub expiration: Option<String>,
    /// Worst OCSP status established (`good`, `revoked`, `unknown`); `None` when not established.
    pub ocsp_status: Option<&'static str>,
    /// Revocation reason, when a revoked status was accepted (certificateHold) or refused.
    pub revocation_reason: Option<String>,
}

impl ChainSummary {
    fn new(status: &'static str, expiration: Option<String>) -> Self {
        Self { status, expiration, ocsp_status: None, revocation_reason: None }
    }

    /// The device chain's summary from its validation.
    pub(super) fn of_device(result: &Result<ValidatedChain, ChainError>, chain: &CertChain) -> Self {
        match result {
            Ok(v) => Self::new("valid", Some(rfc3339(v.valid_until))),
            Err(e) => Self::new(if e.is_expired() { "expired" } else { "invalid" }, earliest_expiry(chain)),
        }
    }

    /// A RIM signing chain's summary from the RIM's verification.
    pub(super) fn of_rim(v: &RimVerification) -> Self {
        match &v.chain {
            Ok(c) => Self::new("valid", Some(rfc3339(c.valid_until))),
            Err(RimChainError::Invalid(e)) => Self::new(if e.is_expired() { "expired" } else { "invalid" }, None),
            Err(RimChainError::Unavailable(_)) => Self::new("invalid", None),
        }
    }
}

/// Earliest notAfter of any readable certificate (for the claim even when the chain failed).
fn earliest_expiry(chain: &CertChain) -> Option<String> {
    chain
        .ders()
        .iter()
        .filter_map(|d| parse_one(d).ok().map(|c| c.validity().not_after.to_datetime()))
        .min()
        .map(rfc3339)
}
