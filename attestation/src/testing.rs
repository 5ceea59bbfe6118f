//! Internals that this crate's own integration tests, benches, examples and fuzz targets reach into:
//! behind the `sim` feature, namespaced by where they live, and never part of the default surface.

/// The log's chain builder and line limit.
pub mod log {
    pub use crate::log::chain::Chain;
    pub use crate::log::wire::MAX_LINE;
}

/// Judging one certificate's OCSP status.
pub mod ocsp {
    pub use crate::ocsp::{CertRevocation, OcspOptions, check_certificate};
}

/// NVIDIA RIMs: inspection and verification one document at a time.
pub mod rim {
    pub use crate::nvidia::rim::c14n::C14nError;
    pub use crate::nvidia::rim::{
        GoldenMeasurement, MAX_RIM_LEN, RimChainError, RimError, RimIdentity, RimInspection, RimVerification,
        StructureError, VerifiedRim, XmlDsigError, inspect, inspect_cached, verify,
    };
}

/// AMD SEV-SNP reports: the parsed report and the named layout.
pub mod snp {
    pub use crate::snp::report::{
        REPORT_LEN, ReportError, ReportSignatureError, SIGNED_LEN, SnpReport, key_info, offset, policy_bit,
        signature_rs,
    };
}

/// SPDM report sizes.
pub mod spdm {
    pub use crate::nvidia::spdm::SIGNATURE_LEN;
}

/// Certificate path validation and the FWID extension.
pub mod x509 {
    pub use crate::x509::cert::MAX_CHAIN_LEN;
    pub use crate::x509::fwid::{FwidError, leaf_fwid};
    pub use crate::x509::{CertProblem, ChainError, ChainRule, ValidatedChain, validate};
}
