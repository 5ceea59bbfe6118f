//! Intel's CRLs (ECDSA P-256/SHA-256): the root CA CRL (issued by the Intel SGX Root CA, listing revoked
//! PCK CAs and TCB Signing certificates) and the PCK CRL (issued by the Platform or Processor CA, listing
//! revoked PCK certificates).
//!
//! Trusts: only the issuer certificate handed in (one whose path already validated). A CRL must name that
//! issuer, verify under its key over the bytes as received, and be current at the judgement time.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use crate::cache::VerifierCache;
use crate::snp::parse_crl;
use crate::x509::{describe, rfc3339};

/// What a CRL established: the listed count and its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CrlJudgement {
    /// Entries listed.
    pub listed: usize,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
}

/// Judges `subjects` against the CRL `der`, which `issuer` must have signed, at `at`.
pub(super) fn judge(
    what: &str,
    der: &[u8],
    issuer: &X509Certificate<'_>,
    subjects: &[&X509Certificate<'_>],
    at: OffsetDateTime,
    cache: Option<&VerifierCache>,
) -> Result<CrlJudgement, String> {
    let crl = parse_crl(der).map_err(|e| format!("the {what}: {e}"))?;
    if crl.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!("the {what} is issued by {}, not by {}", crl.issuer(), describe(issuer)));
    }
    super::inspect::crl_signature(cache, issuer.as_raw(), der)
        .map_err(|e| format!("the {what}'s signature by {}: {e}", describe(issuer)))?;
    let this_update = crl.last_update().to_datetime();
    if this_update > at {
        return Err(format!(
            "the {what} is not yet valid: thisUpdate {}, judged at {}",
            rfc3339(this_update),
            rfc3339(at)
        ));
    }
    let next_update = crl.next_update().map(|t| t.to_datetime());
    let next_update = match next_update {
        Some(n) if n >= at => n,
        other => {
            return Err(format!(
                "the {what} has expired: nextUpdate {}, judged at {}",
                other.map_or_else(|| "none".to_owned(), rfc3339),
                rfc3339(at)
            ));
        }
    };
    for s in subjects {
        let serial = strip_zeros(s.raw_serial());
        if let Some(r) = crl.iter_revoked_certificates().find(|r| strip_zeros(r.raw_serial()) == serial) {
            return Err(format!(
                "{} (serial {}) is revoked by the {what} since {}",
                describe(s),
                hex::encode(s.raw_serial()),
                rfc3339(r.revocation_date.to_datetime())
            ));
        }
    }
    Ok(CrlJudgement { listed: crl.iter_revoked_certificates().count(), next_update })
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}
