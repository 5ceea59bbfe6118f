//! Steps 12–15: the TD as the policy wants it — its attributes (DEBUG never), service TD, REPORTDATA and
//! the reference values the policy pins.

use super::needs;
use crate::appraisal::Checks;
use crate::tdx::identity::td_attribute;
use crate::tdx::policy::TdxPolicy;
use crate::tdx::quote::TdxQuote;
use crate::tdx::{TdxAppraise, TdxCheck};

const NOT_PARSED: &str = "the quote did not parse";

/// Step 12: DEBUG is off (always), no reserved TDATTRIBUTES bit is set, SEPT_VE_DISABLE is on (unless the
/// policy waives it), and TDATTRIBUTES and XFAM equal the policy's pins.
pub(crate) fn td_attributes(checks: &mut Checks<TdxCheck>, quote: Option<&TdxQuote<'_>>, policy: &TdxPolicy) {
    let Some(q) = needs(checks, quote, &[TdxCheck::TdAttributes], NOT_PARSED) else { return };
    let (attrs, xfam) = (q.body.td_attributes, q.body.xfam);
    let mut problems = Vec::new();
    if attrs & td_attribute::DEBUG != 0 {
        problems.push("the TD is a debug TD (TDATTRIBUTES.DEBUG): the host can read and write its state".to_owned());
    }
    let reserved = td_attribute::TUD_RESERVED
        | td_attribute::SEC_RESERVED
        | td_attribute::SEC_RESERVED_29
        | td_attribute::OTHER_RESERVED;
    if attrs & reserved != 0 {
        problems.push(format!("reserved TDATTRIBUTES bits are set ({:#x})", attrs & reserved));
    }
    if policy.require_sept_ve_disable && attrs & td_attribute::SEPT_VE_DISABLE == 0 {
        problems.push("SEPT_VE_DISABLE is off (TDATTRIBUTES bit 28)".to_owned());
    }
    if let Some(want) = policy.td_attributes
        && want.0 != attrs.to_le_bytes()
    {
        problems.push(format!("TDATTRIBUTES {} differ from the policy's {want}", hex::encode(attrs.to_le_bytes())));
    }
    if let Some(want) = policy.xfam
        && want.0 != xfam.to_le_bytes()
    {
        problems.push(format!("XFAM {} differs from the policy's {want}", hex::encode(xfam.to_le_bytes())));
    }
    if problems.is_empty() {
        checks.pass(
            TdxCheck::TdAttributes,
            format!(
                "TDATTRIBUTES {} (debug off), XFAM {}",
                hex::encode(attrs.to_le_bytes()),
                hex::encode(xfam.to_le_bytes())
            ),
        );
    } else {
        checks.fail(TdxCheck::TdAttributes, problems.join("; "));
    }
}

/// Step 13: MRSERVICETD is zero unless the policy allows a service TD.
pub(crate) fn service_td(checks: &mut Checks<TdxCheck>, quote: Option<&TdxQuote<'_>>, policy: &TdxPolicy) {
    let Some(q) = needs(checks, quote, &[TdxCheck::ServiceTd], NOT_PARSED) else { return };
    match q.body.mr_service_td {
        None => checks.pass(TdxCheck::ServiceTd, "a TD report 1.0 binds no service TD"),
        Some(m) if m == [0; 48] => checks.pass(TdxCheck::ServiceTd, "MRSERVICETD is zero"),
        Some(m) if policy.allow_service_td => {
            checks.pass(TdxCheck::ServiceTd, format!("MRSERVICETD {} (the policy allows a service TD)", hex::encode(m)))
        }
        Some(m) => checks.fail(
            TdxCheck::ServiceTd,
            format!("MRSERVICETD {} is bound; the policy allows no service TD", hex::encode(m)),
        ),
    }
}

/// Step 14: REPORTDATA is the expected value.
pub(crate) fn report_data(checks: &mut Checks<TdxCheck>, quote: Option<&TdxQuote<'_>>, ctx: &TdxAppraise<'_>) {
    let Some(q) = needs(checks, quote, &[TdxCheck::ReportData], NOT_PARSED) else { return };
    let got = &q.body.report_data;
    match ctx.expected_report_data {
        Some(want) if want == got => checks.pass(TdxCheck::ReportData, "REPORTDATA equals the expected value"),
        Some(want) => checks.fail(
            TdxCheck::ReportData,
            format!("REPORTDATA {} differs from the expected {}", hex::encode(got), hex::encode(want)),
        ),
        None if ctx.policy.require_report_data => {
            checks.fail(TdxCheck::ReportData, "no expected REPORTDATA was given and the policy requires one")
        }
        None => checks.skip(TdxCheck::ReportData, "the policy requires no REPORTDATA"),
    }
}

/// Step 15: MRTD, RTMR0–3, MRCONFIGID, MROWNER and MROWNERCONFIG are ones the policy allows.
pub(crate) fn reference_values(checks: &mut Checks<TdxCheck>, quote: Option<&TdxQuote<'_>>, policy: &TdxPolicy) {
    let these = [TdxCheck::Mrtd, TdxCheck::Rtmrs, TdxCheck::TdConfig];
    let Some(q) = needs(checks, quote, &these, NOT_PARSED) else { return };
    let b = &q.body;
    match &policy.mrtd {
        None => checks.skip(TdxCheck::Mrtd, "the policy lists no MRTD"),
        Some(allowed) if allowed.iter().any(|m| m.0 == b.mr_td) => {
            checks.pass(TdxCheck::Mrtd, format!("MRTD {} is allowed", hex::encode(b.mr_td)))
        }
        Some(allowed) => checks.fail(
            TdxCheck::Mrtd,
            format!("MRTD {} is not one of the {} the policy allows", hex::encode(b.mr_td), allowed.len()),
        ),
    }
    let mut pinned = 0;
    let mut wrong = Vec::new();
    for (i, pin) in policy.rtmrs().iter().enumerate() {
        if let Some(want) = pin {
            pinned += 1;
            if want.0 != b.rtmr[i] {
                wrong.push(format!("RTMR{i} {} differs from the policy's {want}", hex::encode(b.rtmr[i])));
            }
        }
    }
    record(checks, TdxCheck::Rtmrs, pinned, wrong, "RTMR");
    let mut pinned = 0;
    let mut wrong = Vec::new();
    for (name, pin, have) in [
        ("MRCONFIGID", &policy.mr_config_id, &b.mr_config_id),
        ("MROWNER", &policy.mr_owner, &b.mr_owner),
        ("MROWNERCONFIG", &policy.mr_owner_config, &b.mr_owner_config),
    ] {
        if let Some(want) = pin {
            pinned += 1;
            if want.0 != *have {
                wrong.push(format!("{name} {} differs from the policy's {want}", hex::encode(have)));
            }
        }
    }
    record(checks, TdxCheck::TdConfig, pinned, wrong, "MRCONFIGID/MROWNER/MROWNERCONFIG");
}

fn record(checks: &mut Checks<TdxCheck>, check: TdxCheck, pinned: usize, wrong: Vec<String>, what: &str) {
    if pinned == 0 {
        checks.skip(check, format!("the policy pins no {what}"));
    } else if wrong.is_empty() {
        checks.pass(check, format!("{pinned} pinned value(s) match"));
    } else {
        checks.fail(check, wrong.join("; "));
    }
}
