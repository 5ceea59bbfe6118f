//! Turning an evidence bundle into a decision: locally with `ccgpu-attestation`, or by a relying party
//! whose signed verdict is checked here.
//!
//! A [`Decision`] is affirming only when the whole bundle is: every GPU and the CPU report (the ready state
//! is one switch for all GPUs). It also carries the attestation-log record of the appraisal and the
//! appraisal itself as JSON for the API's `GetAppraisal`.

pub mod clock;
pub mod local;
pub mod remote;

use std::fmt;

use ccgpu_attestation::{EvidenceBundle, LogRecord};
use thiserror::Error;

pub use local::{LocalVerifier, local_verdict};
pub use remote::{RemoteError, RemoteVerifier};

/// One GPU's part of a decision, in bundle order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuDecision {
    /// Its own verdict is affirming.
    pub affirming: bool,
    /// Its verdict's name.
    pub verdict: String,
    /// Its failing checks.
    pub failed_checks: Vec<String>,
}

/// A verdict on a whole bundle.
#[derive(Debug, Clone)]
pub struct Decision {
    /// True only when every GPU and the CPU evidence are affirming.
    pub affirming: bool,
    /// The overall verdict's name.
    pub verdict: String,
    /// Every failing check, prefixed by its submodule (`gpu-0:nonce`, `cpu:snp-report-data`, …).
    pub failures: Vec<String>,
    /// Per GPU, in bundle order.
    pub gpus: Vec<GpuDecision>,
    /// `local` or `remote`.
    pub source: &'static str,
    /// The appraisal (local) or the verified EAR claims (remote), JSON.
    pub appraisal_json: Vec<u8>,
    /// The attestation-log record of this appraisal (not yet chained).
    pub record: LogRecord,
}

/// No decision could be reached (as opposed to a negative one).
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The relying party could not be asked, or its answer is unusable.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The record of the appraisal could not be built.
    #[error("building the attestation-log record")]
    Record(#[source] ccgpu_attestation::LogError),
}

/// Something that appraises bundles.
pub trait Verifier: Send + Sync + fmt::Debug {
    /// `local` or `remote`.
    fn name(&self) -> &'static str;
    /// Appraises `bundle`.
    fn appraise(&self, bundle: &EvidenceBundle) -> Result<Decision, VerifyError>;
}
