//! Simulated AMD SEV-SNP evidence: an ARK → ASK/ASVK → VCEK/VLEK PKI of fresh keys in AMD's exact profile
//! (RSA-4096 with RSASSA-PSS/SHA-384 links, a P-384 endorsement key carrying AMD's TCB, hwID and product
//! extensions), reports signed by such a VCEK/VLEK, and the SNP negative-corpus generator.
//!
//! The simulated certificates carry AMD's names (`ARK-Milan`, `SEV-Milan`, `SEV-VCEK`, …) so that the real
//! verifier runs on them unchanged; their keys are fresh and random, so they verify only under the
//! simulated roots ([`SnpPki::roots`]), which a verifier trusts only when a caller passes them.

mod corpus;
mod pki;
mod report;

pub use corpus::{SnpBase, SnpCase, snp_byte_flips, snp_negative_corpus};
pub use pki::{SimVek, SnpPki, VekSpec};
pub use report::SnpReportBuilder;
