//! Revocation of one certificate chain by OCSP, for step 3 (the device chain) and step 8 (the VBIOS RIM
//! signing chain): each certificate at the checked positions is judged by the response that names it,
//! with its issuer the next certificate (the anchor after the last). The same rules as a GPU's.

use std::ops::RangeInclusive;

use time::OffsetDateTime;

use crate::appraisal::Checks;
use crate::gpu::{ChainSummary, GpuAppraise, Revocation};
use crate::ocsp::{OcspError, OcspOptions, OcspRequirement, OcspResponse, check_certificate};
use crate::switch::SwitchCheck;
use crate::x509::{CertChain, TrustAnchor, describe, parse_one, rfc3339};

/// The responses and OCSP time that judge a device chain; `None` when not checked.
pub(super) fn for_device(r: Revocation<'_>) -> Option<(&[OcspResponse], OffsetDateTime)> {
    match r {
        Revocation::Responses { responses, device_at, .. } => Some((responses, device_at)),
        Revocation::NotChecked => None,
    }
}

/// The responses and OCSP time that judge a RIM signing chain; `None` when not checked.
pub(super) fn for_rims(r: Revocation<'_>) -> Option<(&[OcspResponse], OffsetDateTime)> {
    match r {
        Revocation::Responses { responses, rim_at, .. } => Some((responses, rim_at)),
        Revocation::NotChecked => None,
    }
}

/// Establishes revocation of `positions` of `chain` with `judged`, records `check` and fills the chain
/// summary's OCSP fields.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    checks: &mut Checks<SwitchCheck>,
    check: SwitchCheck,
    ctx: &GpuAppraise<'_>,
    judged: Option<(&[OcspResponse], OffsetDateTime)>,
    chain: Option<&CertChain>,
    anchor: &TrustAnchor,
    positions: RangeInclusive<usize>,
    summary: &mut ChainSummary,
    warnings: &mut Vec<String>,
) {
    let policy = &ctx.policy.ocsp;
    let Some((responses, at)) = judged else {
        match policy.require {
            OcspRequirement::Optional => checks.skip(check, "OCSP off: revocation not checked"),
            OcspRequirement::Required => {
                checks.fail(check, "revocation was not checked (OCSP off) but the policy requires OCSP")
            }
        }
        return;
    };
    let Some(chain) = chain else {
        return checks.not_run(check, "no readable certificate chain");
    };
    let options = OcspOptions {
        at,
        tolerance: policy.tolerance(),
        max_age: policy.max_age(),
        allow_hold: policy.allow_hold,
        allow_unknown: policy.allow_unknown,
    };
    let anchor_cert = match parse_one(anchor.der()) {
        Ok(c) => c,
        Err(e) => return checks.fail(check, format!("anchor {}: {e}", anchor.name())),
    };
    let mut worst = "good";
    for i in positions.clone() {
        let Some(cert) = chain.ders().get(i).and_then(|d| parse_one(d).ok()) else {
            return checks.fail(check, format!("certificate {i}: unreadable"));
        };
        let issuer = match chain.ders().get(i + 1) {
            Some(d) => match parse_one(d) {
                Ok(c) => c,
                Err(e) => return checks.fail(check, format!("certificate {}: {e}", i + 1)),
            },
            None => anchor_cert.clone(),
        };
        let subject = describe(&cert);
        match check_certificate(&cert, &issuer, responses, &options) {
            Ok(r) => {
                if r.status != "good" {
                    worst = if worst == "revoked" || r.status == "revoked" { "revoked" } else { r.status };
                    summary.revocation_reason = r.reason.map(|x| x.to_string());
                    warnings.push(format!("{subject} is {}, accepted by the policy", r.status));
                }
            }
            Err(e) => {
                summary.ocsp_status = Some(match e {
                    OcspError::Revoked { .. } | OcspError::Held { .. } => "revoked",
                    OcspError::Unknown => "unknown",
                    _ => "invalid",
                });
                return checks.fail(check, format!("certificate {i} ({subject}): {e}"));
            }
        }
    }
    summary.ocsp_status = Some(worst);
    checks.pass(check, format!("certificates {}-{} {worst} at {}", positions.start(), positions.end(), rfc3339(at)));
}
