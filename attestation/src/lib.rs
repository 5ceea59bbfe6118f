//! Pure verification of confidential-computing evidence for ccgpu.
//!
//! Everything here is a function of its inputs: evidence bytes, the verification time, trust anchors and a
//! policy. The crate opens no files and sockets and never reads the clock, so a verdict can be reproduced
//! exactly, and tests can pin time. Success returns typed proofs (a [`x509::ValidatedChain`], a
//! [`rim::VerifiedRim`]); an appraisal records every check's outcome, and a verdict is affirming only
//! when every check passed.
//!
//! What it trusts: only the trust anchors it is handed ([`anchors`] ships NVIDIA's production roots).
//! What it does not trust: every byte of evidence, which comes from the GPU through an untrusted host.

pub mod anchors;
pub mod appraisal;
pub mod arch;
pub mod bundle;
pub mod cache;
mod claims;
pub mod crypto;
pub mod ear_result;
mod der;
mod der_write;
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

pub use reader::Truncated;
