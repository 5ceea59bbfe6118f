//! [`appraise_tdx`]: the numbered steps of `ccgpu verify tdx --help`, one call each.

use super::checks;
use super::identity::TdxIdentity;
use super::{TdxAppraisal, TdxAppraise, TdxCheck, TdxEvidence};
use crate::appraisal::{Checks, Outcome};
use crate::crypto;
use crate::tdx::tcb_status::TcbStatus;
use crate::x509::rfc3339;

/// Appraises one TD's quote with its DCAP collateral.
pub fn appraise_tdx(evidence: &TdxEvidence<'_>, ctx: &TdxAppraise<'_>) -> TdxAppraisal {
    let mut checks = Checks::default();
    let mut identity = TdxIdentity::default();

    // 1. The quote parses strictly.
    let quote = checks::quote_parsed(&mut checks, evidence.quote);
    if let Some(q) = &quote {
        identity.read_quote(q);
    }
    // 2. The PCK chain in the quote validates to the pinned Intel SGX Root CA.
    let pck = checks::pck_chain(&mut checks, quote.as_ref(), ctx);
    if let Some(p) = &pck {
        identity.read_pck(&p.ext);
    }
    // 6. (run early: revocation needs the TCB Signing certificate) The TCB info and QE identity are signed.
    let mut scratch = Checks::default();
    let collateral = checks::collateral_signatures(&mut scratch, ctx);
    // 3. Nothing in the PCK chain, nor the TCB Signing certificate, is revoked.
    let crl_until =
        checks::revocation(&mut checks, pck.as_ref(), [collateral.signer.as_ref(), collateral.qe_signer.as_ref()], ctx);
    // 4. The PCK signed the QE report, which binds the attestation key.
    checks::qe_report(&mut checks, quote.as_ref(), pck.as_ref());
    // 5. The attestation key signed the quote.
    checks::quote_signature(&mut checks, quote.as_ref());
    for check in [TdxCheck::TcbInfoSignature, TdxCheck::QeIdentitySignature] {
        if let Some(o) = scratch.get(check) {
            checks.record(check, o.clone());
        }
    }
    // 7. The TCB info and QE identity are current.
    let docs_until = checks::collateral_current(&mut checks, &collateral, ctx.at);
    // 8. The QE is the QE identity's enclave: the QE's status.
    let qe = checks::qe_identity(&mut checks, quote.as_ref(), &collateral);
    // 9. A TCB level covers the platform: its status.
    let platform = checks::tcb_level(&mut checks, quote.as_ref(), pck.as_ref(), collateral.tcb_info.as_ref());
    // 10. The TDX module is the identity the TCB info names: its status.
    let module = checks::module_identity(&mut checks, quote.as_ref(), collateral.tcb_info.as_ref());
    // 11. The merged status and advisories are ones the policy accepts.
    let tcb = checks::tcb_status(
        &mut checks,
        platform.as_ref(),
        module.as_ref().map(Option::as_ref).map_err(|_| ()),
        qe.as_ref(),
        ctx.policy,
    );
    // 12. TD attributes: never DEBUG, SEPT_VE_DISABLE, the pins.
    checks::td_attributes(&mut checks, quote.as_ref(), ctx.policy);
    // 13. No service TD unless allowed.
    checks::service_td(&mut checks, quote.as_ref(), ctx.policy);
    // 14. REPORTDATA is the expected value.
    checks::report_data(&mut checks, quote.as_ref(), ctx);
    // 15. MRTD, RTMRs, MRCONFIGID/MROWNER/MROWNERCONFIG as pinned.
    checks::reference_values(&mut checks, quote.as_ref(), ctx.policy);

    identity.tcb_evaluation_number = collateral.tcb_info.as_ref().map(|t| t.evaluation_number);
    identity.tcb = tcb;
    let valid_until = [pck.as_ref().map(|p| p.valid_until), collateral.valid_until, crl_until, docs_until]
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().min());
    let warnings = warnings(&checks, &identity);
    TdxAppraisal {
        verdict: checks.verdict().with_warnings(!warnings.is_empty()),
        warnings,
        checks,
        identity,
        verified_at: rfc3339(ctx.at),
        valid_until: valid_until.map(rfc3339),
        quote_digest: hex::encode(crypto::sha384(evidence.quote)),
    }
}

/// What a TDX appraisal accepted without pinning or establishing it.
fn warnings(checks: &Checks<TdxCheck>, identity: &TdxIdentity) -> Vec<String> {
    let mut out = Vec::new();
    if matches!(checks.get(TdxCheck::Mrtd), Some(Outcome::Skipped { .. })) {
        out.push("the policy pins no MRTD (tdx.mrtd): any TD image was accepted".to_owned());
    }
    if let Some(t) = &identity.tcb
        && checks.passed(TdxCheck::TcbStatus)
        && t.status != TcbStatus::UpToDate
    {
        out.push(format!("the platform's TCB is {t}, which the policy accepts"));
    }
    out
}
