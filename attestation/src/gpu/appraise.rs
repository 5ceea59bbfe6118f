//! [`appraise_gpu`]: the numbered steps of `ccgpu verify gpu --help`, one call each.

use super::checks::{self, RimKind};
use super::{GpuAppraisal, GpuAppraise, GpuCheck, GpuEvidence, GpuIdentity, Revocation, RevocationMode};
use crate::appraisal::Checks;
use crate::cache::VerifierCache;
use crate::crypto;
use crate::nvidia::rim::RimIds;
use crate::policy::RimRef;
use crate::x509::{parse_one, rfc3339};

/// Appraises one GPU.
pub fn appraise_gpu(evidence: &GpuEvidence<'_>, ctx: &GpuAppraise<'_>) -> GpuAppraisal {
    // Without a caller's cache, a per-call one still verifies each certificate link once: the two RIM
    // chains share their upper links.
    let local;
    let ctx = &match ctx.cache {
        Some(_) => *ctx,
        None => {
            local = VerifierCache::new();
            GpuAppraise { cache: Some(&local), ..*ctx }
        }
    };
    let mut checks = Checks::default();
    let mut warnings = Vec::new();

    // 1. The report parses.
    let report = checks::report_parsed(&mut checks, evidence.report);
    let mut identity = GpuIdentity::claimed(report.as_ref(), evidence.chain);
    // 2. The architecture is known.
    checks::arch(&mut checks, &identity);
    // 3. The device chain validates to NVIDIA's root, and is not revoked.
    let device_chain = checks::device_chain(&mut checks, evidence.chain, &mut identity, ctx, &mut warnings);
    // 4. The attestation certificate's FWID is the report's.
    let leaf = evidence.chain.ders().first().and_then(|d| parse_one(d).ok());
    checks::fwid(&mut checks, report.as_ref(), leaf.as_ref(), ctx.policy);
    // 5. The report signature verifies with the attestation key.
    checks::report_signature(&mut checks, GpuCheck::ReportSignature, report.as_ref(), leaf.as_ref());
    // 6. The report carries the expected nonce.
    checks::nonce(&mut checks, GpuCheck::Nonce, report.as_ref(), ctx.nonce);
    // 7. The driver RIM is NVIDIA's, for this chip and driver.
    let driver = checks::rim(&mut checks, RimKind::Driver, evidence.driver_rim, &identity, ctx, &mut warnings);
    // 8. The VBIOS RIM is NVIDIA's, for this chip and VBIOS.
    let vbios = checks::rim(&mut checks, RimKind::Vbios, evidence.vbios_rim, &identity, ctx, &mut warnings);
    // 9. Every active golden measurement matches the report.
    let driver_verified = driver.as_ref().and_then(|d| d.verification.verified.as_ref());
    let vbios_verified = vbios.as_ref().and_then(|v| v.verification.verified.as_ref());
    let measurements = checks::measurements(&mut checks, report.as_ref(), driver_verified, vbios_verified);
    // 10. The policy's own rules.
    let rims: Vec<RimRef<'_>> = [("driver", &driver), ("VBIOS", &vbios)]
        .into_iter()
        .filter_map(|(kind, rim)| {
            let v = &rim.as_ref()?.verification;
            Some(RimRef { kind, digest: &v.digest, tag_id: v.identity.as_ref().ok().map(|i| i.tag_id.as_str()) })
        })
        .collect();
    checks::policy(&mut checks, report.is_some(), &identity, &rims, ctx.policy);

    let rim_ids = report.as_ref().and_then(|r| {
        let chip = identity.chip.as_deref()?;
        Some(RimIds::from_report(r.opaque(), chip, identity.arch?))
    });
    GpuAppraisal {
        verdict: checks.verdict().with_warnings(!warnings.is_empty()),
        checks,
        identity,
        rim_ids,
        measurements,
        device_chain,
        oemid: driver_verified.and_then(|d| d.identity.firmware_manufacturer_id.clone()),
        rim_digests: (
            driver.as_ref().map(|d| hex::encode(d.verification.digest)),
            vbios.as_ref().map(|v| hex::encode(v.verification.digest)),
        ),
        driver_rim_chain: driver.map(|d| d.chain),
        vbios_rim_chain: vbios.map(|v| v.chain),
        nonce: hex::encode(ctx.nonce),
        verified_at: rfc3339(ctx.at),
        revocation: match ctx.revocation {
            Revocation::NotChecked => RevocationMode::NotChecked,
            Revocation::Responses { .. } => RevocationMode::Checked,
        },
        warnings,
        policy_digest: ctx.policy.digest(),
        report_digest: hex::encode(crypto::sha384(evidence.report)),
    }
}
