//! Step 8: the switch VBIOS RIM, six checks — present, NVIDIA's SWID structure, XML signature, signing
//! chain to NVIDIA's pinned RIM root, its revocation, and that it is a SWITCH RIM for LS10 and the VBIOS
//! version the report states.

use crate::appraisal::Checks;
use crate::gpu::{ChainSummary, GpuAppraise, RevocationTarget, revocation_check};
use crate::nvidia::rim::{self, RimChainError, RimVerification};
use crate::switch::identity::LS10;
use crate::switch::{SwitchCheck, SwitchIdentity};
use crate::x509::rfc3339;

/// The RIM edition NVIDIA gives switch VBIOS RIMs.
const SWITCH_EDITION: &str = "SWITCH";

/// Step 8: The VBIOS RIM's six checks; its verification and chain summary, `None` when not provided.
pub(crate) fn rim(
    checks: &mut Checks<SwitchCheck>,
    xml: Option<&[u8]>,
    identity: &SwitchIdentity,
    ctx: &GpuAppraise<'_>,
    warnings: &mut Vec<String>,
) -> Option<(RimVerification, ChainSummary)> {
    use SwitchCheck::*;
    let Some(xml) = xml else {
        checks.fail(VbiosRimPresent, "no switch VBIOS RIM was provided");
        for c in [VbiosRimStructure, VbiosRimSignature, VbiosRimChain, VbiosRimOcsp, VbiosRimIdentity] {
            checks.not_run(c, "no switch VBIOS RIM");
        }
        return None;
    };
    checks.pass(VbiosRimPresent, format!("{} bytes", xml.len()));
    let v = match ctx.cache {
        Some(cache) => rim::inspect_cached(xml, cache).appraise(&ctx.anchors.rim, ctx.at, Some(cache)),
        None => rim::verify(xml, &ctx.anchors.rim, ctx.at),
    };
    match &v.identity {
        Ok(id) => {
            checks.pass(VbiosRimStructure, format!("SWID tag {} {} ({} edition)", id.product, id.version, id.edition))
        }
        Err(e) => checks.fail(VbiosRimStructure, e.to_string()),
    }
    match &v.signature {
        Ok(()) => checks.pass(
            VbiosRimSignature,
            "enveloped XML-DSig, ECDSA P-384/SHA-384, key of the embedded signing certificate",
        ),
        Err(e) => checks.fail(VbiosRimSignature, e.to_string()),
    }
    let mut summary = match &v.chain {
        Ok(c) => {
            checks.pass(
                VbiosRimChain,
                format!("signing chain to {}, valid until {}", ctx.anchors.rim.name(), rfc3339(c.valid_until)),
            );
            ChainSummary {
                status: "valid",
                expiration: Some(rfc3339(c.valid_until)),
                ocsp_status: None,
                revocation_reason: None,
            }
        }
        Err(e) => {
            checks.fail(VbiosRimChain, e.to_string());
            let status = match e {
                RimChainError::Invalid(e) if e.is_expired() => "expired",
                _ => "invalid",
            };
            ChainSummary { status, expiration: None, ocsp_status: None, revocation_reason: None }
        }
    };
    let positions = v.signing_chain.as_ref().map_or(0..=0, |c| {
        let ends_with_anchor = c.ders().last().is_some_and(|d| d.as_slice() == ctx.anchors.rim.der());
        let below_root = if ends_with_anchor { c.len().saturating_sub(1) } else { c.len() };
        0..=below_root.saturating_sub(1)
    });
    let target = RevocationTarget { chain: v.signing_chain.as_ref(), anchor: &ctx.anchors.rim, positions };
    revocation_check(
        checks,
        VbiosRimOcsp,
        &ctx.policy.ocsp,
        ctx.revocation.for_rims(),
        &target,
        &mut summary,
        warnings,
    );
    match (&v.identity, identity.vbios_version.as_deref()) {
        (Ok(id), Some(expected)) => {
            if id.edition != SWITCH_EDITION {
                checks.fail(VbiosRimIdentity, format!("RIM edition is {:?}, not {SWITCH_EDITION}", id.edition));
            } else if id.product != LS10 || id.name != LS10 {
                checks.fail(
                    VbiosRimIdentity,
                    format!("RIM is for {} (name {}), the switch is an {LS10}", id.product, id.name),
                );
            } else if id.version.to_ascii_uppercase() != expected {
                checks.fail(VbiosRimIdentity, format!("RIM is for VBIOS {}, the report says {expected}", id.version));
            } else {
                checks.pass(VbiosRimIdentity, format!("{LS10} VBIOS {}", id.version));
            }
        }
        (Err(_), _) => checks.not_run(VbiosRimIdentity, "the RIM structure is unreadable"),
        (_, None) => checks.not_run(VbiosRimIdentity, "the report does not state a VBIOS version"),
    }
    Some((v, summary))
}
