//! Simulated NVIDIA-style evidence: device and RIM PKIs, correctly signed SPDM reports for any nonce,
//! re-signed or generated RIMs, and the negative-corpus generator.
//!
//! Everything here is *simulation*, behind the `sim` feature: the roots it generates are fresh random
//! keys named "Simulated …", never NVIDIA's, and a verifier trusts them only when a caller passes them
//! explicitly as anchors. The formats are the real ones, so the real verifier runs unchanged on them.

mod corpus;
mod der_write;
mod ocsp;
mod pki;
mod report;
mod rim_sign;
mod snp;

pub use corpus::{Case, RealEvidence, byte_flips, negative_corpus};
pub use ocsp::{SimStatus, ocsp_response};
pub use pki::{DevicePki, Pki, RimPki, SimError};
pub use report::{OpaqueBuilder, RECORDED_H200, ReportBuilder, SimFirmware};
pub use rim_sign::{GoldenSpec, rim_document, sign_rim};
pub use snp::{SimVek, SnpBase, SnpCase, SnpPki, SnpReportBuilder, VekSpec, snp_byte_flips, snp_negative_corpus};
