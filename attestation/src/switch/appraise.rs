//! [`appraise_switch`]: the numbered steps of an NVSwitch appraisal, one call each.

use super::checks;
use super::{SwitchAppraisal, SwitchCheck, SwitchEvidence, SwitchIdentity};
use crate::appraisal::Checks;
use crate::cache::VerifierCache;
use crate::crypto;
use crate::gpu::{self, GpuAppraise, Revocation, RevocationMode};
use crate::policy::RimRef;
use crate::x509::{parse_one, rfc3339};

/// Appraises one NVSwitch.
pub fn appraise_switch(evidence: &SwitchEvidence<'_>, ctx: &GpuAppraise<'_>) -> SwitchAppraisal {
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

    // 1. The report parses (LS10 layout).
    let report = checks::report_parsed(&mut checks, evidence.report);
    let mut identity = SwitchIdentity::claimed(report.as_ref(), evidence.chain);
    // 2. The device certificate names an LS10.
    checks::arch(&mut checks, &identity);
    // 3. The device chain validates to NVIDIA's root, and is not revoked.
    let (device_chain, _) = checks::device_chain(&mut checks, evidence.chain, &mut identity, ctx, &mut warnings);
    // 4. The report states the device certificate's PDI.
    checks::pdi(&mut checks, report.is_some(), &identity);
    // 5. The report is bound to the attestation certificate.
    let leaf = evidence.chain.ders().first().and_then(|d| parse_one(d).ok());
    checks::fwid(&mut checks, report.as_ref(), leaf.as_ref());
    // 6. The report signature verifies with the attestation key.
    gpu::report_signature(&mut checks, SwitchCheck::ReportSignature, report.as_ref(), leaf.as_ref());
    // 7. The report carries the expected nonce.
    gpu::nonce(&mut checks, SwitchCheck::Nonce, report.as_ref(), ctx.nonce);
    // 8. The VBIOS RIM is NVIDIA's, for LS10 and this VBIOS.
    let rim = checks::rim(&mut checks, evidence.vbios_rim, &identity, ctx, &mut warnings);
    // 9. Every active golden measurement matches the report.
    let verified = rim.as_ref().and_then(|(v, _)| v.verified.as_ref());
    let measurements = checks::measurements(&mut checks, report.as_ref(), verified);
    // 10. The RIM used is one the policy accepts.
    let rim_ref = rim.as_ref().map(|(v, _)| RimRef {
        kind: "switch VBIOS",
        digest: &v.digest,
        tag_id: v.identity.as_ref().ok().map(|i| i.tag_id.as_str()),
    });
    checks::policy(&mut checks, rim_ref, ctx.policy);

    SwitchAppraisal {
        verdict: checks.verdict().with_warnings(!warnings.is_empty()),
        checks,
        identity,
        measurements,
        device_chain,
        rim_digest: rim.as_ref().map(|(v, _)| hex::encode(v.digest)),
        vbios_rim_chain: rim.map(|(_, c)| c),
        nonce: hex::encode(ctx.nonce),
        verified_at: rfc3339(ctx.at),
        revocation: match ctx.revocation {
            Revocation::NotChecked => RevocationMode::NotChecked,
            Revocation::Responses { .. } => RevocationMode::Checked,
        },
        warnings,
        report_digest: hex::encode(crypto::sha384(evidence.report)),
    }
}
