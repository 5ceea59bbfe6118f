//! Steps 6–8: the TCB info and QE identity are signed by a TCB Signing certificate that chains to Intel's
//! root (each over its JSON as received), both are current at the verification time, and the QE report
//! matches the QE identity.

use time::OffsetDateTime;

use super::needs;
use crate::appraisal::Checks;
use crate::tdx::inspect;
use crate::tdx::qe_identity::QeIdentity;
use crate::tdx::quote::TdxQuote;
use crate::tdx::tcb_info::TcbInfo;
use crate::tdx::tcb_status::TcbVerdict;
use crate::tdx::{TdxAppraise, TdxCheck};
use crate::x509::{CertChain, ChainRule, rfc3339, validate_cached};

/// The collateral documents whose signatures verified.
#[derive(Default)]
pub(crate) struct Collateral {
    /// The TCB info.
    pub tcb_info: Option<TcbInfo>,
    /// The QE identity.
    pub qe_identity: Option<QeIdentity>,
    /// The TCB Signing chain that signed the TCB info.
    pub signer: Option<CertChain>,
    /// The chain that signed the QE identity (the same TCB Signing certificate in Intel's PCS today, but
    /// judged on its own: the root CA CRL must clear it too).
    pub qe_signer: Option<CertChain>,
    /// The earliest notAfter of the signing chains.
    pub valid_until: Option<OffsetDateTime>,
}

/// Step 6: the TCB info and the QE identity each verify under an issuer chain that validates to the root.
pub(crate) fn collateral_signatures(checks: &mut Checks<TdxCheck>, ctx: &TdxAppraise<'_>) -> Collateral {
    let mut out = Collateral::default();
    let c = match ctx.collateral {
        Ok(c) => c,
        Err(why) => {
            for check in [TdxCheck::TcbInfoSignature, TdxCheck::QeIdentitySignature] {
                checks.fail(check, format!("no collateral: {why}"));
            }
            return out;
        }
    };
    let tcb = signed(ctx, "TCB info", &c.tcb_info_issuer_chain).and_then(|(chain, until)| {
        inspect::tcb_info(ctx.cache, &chain.ders()[0], c.tcb_info.as_bytes(), &c.tcb_info_signature)
            .map(|t| (chain, until, t))
    });
    match tcb {
        Ok((chain, until, t)) => {
            checks.pass(
                TdxCheck::TcbInfoSignature,
                format!(
                    "TCB info for FMSPC {} (evaluation {}) signed by {}",
                    hex::encode_upper(t.fmspc),
                    t.evaluation_number,
                    subject(&chain)
                ),
            );
            out.valid_until = Some(until);
            out.signer = Some(chain);
            out.tcb_info = Some(t);
        }
        Err(e) => checks.fail(TdxCheck::TcbInfoSignature, e),
    }
    let qe = signed(ctx, "QE identity", &c.qe_identity_issuer_chain).and_then(|(chain, until)| {
        inspect::qe_identity(ctx.cache, &chain.ders()[0], c.qe_identity.as_bytes(), &c.qe_identity_signature)
            .map(|q| (chain, until, q))
    });
    match qe {
        Ok((chain, until, q)) => {
            checks.pass(TdxCheck::QeIdentitySignature, format!("TD_QE identity signed by {}", subject(&chain)));
            out.valid_until = Some(out.valid_until.map_or(until, |u| u.min(until)));
            out.qe_signer = Some(chain);
            out.qe_identity = Some(q);
        }
        Err(e) => checks.fail(TdxCheck::QeIdentitySignature, e),
    }
    out
}

/// Validates `chain_pem` (signer, root) to the root at the verification time.
fn signed(ctx: &TdxAppraise<'_>, what: &str, chain_pem: &[u8]) -> Result<(CertChain, OffsetDateTime), String> {
    let chain = inspect::chain(ctx.cache, chain_pem).map_err(|e| format!("the {what} issuer chain: {e}"))?;
    let v = validate_cached(&chain, &ctx.roots.root, ctx.at, ChainRule::ExactWithAnchor(2), ctx.cache)
        .map_err(|e| format!("the {what} issuer chain: {e}"))?;
    Ok((chain, v.valid_until))
}

fn subject(chain: &CertChain) -> String {
    chain.subjects().first().cloned().unwrap_or_default()
}

/// Step 7: the TCB info and QE identity are current: issueDate ≤ t ≤ nextUpdate.
pub(crate) fn collateral_current(
    checks: &mut Checks<TdxCheck>,
    c: &Collateral,
    at: OffsetDateTime,
) -> Option<OffsetDateTime> {
    if c.tcb_info.is_none() || c.qe_identity.is_none() {
        checks.not_run(TdxCheck::CollateralCurrent, "the TCB info or QE identity did not verify");
        return None;
    }
    let mut problems = Vec::new();
    let mut until = None;
    let docs = [
        ("TCB info", c.tcb_info.as_ref().map(|t| (t.issue_date, t.next_update))),
        ("QE identity", c.qe_identity.as_ref().map(|q| (q.issue_date, q.next_update))),
    ];
    for (what, window) in docs {
        let Some((issued, next)) = window else { continue };
        if at < issued {
            problems.push(format!(
                "the {what} is not yet valid: issueDate {}, judged at {}",
                rfc3339(issued),
                rfc3339(at)
            ));
        } else if at > next {
            problems.push(format!("the {what} has expired: nextUpdate {}, judged at {}", rfc3339(next), rfc3339(at)));
        }
        until = Some(until.map_or(next, |u: OffsetDateTime| u.min(next)));
    }
    if problems.is_empty() {
        checks.pass(
            TdxCheck::CollateralCurrent,
            format!("TCB info and QE identity current until {}", until.map(rfc3339).unwrap_or_default()),
        );
        until
    } else {
        checks.fail(TdxCheck::CollateralCurrent, problems.join("; "));
        None
    }
}

/// Step 8: the QE report is the QE identity's enclave (MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES
/// under their masks, never a debug QE), and its ISVSVN has a TCB level: the QE's status.
pub(crate) fn qe_identity(
    checks: &mut Checks<TdxCheck>,
    quote: Option<&TdxQuote<'_>>,
    c: &Collateral,
) -> Option<TcbVerdict> {
    let q = needs(checks, quote, &[TdxCheck::QeIdentity], "the quote did not parse")?;
    let id = needs(checks, c.qe_identity.as_ref(), &[TdxCheck::QeIdentity], "the QE identity did not verify")?;
    let r = &q.qe_report;
    let mut problems = Vec::new();
    if r.mr_signer != id.mr_signer {
        problems.push(format!(
            "MRSIGNER {} is not the QE identity's {}",
            hex::encode(r.mr_signer),
            hex::encode(id.mr_signer)
        ));
    }
    if r.isv_prod_id != id.isv_prod_id {
        problems.push(format!("ISVPRODID {} is not {}", r.isv_prod_id, id.isv_prod_id));
    }
    if r.misc_select & id.misc_select_mask != id.misc_select & id.misc_select_mask {
        problems.push(format!("MISCSELECT {:08x} does not match under the mask", r.misc_select));
    }
    if r.attributes.iter().zip(id.attributes_mask.iter()).zip(id.attributes.iter()).any(|((a, m), e)| a & m != e & m) {
        problems.push(format!("ATTRIBUTES {} do not match under the mask", hex::encode(r.attributes)));
    }
    if r.attributes[0] & 0x02 != 0 {
        problems.push("the QE is a debug enclave".into());
    }
    if !problems.is_empty() {
        checks.fail(TdxCheck::QeIdentity, problems.join("; "));
        return None;
    }
    match id.levels.iter().find(|(svn, _, _)| r.isv_svn >= *svn) {
        Some((_, status, advisories)) => {
            let v = TcbVerdict { status: *status, advisory_ids: advisories.clone() };
            checks.pass(TdxCheck::QeIdentity, format!("the QE is TD_QE ISVSVN {}: {v}", r.isv_svn));
            Some(v)
        }
        None => {
            checks.fail(
                TdxCheck::QeIdentity,
                format!("QE ISVSVN {} is below every TCB level of the QE identity", r.isv_svn),
            );
            None
        }
    }
}
