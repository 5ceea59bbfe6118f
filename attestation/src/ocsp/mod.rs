//! OCSP (RFC 6960) for the device chain and the RIM signing chains: parsing responses, building
//! requests with SHA-384 CertIDs, and judging one certificate's revocation status at a given time.
//!
//! Pure: responses arrive as bytes (recorded files, or fetched by the caller at the edge), the time is an
//! input. What is trusted: nothing in a response until its signature verifies with a key that is either
//! the certificate's issuer or a delegated responder the issuer certified for OCSP signing (and which is
//! valid at the OCSP time). Unlike NVIDIA's reference verifier, the response must name exactly the
//! certificate asked about (hash algorithm, issuer name hash, issuer key hash, serial), and
//! `producedAt`/`thisUpdate`/`nextUpdate` must bracket the OCSP time within a configurable tolerance.

mod check;
mod request;
mod response;

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use check::{CertRevocation, OcspOptions, check_certificate};
pub use request::{CertId, HashAlg, OcspQuery};
pub use response::{CertStatus, OcspResponse, ResponderId, RevocationReason, SingleResponse};

use crate::der::DerError;

/// Why a response could not be used, or why a certificate's status is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OcspError {
    /// Malformed DER.
    #[error("malformed OCSP response: {0}")]
    Der(#[from] DerError),
    /// Well-formed DER that is not an OCSP response we understand.
    #[error("OCSP response: {0}")]
    Format(String),
    /// The responder did not answer with `successful`.
    #[error("OCSP responder answered {0}")]
    Status(String),
    /// No response names this certificate.
    #[error("no OCSP response names this certificate (serial {serial})")]
    NoResponse {
        /// Serial number, hex.
        serial: String,
    },
    /// The response signature or its signer is not acceptable.
    #[error("OCSP response signer: {0}")]
    Signer(String),
    /// Outside the freshness window.
    #[error("OCSP response is not fresh at {at}: {reason}")]
    Stale {
        /// The OCSP verification time.
        at: String,
        /// Which bound failed.
        reason: String,
    },
    /// The certificate is revoked.
    #[error("revoked at {at}{}", reason.map(|r| format!(" ({r})")).unwrap_or_default())]
    Revoked {
        /// Revocation time.
        at: String,
        /// Reason, when given.
        reason: Option<RevocationReason>,
    },
    /// Held (revoked with reason certificateHold) and the policy does not tolerate holds.
    #[error("on hold since {at} (certificateHold) and the policy does not accept held certificates")]
    Held {
        /// Time of the hold.
        at: String,
    },
    /// The responder does not know the certificate and the policy does not tolerate that.
    #[error("the OCSP responder does not know this certificate (status unknown)")]
    Unknown,
}

/// What revocation checking the policy requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OcspRequirement {
    /// Every certificate's status must be established; `--ocsp off` is refused.
    Required,
    /// Revocation may be skipped explicitly (`--ocsp off`, recorded as not checked), but when responses are
    /// given they must pass. The default of [`crate::policy::OcspPolicy`].
    #[default]
    Optional,
}

impl fmt::Display for OcspRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Required => "required",
            Self::Optional => "optional",
        })
    }
}
