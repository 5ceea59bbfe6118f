//! X.509 certificate chains: parsing PEM/DER bundles, path validation to a pinned anchor, and the
//! NVIDIA/TCG firmware-identity (FWID) extension.
//!
//! Trusts only the anchor it is given. Chains arrive from the GPU (device chain) or inside a RIM
//! (RIM signing chain) and are treated as attacker-controlled until [`validate`] returns a
//! [`ValidatedChain`] for a given verification time.

pub(crate) mod cert;
pub(crate) mod fwid;
mod path;

pub use cert::{CertChain, ChainParseError};
pub(crate) use cert::{describe, parse_one};
pub(crate) use fwid::leaf_fwid;
#[cfg(feature = "sim")]
pub use path::validate;
pub use path::{CertProblem, ChainError, ChainRule, TrustAnchor, ValidatedChain, validate_cached};
pub(crate) use path::{check_validity, public_key as leaf_public_key, rfc3339};
