//! Steps 2 and 3: the architecture the device certificate names, and the device certificate chain to
//! NVIDIA's pinned device root, with its revocation status.

use super::revocation::{self, Target};
use crate::appraisal::Checks;
use crate::gpu::evidence::device_ocsp_positions;
use crate::gpu::{ChainSummary, GpuAppraise, GpuCheck, GpuIdentity};
use crate::nvidia::arch::GpuArch;
use crate::x509::{CertChain, ChainRule, rfc3339, validate_cached};

/// Step 2: The GPU architecture is known (from the device certificate's common name).
pub(crate) fn arch(checks: &mut Checks<GpuCheck>, identity: &GpuIdentity) {
    match (identity.arch, &identity.hwmodel) {
        (Some(arch), _) => checks.pass(GpuCheck::Arch, format!("{arch} ({})", identity.chip.as_deref().unwrap_or("?"))),
        (None, Some(hw)) => {
            checks.fail(GpuCheck::Arch, format!("unknown GPU architecture for device certificate {hw:?}"))
        }
        (None, None) => checks.fail(GpuCheck::Arch, "the device chain has no readable device certificate (position 1)"),
    }
}

/// Step 3: The device chain validates to the pinned device root, with the architecture's length (setting
/// the identity's UEID when it does), and its certificates are not revoked; the chain's summary.
pub(crate) fn device_chain(
    checks: &mut Checks<GpuCheck>,
    chain: &CertChain,
    identity: &mut GpuIdentity,
    ctx: &GpuAppraise<'_>,
    warnings: &mut Vec<String>,
) -> ChainSummary {
    let expected_len = identity.arch.map_or(5, GpuArch::device_chain_len);
    let device =
        validate_cached(chain, &ctx.anchors.device, ctx.at, ChainRule::ExactWithAnchor(expected_len), ctx.cache);
    match &device {
        Ok(v) => {
            identity.ueid = Some(v.leaf_serial_decimal.clone());
            checks.pass(
                GpuCheck::DeviceChain,
                format!(
                    "{} certificates to {}, valid until {}",
                    chain.len(),
                    ctx.anchors.device.name(),
                    rfc3339(v.valid_until)
                ),
            );
        }
        Err(e) => checks.fail(GpuCheck::DeviceChain, e.to_string()),
    }
    let mut summary = ChainSummary::of_device(&device, chain);
    device_chain_ocsp(checks, chain, ctx, &mut summary, warnings);
    summary
}

/// Revocation status of the device chain (below the root, above the attestation certificate).
fn device_chain_ocsp(
    checks: &mut Checks<GpuCheck>,
    chain: &CertChain,
    ctx: &GpuAppraise<'_>,
    summary: &mut ChainSummary,
    warnings: &mut Vec<String>,
) {
    let target = Target { chain: Some(chain), anchor: &ctx.anchors.device, positions: device_ocsp_positions(chain) };
    revocation::check(
        checks,
        GpuCheck::DeviceChainOcsp,
        &ctx.policy.ocsp,
        ctx.revocation.for_device(),
        &target,
        summary,
        warnings,
    );
}
