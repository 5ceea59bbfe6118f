//! Revocation of one certificate chain by OCSP, for step 3 (the device chain) and steps 7–8 (the RIM
//! signing chains): each certificate at the checked positions is judged by the response that names it,
//! with its issuer the next certificate (the anchor after the last). The NVSwitch appraisal uses the same
//! rules through [`check`], generic over the check kind.

use std::ops::RangeInclusive;

use time::OffsetDateTime;

use crate::appraisal::{Check, Checks};
use crate::gpu::ChainSummary;
use crate::ocsp::{CertRevocation, OcspError, OcspOptions, OcspRequirement, OcspResponse, check_certificate};
use crate::policy::OcspPolicy;
use crate::x509::{CertChain, TrustAnchor, describe, parse_one, rfc3339};

/// The certificates whose revocation one check establishes.
pub(crate) struct Target<'a> {
    /// The chain as given; `None` when it could not be read.
    pub chain: Option<&'a CertChain>,
    /// The anchor that issued the chain's last certificate.
    pub anchor: &'a TrustAnchor,
    /// Positions in the chain to check.
    pub positions: RangeInclusive<usize>,
}

/// Establishes revocation for the target with `judged` (the responses and the OCSP time; `None` when
/// revocation is not checked), records `check` and fills the chain summary's OCSP fields.
pub(crate) fn check<C: Check>(
    checks: &mut Checks<C>,
    check: C,
    policy: &OcspPolicy,
    judged: Option<(&[OcspResponse], OffsetDateTime)>,
    target: &Target<'_>,
    summary: &mut ChainSummary,
    warnings: &mut Vec<String>,
) {
    let Some((responses, at)) = judged else {
        match policy.require {
            OcspRequirement::Optional => checks.skip(check, "OCSP off: revocation not checked"),
            OcspRequirement::Required => {
                checks.fail(check, "revocation was not checked (OCSP off) but the policy requires OCSP")
            }
        }
        return;
    };
    let Some(chain) = target.chain else {
        checks.not_run(check, "no readable certificate chain");
        return;
    };
    let options = OcspOptions {
        at,
        tolerance: policy.tolerance(),
        max_age: policy.max_age(),
        allow_hold: policy.allow_hold,
        allow_unknown: policy.allow_unknown,
    };
    let positions = target.positions.clone();
    match chain_revocation(chain, target.anchor, positions.clone(), responses, &options) {
        Ok(results) => {
            let worst = results.iter().map(|(_, r)| r.status).max_by_key(|s| match *s {
                "good" => 0,
                "unknown" => 1,
                _ => 2,
            });
            summary.ocsp_status = worst;
            for (subject, r) in &results {
                if r.status != "good" {
                    let what = match r.reason {
                        Some(reason) => format!("{subject} is {} ({reason}), accepted by the policy", r.status),
                        None => format!("{subject} is {}, accepted by the policy", r.status),
                    };
                    summary.revocation_reason = r.reason.map(|x| x.to_string());
                    warnings.push(what);
                }
            }
            let produced: Vec<&str> = results.iter().map(|(_, r)| r.produced_at.as_str()).collect();
            checks.pass(
                check,
                format!(
                    "certificates {}-{} {} at {} (responses produced {})",
                    positions.start(),
                    positions.end(),
                    worst.unwrap_or("good"),
                    rfc3339(at),
                    produced.join(", ")
                ),
            );
        }
        Err((position, subject, e)) => {
            if let OcspError::Revoked { reason, .. } = &e {
                summary.ocsp_status = Some("revoked");
                summary.revocation_reason = reason.map(|r| r.to_string());
            } else if matches!(e, OcspError::Held { .. }) {
                summary.ocsp_status = Some("revoked");
                summary.revocation_reason = Some("certificateHold".into());
            } else if e == OcspError::Unknown {
                summary.ocsp_status = Some("unknown");
            }
            checks.fail(check, format!("certificate {position} ({subject}): {e}"));
        }
    }
}

/// Each certificate's status, with its subject; the first one refused, with its position, stops.
fn chain_revocation(
    chain: &CertChain,
    anchor: &TrustAnchor,
    positions: RangeInclusive<usize>,
    responses: &[OcspResponse],
    options: &OcspOptions,
) -> Result<Vec<(String, CertRevocation)>, (usize, String, OcspError)> {
    let anchor_cert = parse_one(anchor.der()).map_err(|e| (0, anchor.name().to_owned(), OcspError::Format(e)))?;
    let mut out = Vec::new();
    for i in positions {
        let bad = |e: String| (i, "?".to_owned(), OcspError::Format(e));
        let cert = parse_one(chain.ders().get(i).ok_or_else(|| bad("no such certificate".into()))?).map_err(bad)?;
        let issuer = match chain.ders().get(i + 1) {
            Some(d) => parse_one(d).map_err(bad)?,
            None => anchor_cert.clone(),
        };
        let subject = describe(&cert);
        let r = check_certificate(&cert, &issuer, responses, options).map_err(|e| (i, subject.clone(), e))?;
        out.push((subject, r));
    }
    Ok(out)
}
