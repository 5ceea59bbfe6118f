//! Pure verification of confidential-computing evidence for ccgpu.
//!
//! Every verdict is a function of its inputs: evidence bytes, the verification time, trust anchors and a
//! policy. The verifiers open no files or sockets and never read the clock, so a verdict can be
//! reproduced exactly and tests can pin time; the one module that touches files is the attestation log's
//! appender/reader ([`log::file`]). Success returns typed proofs (a [`x509::ValidatedChain`], a
//! [`rim::VerifiedRim`]); an appraisal records every check's outcome, and a verdict is affirming only
//! when every check passed.
//!
//! Modules: GPU evidence ([`spdm`], [`x509`], [`rim`], [`measurements`], [`ocsp`], [`gpu`], NVIDIA claims),
//! AMD SEV-SNP ([`snp`]), composite bundles ([`bundle`]), results ([`appraisal`], [`ear_result`]), rules
//! ([`policy`]), the tamper-evident [`log`], and the `sim` feature's simulated PKIs and negative corpora.
//!
//! What it trusts: only the trust anchors it is handed ([`anchors`] ships NVIDIA's production roots,
//! [`snp`] AMD's).
//! What it does not trust: every byte of evidence, which comes from the GPU through an untrusted host.

pub mod anchors;
pub mod appraisal;
pub mod arch;
pub mod bundle;
pub mod cache;
mod claims;
pub mod crypto;
mod der;
mod der_write;
pub mod ear_result;
mod error_chain;
pub mod gpu;
pub mod log;
pub mod measurements;
pub mod ocsp;
mod oid;
pub mod policy;
mod reader;
pub mod rim;
#[cfg(feature = "sim")]
pub mod sim;
pub mod snp;
pub mod spdm;
pub mod x509;

pub use error_chain::error_chain;
pub use reader::Truncated;
