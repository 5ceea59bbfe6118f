//! Steps 7 and 8: the driver RIM and the VBIOS RIM, six checks each — present, NVIDIA's SWID structure,
//! XML signature, signing chain to NVIDIA's pinned RIM root, its revocation, and that the RIM is for this
//! GPU's chip and this driver or VBIOS version.

use super::revocation::{self, Target};
use crate::appraisal::Checks;
use crate::gpu::evidence::rim_ocsp_positions;
use crate::gpu::{ChainSummary, GpuAppraise, GpuCheck, GpuIdentity};
use crate::nvidia::rim::{self, RimVerification};
use crate::x509::rfc3339;

/// Which of the two RIMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RimKind {
    /// The driver RIM.
    Driver,
    /// The VBIOS RIM.
    Vbios,
}

impl RimKind {
    /// Its six checks: present, structure, signature, chain, revocation, identity.
    fn checks(self) -> [GpuCheck; 6] {
        match self {
            Self::Driver => [
                GpuCheck::DriverRimPresent,
                GpuCheck::DriverRimStructure,
                GpuCheck::DriverRimSignature,
                GpuCheck::DriverRimChain,
                GpuCheck::DriverRimOcsp,
                GpuCheck::DriverRimIdentity,
            ],
            Self::Vbios => [
                GpuCheck::VbiosRimPresent,
                GpuCheck::VbiosRimStructure,
                GpuCheck::VbiosRimSignature,
                GpuCheck::VbiosRimChain,
                GpuCheck::VbiosRimOcsp,
                GpuCheck::VbiosRimIdentity,
            ],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Driver => "driver",
            Self::Vbios => "VBIOS",
        }
    }

    /// The version the report states for what this RIM describes.
    fn expected_version(self, identity: &GpuIdentity) -> Option<&str> {
        match self {
            Self::Driver => identity.driver_version.as_deref(),
            Self::Vbios => identity.vbios_version.as_deref(),
        }
    }
}

/// A RIM that was present, with its verification and its signing chain's summary.
pub(crate) struct AppraisedRim {
    /// Every aspect of the RIM's verification.
    pub verification: RimVerification,
    /// Its signing chain, for the claims.
    pub chain: ChainSummary,
}

/// Steps 7 and 8: One RIM's six checks; `None` when it was not provided.
pub(crate) fn rim(
    checks: &mut Checks<GpuCheck>,
    kind: RimKind,
    xml: Option<&[u8]>,
    identity: &GpuIdentity,
    ctx: &GpuAppraise<'_>,
    warnings: &mut Vec<String>,
) -> Option<AppraisedRim> {
    let [present, structure, signature, chain, ocsp, rim_identity] = kind.checks();
    let Some(xml) = xml else {
        checks.fail(present, format!("no {} RIM was provided", kind.name()));
        for c in [structure, signature, chain, ocsp, rim_identity] {
            checks.not_run(c, format!("no {} RIM", kind.name()));
        }
        return None;
    };
    checks.pass(present, format!("{} bytes", xml.len()));
    let v = match ctx.cache {
        Some(cache) => rim::inspect_cached(xml, cache).appraise(&ctx.anchors.rim, ctx.at, Some(cache)),
        None => rim::verify(xml, &ctx.anchors.rim, ctx.at),
    };
    match &v.identity {
        Ok(id) => checks.pass(structure, format!("SWID tag {} {} ({} edition)", id.product, id.version, id.edition)),
        Err(e) => checks.fail(structure, e.to_string()),
    }
    match &v.signature {
        Ok(()) => checks.pass(
            signature,
            "enveloped XML-DSig, C14N 1.1, ECDSA P-384/SHA-384, key of the embedded signing certificate",
        ),
        Err(e) => checks.fail(signature, e.to_string()),
    }
    match &v.chain {
        Ok(c) => checks.pass(
            chain,
            format!("signing chain to {}, valid until {}", ctx.anchors.rim.name(), rfc3339(c.valid_until)),
        ),
        Err(e) => checks.fail(chain, e.to_string()),
    }
    let mut chain_summary = ChainSummary::of_rim(&v);
    let target = Target {
        chain: v.signing_chain.as_ref(),
        anchor: &ctx.anchors.rim,
        positions: v.signing_chain.as_ref().map_or(0..=0, |c| rim_ocsp_positions(c, &ctx.anchors.rim)),
    };
    revocation::check(checks, ocsp, &ctx.policy.ocsp, ctx.revocation.for_rims(), &target, &mut chain_summary, warnings);
    match (&v.identity, identity.chip.as_deref(), kind.expected_version(identity)) {
        (Ok(id), Some(chip), Some(expected)) => {
            let version_ok = match kind {
                RimKind::Driver => id.version.eq_ignore_ascii_case(expected),
                RimKind::Vbios => id.version.to_ascii_uppercase() == expected,
            };
            if id.edition != "GPU" {
                checks.fail(rim_identity, format!("RIM edition is {:?}, not GPU", id.edition));
            } else if id.product != chip || id.name != chip {
                checks.fail(rim_identity, format!("RIM is for {} (name {}), the GPU is a {chip}", id.product, id.name));
            } else if !version_ok {
                checks.fail(
                    rim_identity,
                    format!("RIM is for {} version {}, the report says {expected}", kind.name(), id.version),
                );
            } else {
                checks.pass(rim_identity, format!("{chip} {} {}", kind.name(), id.version));
            }
        }
        (Err(_), _, _) => checks.not_run(rim_identity, "the RIM structure is unreadable"),
        (_, None, _) => checks.not_run(rim_identity, "the GPU's chip family is unknown"),
        (_, _, None) => checks.not_run(rim_identity, format!("the report does not state a {} version", kind.name())),
    }
    Some(AppraisedRim { verification: v, chain: chain_summary })
}
