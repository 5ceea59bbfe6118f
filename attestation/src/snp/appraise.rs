//! [`appraise_snp`]: the numbered steps of `ccgpu verify snp --help`, one call each.

use super::checks;
use super::evidence::VekInput;
use super::vek::vek_der;
use super::{SnpAppraisal, SnpAppraise, SnpCheck, SnpEvidence, SnpIdentity};
use crate::appraisal::{Checks, Outcome};
use crate::crypto;
use crate::x509::rfc3339;

/// Appraises one guest's SEV-SNP evidence.
pub fn appraise_snp(evidence: &SnpEvidence<'_>, ctx: &SnpAppraise<'_>) -> SnpAppraisal {
    let mut checks = Checks::default();
    // The VCEK/VLEK first: its product decides the layout of a v2 report with a masked CHIP_ID.
    let vek_der = vek_der(evidence.vek).map_err(|e| e.to_string());
    let vek = VekInput::read(vek_der.as_deref().map_err(Clone::clone), ctx.roots);
    let mut identity = SnpIdentity::from_vek(&vek);

    // 1. The report decodes.
    let report = checks::report_parsed(&mut checks, evidence.report, identity.product);
    if let Some(r) = &report {
        identity.read_report(r);
    }
    // 2. Its reserved fields hold their required values.
    checks::reserved_fields(&mut checks, report.as_ref());
    // 3. The VCEK/VLEK chains to AMD's pinned ARK: ARK, ASK/ASVK, VCEK/VLEK.
    let chain = checks::endorsement_chain(&mut checks, evidence.ask_ark, &vek, ctx);
    //    … and the ASK/ASVK is not on AMD's CRL.
    checks::ask_revocation(&mut checks, chain.ark_and_intermediate.as_ref(), ctx);
    let anchored_kind = chain.anchored.map(|(_, kind)| kind);
    identity.signing_key = anchored_kind;
    let kind = anchored_kind.or_else(|| vek.shape());
    // 4. The chain, the VCEK/VLEK and the report name one product.
    let product = checks::product(&mut checks, report.as_ref(), &vek, chain.anchored.map(|(p, _)| p));
    // 5. The report names ECDSA P-384/SHA-384 and the certificate's kind of key.
    checks::signature_algorithm(&mut checks, report.as_ref(), anchored_kind);
    // 6. The report signature verifies with the VCEK/VLEK's key.
    checks::report_signature(&mut checks, evidence.report, &vek, kind);
    // 7. The VCEK/VLEK certifies REPORTED_TCB, and a VCEK's hwID is the report's CHIP_ID.
    checks::vek_binding(&mut checks, report.as_ref(), &vek, kind);
    // 8. REPORT_DATA is the expected value.
    checks::report_data(&mut checks, evidence.report, ctx);
    // 9. The guest policy bits are acceptable.
    checks::guest_policy(&mut checks, report.as_ref(), ctx.policy);
    // 10. The VMPL is the required one.
    checks::vmpl(&mut checks, report.as_ref(), ctx.policy);
    // 11. REPORTED_TCB meets the policy's minimum.
    checks::min_tcb(&mut checks, report.as_ref(), product.or(identity.product), ctx.policy);
    // 12. The measurement and HOST_DATA are ones the policy allows.
    checks::reference_values(&mut checks, report.as_ref(), ctx.policy);

    let warnings = warnings(&checks);
    SnpAppraisal {
        verdict: checks.verdict().with_warnings(!warnings.is_empty()),
        warnings,
        checks,
        identity,
        verified_at: rfc3339(ctx.at),
        chain_valid_until: chain.valid_until.map(rfc3339),
        report_digest: hex::encode(crypto::sha384(evidence.report)),
        vek_digest: vek_der.ok().map(|d| hex::encode(crypto::sha384(&d))),
    }
}

/// What an SEV-SNP appraisal accepted without pinning it: without a launch measurement in the policy,
/// any (non-debug) guest image is accepted, so the result is at most `warning`.
fn warnings(checks: &Checks<SnpCheck>) -> Vec<String> {
    let mut out = Vec::new();
    if matches!(checks.get(SnpCheck::Measurement), Some(Outcome::Skipped { .. })) {
        out.push("the policy pins no launch measurement (snp.measurements): any guest image was accepted".to_owned());
    }
    out
}
