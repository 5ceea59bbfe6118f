//! AMD's certificate revocation lists: the ARK of each product signs a CRL (RSASSA-PSS, SHA-384) naming the
//! revoked certificates it issued — ASKs and ASVKs. AMD's Key Distribution Service serves it per product
//! (`https://kdsintf.amd.com/vcek/v1/<product>/crl`, the VLEK one under `/vlek/`). VCEKs and VLEKs are not
//! listed in any CRL: a revoked ASK/ASVK is what takes their endorsement away.
//!
//! Trusts: only the pinned ARK passed in. The CRL must be issued by that ARK (name), signed by its key with
//! AMD's PSS profile, DER throughout its framing, and current at the judgement time (thisUpdate not in the
//! future, nextUpdate present and not passed, each within the tolerance).

use thiserror::Error;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::chain::{Signed, check_pss_sha384_der};
use crate::x509::{describe, rfc3339};

/// Largest CRL accepted (AMD's are about 1 KB).
pub const MAX_CRL_LEN: usize = 64 * 1024;

/// Why a CRL is refused, or the certificate it judges is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CrlError {
    /// Over [`MAX_CRL_LEN`].
    #[error("the CRL is {0} bytes, more than the {MAX_CRL_LEN}-byte limit")]
    TooLarge(usize),
    /// Not a DER CRL.
    #[error("the CRL does not parse: {0}")]
    Malformed(String),
    /// Issued by another name than the ARK's.
    #[error("the CRL is issued by {found}, not by the pinned {expected}")]
    Issuer {
        /// The CRL's issuer.
        found: String,
        /// The ARK.
        expected: String,
    },
    /// The signature algorithm or the signature is refused.
    #[error("the CRL's signature by {ark}: {reason}")]
    Signature {
        /// The ARK.
        ark: String,
        /// Why.
        reason: String,
    },
    /// thisUpdate is after the judgement time.
    #[error("the CRL is not yet valid: thisUpdate {this_update}, judged at {at}")]
    NotYetValid {
        /// thisUpdate.
        this_update: String,
        /// The judgement time.
        at: String,
    },
    /// nextUpdate has passed, or is missing.
    #[error("the CRL is stale: nextUpdate {next_update}, judged at {at}")]
    Stale {
        /// nextUpdate (`none` when absent).
        next_update: String,
        /// The judgement time.
        at: String,
    },
    /// The certificate is on the list.
    #[error("{subject} (serial {serial}) is revoked since {since}")]
    Revoked {
        /// The revoked certificate.
        subject: String,
        /// Its serial, hex.
        serial: String,
        /// The revocation date.
        since: String,
    },
}

/// What a CRL established about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRevoked {
    /// How many certificates the CRL lists.
    pub listed: usize,
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339.
    pub next_update: String,
}

/// Parses `der` as a CRL with nothing after it.
pub fn parse_crl(der: &[u8]) -> Result<CertificateRevocationList<'_>, CrlError> {
    if der.len() > MAX_CRL_LEN {
        return Err(CrlError::TooLarge(der.len()));
    }
    let (rest, crl) = CertificateRevocationList::from_der(der).map_err(|e| CrlError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CrlError::Malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(crl)
}

/// Judges `cert` (an ASK or ASVK) against the CRL in `der`, which `ark` must have issued, at `at`.
pub fn check_not_revoked(
    der: &[u8],
    ark: &X509Certificate<'_>,
    cert: &X509Certificate<'_>,
    at: OffsetDateTime,
    tolerance: Duration,
) -> Result<NotRevoked, CrlError> {
    let crl = parse_crl(der)?;
    if crl.issuer().as_raw() != ark.subject().as_raw() {
        return Err(CrlError::Issuer { found: crl.issuer().to_string(), expected: describe(ark) });
    }
    let signature = |reason: String| CrlError::Signature { ark: describe(ark), reason };
    check_pss_sha384_der(der, Signed::Crl).map_err(|e| signature(e.to_string()))?;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA384,
        &ark.public_key().subject_public_key.data,
    )
    .verify(crl.tbs_cert_list.as_ref(), &crl.signature_value.data)
    .map_err(|_| signature("does not verify".into()))?;

    let this_update = crl.last_update().to_datetime();
    if this_update > at + tolerance {
        return Err(CrlError::NotYetValid { this_update: rfc3339(this_update), at: rfc3339(at) });
    }
    let next_update = crl.next_update().map(|t| t.to_datetime());
    match next_update {
        Some(next) if next + tolerance >= at => {}
        other => {
            return Err(CrlError::Stale {
                next_update: other.map_or_else(|| "none".to_owned(), rfc3339),
                at: rfc3339(at),
            });
        }
    }
    let serial = cert.raw_serial();
    if let Some(r) = crl.iter_revoked_certificates().find(|r| strip_zeros(r.raw_serial()) == strip_zeros(serial)) {
        return Err(CrlError::Revoked {
            subject: describe(cert),
            serial: hex::encode(serial),
            since: rfc3339(r.revocation_date.to_datetime()),
        });
    }
    Ok(NotRevoked {
        listed: crl.iter_revoked_certificates().count(),
        this_update: rfc3339(this_update),
        next_update: next_update.map_or_else(String::new, rfc3339),
    })
}

/// A serial's magnitude: DER INTEGERs may carry a leading zero byte.
fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}
