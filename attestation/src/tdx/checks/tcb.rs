//! Steps 9–11: the platform's TCB level (FMSPC, PCE id, SGX components, PCESVN, TEE_TCB_SVN), the TDX
//! module's identity and level, and the merged status against the policy — Intel's QVL rules: levels are
//! taken in the collateral's order (highest first) and the first one the platform meets is its level;
//! when TEE_TCB_SVN[1] (the module's major version) is non-zero, the TDX components are compared from
//! index 2 and the module's own SVN is judged by `tdxModuleIdentities` (`TDX_<major>`).

use super::{Pck, needs};
use crate::appraisal::Checks;
use crate::tdx::TdxCheck;
use crate::tdx::policy::TdxPolicy;
use crate::tdx::quote::TdxQuote;
use crate::tdx::tcb_info::{ModuleIdentity, TcbInfo};
use crate::tdx::tcb_status::{TcbStatus, TcbVerdict};

/// Step 9: the TCB info is for the PCK's platform, and a TCB level covers it: the platform's status.
pub(crate) fn tcb_level(
    checks: &mut Checks<TdxCheck>,
    quote: Option<&TdxQuote<'_>>,
    pck: Option<&Pck>,
    tcb: Option<&TcbInfo>,
) -> Option<TcbVerdict> {
    let q = needs(checks, quote, &[TdxCheck::TcbLevel], "the quote did not parse")?;
    let pck = needs(checks, pck, &[TdxCheck::TcbLevel], "the PCK chain did not validate")?;
    let tcb = needs(checks, tcb, &[TdxCheck::TcbLevel], "the TCB info did not verify")?;
    let e = &pck.ext;
    if e.fmspc != tcb.fmspc {
        checks.fail(
            TdxCheck::TcbLevel,
            format!(
                "the TCB info is for FMSPC {}, the PCK's is {}",
                hex::encode_upper(tcb.fmspc),
                hex::encode_upper(e.fmspc)
            ),
        );
        return None;
    }
    if e.pce_id != tcb.pce_id {
        checks.fail(
            TdxCheck::TcbLevel,
            format!("the TCB info is for PCE id {}, the PCK's is {}", hex::encode(tcb.pce_id), hex::encode(e.pce_id)),
        );
        return None;
    }
    let svn = &q.body.tee_tcb_svn;
    let from = if svn[1] > 0 { 2 } else { 0 };
    let level = tcb.levels.iter().find(|l| {
        l.pce_svn <= e.pce_svn
            && l.sgx.iter().zip(e.cpu_svn_components.iter()).all(|(need, have)| have >= need)
            && l.tdx[from..].iter().zip(svn[from..].iter()).all(|(need, have)| have >= need)
    });
    match level {
        Some(l) => {
            let v = TcbVerdict { status: l.status, advisory_ids: l.advisory_ids.clone() };
            checks.pass(
                TdxCheck::TcbLevel,
                format!(
                    "CPUSVN {} PCESVN {} TEE_TCB_SVN {}: level {v}",
                    hex::encode(e.cpu_svn_components),
                    e.pce_svn,
                    hex::encode(svn)
                ),
            );
            Some(v)
        }
        None => {
            checks.fail(
                TdxCheck::TcbLevel,
                format!(
                    "no TCB level matches: CPUSVN {} PCESVN {} TEE_TCB_SVN {} are below every level of the TCB info",
                    hex::encode(e.cpu_svn_components),
                    e.pce_svn,
                    hex::encode(svn)
                ),
            );
            None
        }
    }
}

/// Step 10: MRSIGNERSEAM and SEAMATTRIBUTES are the TDX module identity's; with a module identity for
/// this major version, its ISVSVN (TEE_TCB_SVN[0]) has a level: the module's status (`None` when the
/// TCB info gives the module no levels of its own).
pub(crate) fn module_identity(
    checks: &mut Checks<TdxCheck>,
    quote: Option<&TdxQuote<'_>>,
    tcb: Option<&TcbInfo>,
) -> Result<Option<TcbVerdict>, ()> {
    let q = needs(checks, quote, &[TdxCheck::ModuleIdentity], "the quote did not parse").ok_or(())?;
    let tcb = needs(checks, tcb, &[TdxCheck::ModuleIdentity], "the TCB info did not verify").ok_or(())?;
    let (isvsvn, major) = (q.body.tee_tcb_svn[0], q.body.tee_tcb_svn[1]);
    let (name, identity, levels) = if major > 0 && !tcb.module_identities.is_empty() {
        let want = format!("TDX_{major:02X}");
        match tcb.module_identities.iter().find(|m| m.id.eq_ignore_ascii_case(&want)) {
            Some(m) => (want, &m.identity, Some(&m.levels)),
            None => {
                checks.fail(TdxCheck::ModuleIdentity, format!("the TCB info has no TDX module identity {want}"));
                return Err(());
            }
        }
    } else {
        ("tdxModule".to_owned(), &tcb.tdx_module, None)
    };
    if let Err(why) = matches_module(identity, &q.body.mr_signer_seam, &q.body.seam_attributes) {
        checks.fail(TdxCheck::ModuleIdentity, format!("{name}: {why}"));
        return Err(());
    }
    let Some(levels) = levels else {
        checks.pass(TdxCheck::ModuleIdentity, format!("the TDX module matches {name}"));
        return Ok(None);
    };
    match levels.iter().find(|(svn, _, _)| isvsvn >= *svn) {
        Some((_, status, adv)) => {
            let v = TcbVerdict { status: *status, advisory_ids: adv.clone() };
            checks.pass(TdxCheck::ModuleIdentity, format!("the TDX module matches {name}, ISVSVN {isvsvn}: {v}"));
            Ok(Some(v))
        }
        None => {
            checks.fail(TdxCheck::ModuleIdentity, format!("{name}: module ISVSVN {isvsvn} is below every level"));
            Err(())
        }
    }
}

fn matches_module(m: &ModuleIdentity, mr_signer_seam: &[u8; 48], seam_attributes: &[u8; 8]) -> Result<(), String> {
    if *mr_signer_seam != m.mrsigner {
        return Err(format!("MRSIGNERSEAM {} is not {}", hex::encode(mr_signer_seam), hex::encode(m.mrsigner)));
    }
    for i in 0..8 {
        let (a, e, mask) = (seam_attributes[i], m.attributes[i], m.attributes_mask[i]);
        if a & mask != e & mask || a & !mask != 0 {
            return Err(format!(
                "SEAMATTRIBUTES {} do not match {} under mask {}",
                hex::encode(seam_attributes),
                hex::encode(m.attributes),
                hex::encode(m.attributes_mask)
            ));
        }
    }
    Ok(())
}

/// Step 11: the platform's, module's and QE's statuses merge into the worse one with every advisory; the
/// policy must accept the status (never `Revoked`) and every advisory.
pub(crate) fn tcb_status(
    checks: &mut Checks<TdxCheck>,
    platform: Option<&TcbVerdict>,
    module: Result<Option<&TcbVerdict>, ()>,
    qe: Option<&TcbVerdict>,
    policy: &TdxPolicy,
) -> Option<TcbVerdict> {
    let (Some(platform), Ok(module), Some(qe)) = (platform, module, qe) else {
        checks.not_run(TdxCheck::TcbStatus, "the platform, TDX module or QE TCB level is unknown");
        return None;
    };
    let mut merged = platform.clone();
    if let Some(m) = module {
        merged = merged.merge(m);
    }
    let merged = merged.merge(qe);
    let unaccepted: Vec<&str> =
        merged.advisory_ids.iter().filter(|a| !policy.accepted_advisories.contains(a)).map(String::as_str).collect();
    if merged.status == TcbStatus::Revoked || !policy.accepted_tcb_statuses.contains(&merged.status) {
        checks.fail(TdxCheck::TcbStatus, format!("TCB status {merged} is not one the policy accepts"));
    } else if !unaccepted.is_empty() {
        checks.fail(
            TdxCheck::TcbStatus,
            format!("TCB status {merged}: the policy does not accept {}", unaccepted.join(", ")),
        );
    } else {
        checks.pass(TdxCheck::TcbStatus, format!("TCB status {merged}"));
    }
    Some(merged)
}
