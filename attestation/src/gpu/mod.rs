//! Appraisal of one NVIDIA GPU's confidential-computing evidence: the SPDM attestation report, the device
//! certificate chain, the driver and VBIOS RIMs and their golden measurements, each judged by its own
//! check ([`GpuCheck`]).
//!
//! [`appraise_gpu`] takes everything the decision depends on — evidence bytes ([`GpuEvidence`]), the
//! expected nonce, the verification time, the trust anchors, the policy and how revocation is established
//! ([`GpuAppraise`]) — and returns a [`GpuAppraisal`] recording every check, the verdict they imply and
//! who the GPU says it is. Nothing is read from the environment. Checks that can run independently do, so
//! an appraisal names every problem, not just the first; a check whose inputs are untrustworthy is
//! recorded as not run.
//!
//! What it trusts: only the anchors it is handed (`Anchors::nvidia` ships NVIDIA's device identity and
//! RIM roots) and the policy. What it does not trust: every byte of evidence, which comes from the GPU
//! through an untrusted host, and the RIMs until their signatures and chains verify.
//!
//! Layout, the same for every appraisal kind: `evidence` (inputs), `check` (the checks, in order),
//! `appraise` (the steps), `checks` (one function per step), `identity` (who the evidence says it is),
//! `result` (the appraisal). NVIDIA's formats (SPDM, RIMs, measurements, anchors) are in `crate::nvidia`,
//! shared with the coming NVSwitch appraisal.

mod appraise;
mod check;
mod checks;
mod evidence;
mod identity;
mod result;

pub use appraise::appraise_gpu;
pub use check::GpuCheck;
/// The step functions the NVSwitch appraisal shares with the GPU's (same rules, its own check names).
pub(crate) use checks::{RevocationTarget, nonce, report_signature, revocation_check};
pub use evidence::{GpuAppraise, GpuEvidence, Revocation, implied_rim_ids, revocation_queries};
pub use identity::GpuIdentity;
pub use result::{ChainSummary, GpuAppraisal, RevocationMode};
