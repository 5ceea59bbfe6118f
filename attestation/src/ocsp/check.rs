//! Judging one certificate's revocation status from a set of responses, at a given time.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;

use super::OcspError;
use super::request::{CertId, HashAlg};
use super::response::{CertStatus, OcspResponse, ResponderId, RevocationReason};
use crate::crypto::ecdsa_hash;
use crate::x509::{leaf_public_key, parse_one, rfc3339};

/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9)
const OCSP_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];

/// How strictly to judge responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspOptions {
    /// The time at which the responses must be fresh and their signers valid.
    pub at: OffsetDateTime,
    /// Clock-skew tolerance applied to producedAt, thisUpdate and nextUpdate.
    pub tolerance: Duration,
    /// Oldest acceptable thisUpdate when a response carries no nextUpdate.
    pub max_age: Duration,
    /// Accept `certificateHold` (reported as a warning).
    pub allow_hold: bool,
    /// Accept `unknown` (reported as a warning).
    pub allow_unknown: bool,
}

/// The established status of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertRevocation {
    /// `good`, `revoked` or `unknown` (NVIDIA's claim values); `revoked` is only returned for an accepted hold.
    pub status: &'static str,
    /// The revocation reason (only for an accepted hold).
    pub reason: Option<RevocationReason>,
    /// producedAt of the response used.
    pub produced_at: String,
    /// thisUpdate.
    pub this_update: String,
    /// nextUpdate, when given.
    pub next_update: Option<String>,
    /// Subject of the certificate that signed the response.
    pub responder: String,
}

/// Establishes the status of `cert` (issued by `issuer`) from `responses`: the first response whose single
/// response names exactly this certificate, signed by the issuer or its delegated responder, fresh at
/// `options.at`.
///
/// Every response naming the certificate is judged, so a stale `good` cannot mask a `revoked`: a validly
/// signed revocation (permanent, so judged whatever its age) or a refused hold/unknown wins; otherwise the
/// acceptable response with the newest thisUpdate is used; otherwise the reason the last one was unusable.
pub fn check_certificate(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    responses: &[OcspResponse],
    options: &OcspOptions,
) -> Result<CertRevocation, OcspError> {
    let mut best: Option<(OffsetDateTime, CertRevocation)> = None;
    let mut unusable = None;
    for response in responses {
        for single in &response.responses {
            let wanted = CertId::new(cert, issuer, single.cert_id.hash);
            if single.cert_id != wanted {
                continue;
            }
            match judge(response, single, issuer, options) {
                Ok(r) => {
                    if best.as_ref().is_none_or(|(t, _)| single.this_update > *t) {
                        best = Some((single.this_update, r));
                    }
                }
                Err(e @ (OcspError::Revoked { .. } | OcspError::Held { .. } | OcspError::Unknown)) => return Err(e),
                Err(e) => unusable = Some(e),
            }
        }
    }
    match (best, unusable) {
        (Some((_, r)), _) => Ok(r),
        (None, Some(e)) => Err(e),
        (None, None) => Err(OcspError::NoResponse { serial: hex::encode(cert.raw_serial()) }),
    }
}

fn judge(
    response: &OcspResponse,
    single: &super::SingleResponse,
    issuer: &X509Certificate<'_>,
    options: &OcspOptions,
) -> Result<CertRevocation, OcspError> {
    let responder = verify_signer(response, issuer, options.at)?;
    // Revocation is permanent: a correctly signed one counts however old it is.
    if let CertStatus::Revoked { at: when, reason } = single.status
        && reason != Some(RevocationReason::CertificateHold)
    {
        return Err(OcspError::Revoked { at: rfc3339(when), reason });
    }

    let at = options.at;
    let tol = options.tolerance;
    let stale = |reason: String| OcspError::Stale { at: rfc3339(at), reason };
    if response.produced_at > at + tol {
        return Err(stale(format!("producedAt {} is in the future", rfc3339(response.produced_at))));
    }
    if single.this_update > at + tol {
        return Err(stale(format!("thisUpdate {} is in the future", rfc3339(single.this_update))));
    }
    match single.next_update {
        Some(next) if next + tol < at => return Err(stale(format!("nextUpdate {} has passed", rfc3339(next)))),
        None if single.this_update + options.max_age < at - tol => {
            return Err(stale(format!(
                "thisUpdate {} is older than the maximum age and there is no nextUpdate",
                rfc3339(single.this_update)
            )));
        }
        _ => {}
    }
    let (status, reason) = match single.status {
        CertStatus::Good => ("good", None),
        CertStatus::Revoked { at: when, reason: Some(RevocationReason::CertificateHold) } => {
            if !options.allow_hold {
                return Err(OcspError::Held { at: rfc3339(when) });
            }
            ("revoked", Some(RevocationReason::CertificateHold))
        }
        CertStatus::Revoked { at: when, reason } => return Err(OcspError::Revoked { at: rfc3339(when), reason }),
        CertStatus::Unknown if options.allow_unknown => ("unknown", None),
        CertStatus::Unknown => return Err(OcspError::Unknown),
    };
    Ok(CertRevocation {
        status,
        reason,
        produced_at: rfc3339(response.produced_at),
        this_update: rfc3339(single.this_update),
        next_update: single.next_update.map(rfc3339),
        responder,
    })
}

/// Verifies the response signature and that its signer may speak for `issuer`; returns the signer's name.
fn verify_signer(
    response: &OcspResponse,
    issuer: &X509Certificate<'_>,
    at: OffsetDateTime,
) -> Result<String, OcspError> {
    let signer_err = |s: String| OcspError::Signer(s);
    let delegated = response
        .certs
        .first()
        .map(|d| parse_one(d))
        .transpose()
        .map_err(|e| signer_err(format!("responder certificate: {e}")))?;
    let signer: &X509Certificate<'_> = match &delegated {
        Some(d) if d.as_raw() == issuer.as_raw() => issuer,
        Some(d) => {
            if d.issuer().as_raw() != issuer.subject().as_raw() {
                return Err(signer_err(format!(
                    "responder {} is not issued by the certificate's issuer {}",
                    d.subject(),
                    issuer.subject()
                )));
            }
            let issuer_key = leaf_public_key(issuer).map_err(|e| signer_err(format!("issuer key: {e}")))?;
            let hash = ecdsa_hash(d.signature_algorithm.algorithm.as_bytes()).map_err(|e| signer_err(e.to_string()))?;
            issuer_key
                .verify_der(hash, d.tbs_certificate.as_ref(), &d.signature_value.data)
                .map_err(|e| signer_err(format!("responder certificate {}: {e}", d.subject())))?;
            let eku_ok = d.extended_key_usage().ok().flatten().is_some_and(|eku| {
                eku.value.ocsp_signing || eku.value.other.iter().any(|o| o.as_bytes() == OCSP_SIGNING)
            });
            if !eku_ok {
                return Err(signer_err(format!(
                    "responder {} is not authorized for OCSP signing (no id-kp-OCSPSigning)",
                    d.subject()
                )));
            }
            let (nb, na) = (d.validity().not_before.to_datetime(), d.validity().not_after.to_datetime());
            if at < nb || at > na {
                return Err(signer_err(format!(
                    "responder certificate {} is valid {} … {}, not at {}",
                    d.subject(),
                    rfc3339(nb),
                    rfc3339(na),
                    rfc3339(at)
                )));
            }
            d
        }
        None => issuer,
    };
    let id_ok = match &response.responder_id {
        ResponderId::ByName(name) => name.as_slice() == signer.subject().as_raw(),
        ResponderId::ByKey(hash) => *hash == HashAlg::Sha1.digest(&signer.public_key().subject_public_key.data),
    };
    if !id_ok {
        return Err(signer_err("responderID does not identify the signing certificate".into()));
    }
    let key = leaf_public_key(signer).map_err(|e| signer_err(format!("signer key: {e}")))?;
    let hash = ecdsa_hash(&response.signature_algorithm).map_err(|e| signer_err(e.to_string()))?;
    key.verify_der(hash, &response.tbs, &response.signature)
        .map_err(|e| signer_err(format!("response signature by {}: {e}", signer.subject())))?;
    Ok(crate::x509::describe(signer))
}
