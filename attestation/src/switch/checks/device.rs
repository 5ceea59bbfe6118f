//! Steps 2 and 3: the device certificate names an LS10, and the chain validates to NVIDIA's pinned
//! device root (the same root as a GPU's), with its revocation status.

use crate::appraisal::Checks;
use crate::gpu::{ChainSummary, GpuAppraise, RevocationTarget, revocation_check};
use crate::switch::{SwitchCheck, SwitchIdentity};
use crate::x509::{CertChain, ChainError, ChainRule, ValidatedChain, parse_one, rfc3339, validate_cached};

/// Certificates in an LS10 device chain, the root included.
const LS10_CHAIN_LEN: usize = 5;

/// Step 2: The device certificate names an LS10.
pub(crate) fn arch(checks: &mut Checks<SwitchCheck>, identity: &SwitchIdentity) {
    match (&identity.chip, &identity.hwmodel) {
        (Some(chip), Some(hw)) => checks.pass(SwitchCheck::Arch, format!("{chip} ({hw})")),
        (None, Some(hw)) => {
            checks.fail(SwitchCheck::Arch, format!("device certificate {hw:?} is not an LS10 NVSwitch"))
        }
        (_, None) => checks.fail(SwitchCheck::Arch, "the device chain has no readable device certificate (position 1)"),
    }
}

/// Step 3: The device chain validates to the pinned device root (setting the UEID when it does), and its
/// certificates are not revoked; the chain's summary.
pub(crate) fn device_chain(
    checks: &mut Checks<SwitchCheck>,
    chain: &CertChain,
    identity: &mut SwitchIdentity,
    ctx: &GpuAppraise<'_>,
    warnings: &mut Vec<String>,
) -> (ChainSummary, bool) {
    let device =
        validate_cached(chain, &ctx.anchors.device, ctx.at, ChainRule::ExactWithAnchor(LS10_CHAIN_LEN), ctx.cache);
    match &device {
        Ok(v) => {
            identity.ueid = Some(v.leaf_serial_decimal.clone());
            checks.pass(
                SwitchCheck::DeviceChain,
                format!(
                    "{} certificates to {}, valid until {}",
                    chain.len(),
                    ctx.anchors.device.name(),
                    rfc3339(v.valid_until)
                ),
            );
        }
        Err(e) => checks.fail(SwitchCheck::DeviceChain, e.to_string()),
    }
    let mut summary = summary_of(&device, chain);
    let positions = 1..=chain.len().saturating_sub(2);
    let target = RevocationTarget { chain: Some(chain), anchor: &ctx.anchors.device, positions };
    revocation_check(
        checks,
        SwitchCheck::DeviceChainOcsp,
        &ctx.policy.ocsp,
        ctx.revocation.for_device(),
        &target,
        &mut summary,
        warnings,
    );
    (summary, device.is_ok())
}

fn summary_of(result: &Result<ValidatedChain, ChainError>, chain: &CertChain) -> ChainSummary {
    match result {
        Ok(v) => ChainSummary {
            status: "valid",
            expiration: Some(rfc3339(v.valid_until)),
            ocsp_status: None,
            revocation_reason: None,
        },
        Err(e) => ChainSummary {
            status: if e.is_expired() { "expired" } else { "invalid" },
            expiration: chain
                .ders()
                .iter()
                .filter_map(|d| parse_one(d).ok().map(|c| c.validity().not_after.to_datetime()))
                .min()
                .map(rfc3339),
            ocsp_status: None,
            revocation_reason: None,
        },
    }
}
