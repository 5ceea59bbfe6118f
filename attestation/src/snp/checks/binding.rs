//! Steps 4, 7 and 8: what binds the report to the VCEK/VLEK and to this verification — one product named
//! by the chain, the certificate and the report; the certified TCB and chip; the expected REPORT_DATA.

use crate::appraisal::Checks;
use crate::snp::evidence::VekInput;
use crate::snp::product::Product;
use crate::snp::report::{REPORT_LEN, SnpReport, offset};
use crate::snp::tcb::Tcb;
use crate::snp::vek::{VekExtensions, VekKind};
use crate::snp::{SnpAppraise, SnpCheck};

/// The report and the VCEK/VLEK's AMD extensions, or why a check comparing them cannot run.
fn compared<'r, 'a>(
    report: Option<&'r SnpReport<'a>>,
    vek: &'r VekInput<'_>,
) -> Result<(&'r SnpReport<'a>, &'r VekExtensions), &'static str> {
    match (report, vek.extensions.as_ref()) {
        (Some(r), Some(Ok(e))) => Ok((r, e)),
        (None, _) => Err("the report did not parse"),
        (_, None) => Err("no readable VCEK/VLEK"),
        (_, Some(Err(_))) => Err("the VCEK/VLEK's AMD extensions do not decode"),
    }
}

/// Step 4: The chain's product, the VCEK/VLEK's productName and the report's CPUID (or TCB layout) agree; the
/// product they name.
pub(crate) fn product(
    checks: &mut Checks<SnpCheck>,
    report: Option<&SnpReport<'_>>,
    vek: &VekInput<'_>,
    chain_product: Option<Product>,
) -> Option<Product> {
    let (r, ext) = match compared(report, vek) {
        Ok(both) => both,
        Err(why) => {
            checks.not_run(SnpCheck::Product, why);
            return None;
        }
    };
    let Some(name) = &ext.product_name else {
        checks.fail(SnpCheck::Product, "the VCEK/VLEK has no productName extension");
        return None;
    };
    let Some(named) = Product::from_product_name(name) else {
        checks.fail(SnpCheck::Product, format!("the VCEK/VLEK's productName {name:?} is not a known product"));
        return None;
    };
    let mut problems = Vec::new();
    if let Some(c) = chain_product.filter(|c| *c != named) {
        problems.push(format!("the VCEK/VLEK is issued under the {c} roots but its productName is {name:?}"));
    }
    let report_says = match r.cpuid_product() {
        Some(Ok(p)) => {
            let f = r.fields();
            if p != named {
                problems.push(format!("the report's CPUID says {p}, the VCEK/VLEK's productName {name:?}"));
            }
            format!(
                "report CPUID family {:#04x} model {:#04x}",
                f.cpuid_fam_id.unwrap_or_default(),
                f.cpuid_mod_id.unwrap_or_default()
            )
        }
        Some(Err(e)) => {
            problems.push(format!("the report's {e}"));
            String::new()
        }
        None if r.layout_from_product().is_some() => "version 2 report with a masked CHIP_ID (no CPUID)".to_owned(),
        None => {
            if r.has_fmc() != named.has_fmc() {
                let layout = if r.has_fmc() { "Turin" } else { "Milan/Genoa" };
                problems
                    .push(format!("the report's CHIP_ID implies the {layout} TCB layout, the VCEK/VLEK is {name:?}"));
            }
            "version 2 report TCB layout".to_owned()
        }
    };
    if problems.is_empty() {
        checks.pass(SnpCheck::Product, format!("{named}: VCEK/VLEK productName {name:?}, {report_says}"));
        Some(named)
    } else {
        checks.fail(SnpCheck::Product, problems.join("; "));
        None
    }
}

/// Step 7: The VCEK/VLEK certifies the report's TCB and chip: its TCB extensions equal REPORTED_TCB, and a
/// VCEK's hwID equals CHIP_ID.
pub(crate) fn vek_binding(
    checks: &mut Checks<SnpCheck>,
    report: Option<&SnpReport<'_>>,
    vek: &VekInput<'_>,
    kind: Option<VekKind>,
) {
    match compared(report, vek) {
        Ok((r, ext)) => {
            vek_tcb(checks, r, ext, kind);
            chip_id(checks, r, ext, kind);
        }
        Err(why) => {
            checks.not_run(SnpCheck::VekTcb, why);
            checks.not_run(SnpCheck::ChipId, why);
        }
    }
}

/// The VCEK/VLEK's TCB extensions equal the report's REPORTED_TCB.
fn vek_tcb(checks: &mut Checks<SnpCheck>, r: &SnpReport<'_>, ext: &VekExtensions, kind: Option<VekKind>) {
    let reported: Tcb = r.fields().reported_tcb.into();
    let who = kind.map_or("VCEK/VLEK", VekKind::name);
    let mut problems = Vec::new();
    for (name, cert, report) in [
        ("blSPL", ext.bootloader, reported.bootloader),
        ("teeSPL", ext.tee, reported.tee),
        ("snpSPL", ext.snp, reported.snp),
        ("ucodeSPL", ext.microcode, reported.microcode),
    ] {
        match cert {
            None => problems.push(format!("the {who} has no {name} extension")),
            Some(c) if c != report => problems.push(format!("{name} {c} in the {who}, {report} in REPORTED_TCB")),
            Some(_) => {}
        }
    }
    match (ext.fmc, reported.fmc) {
        (Some(c), Some(rep)) if c != rep => problems.push(format!("fmcSPL {c} in the {who}, {rep} in REPORTED_TCB")),
        (None, Some(_)) => problems.push(format!("the {who} has no fmcSPL extension, the report has an FMC SPL")),
        (Some(_), None) => problems.push(format!("the {who} has an fmcSPL extension, the report's TCB has no FMC")),
        _ => {}
    }
    if problems.is_empty() {
        checks.pass(SnpCheck::VekTcb, format!("the {who} certifies REPORTED_TCB ({reported})"));
    } else {
        checks.fail(SnpCheck::VekTcb, problems.join("; "));
    }
}

/// The VCEK's hwID equals the report's CHIP_ID (skipped for a VLEK or a masked CHIP_ID).
fn chip_id(checks: &mut Checks<SnpCheck>, r: &SnpReport<'_>, ext: &VekExtensions, kind: Option<VekKind>) {
    if kind == Some(VekKind::Vlek) {
        checks.skip(
            SnpCheck::ChipId,
            "signed by a VLEK, which is shared by a cloud provider's fleet and carries no hwID: the report is not \
             bound to a chip",
        );
        return;
    }
    if r.chip_id_masked() {
        checks.skip(
            SnpCheck::ChipId,
            "CHIP_ID is masked (MASK_CHIP_ID): the hwID cannot be compared; the VCEK signature still binds the report \
             to one chip's key",
        );
        return;
    }
    let chip_id = &r.fields().chip_id;
    let expected_len = if r.has_fmc() { 8 } else { 64 };
    match &ext.hw_id {
        None => checks.fail(SnpCheck::ChipId, "the VCEK has no hwID extension"),
        Some(hw) if hw.len() != expected_len => checks.fail(
            SnpCheck::ChipId,
            format!("the VCEK's hwID is {} bytes, this product's CHIP_ID has {expected_len}", hw.len()),
        ),
        Some(hw) if chip_id[..expected_len] == hw[..] && chip_id[expected_len..].iter().all(|b| *b == 0) => {
            checks.pass(SnpCheck::ChipId, format!("the VCEK's hwID equals CHIP_ID {}", hex::encode(hw)))
        }
        Some(hw) => checks.fail(
            SnpCheck::ChipId,
            format!("the VCEK's hwID {} differs from the report's CHIP_ID {}", hex::encode(hw), hex::encode(chip_id)),
        ),
    }
}

/// Step 8: REPORT_DATA equals the expected value (the nonce binding), over the bytes as received.
pub(crate) fn report_data(checks: &mut Checks<SnpCheck>, report: &[u8], ctx: &SnpAppraise<'_>) {
    let raw: Option<&[u8; REPORT_LEN]> = report.try_into().ok();
    let Some(raw) = raw else {
        checks.not_run(SnpCheck::ReportData, "the report has the wrong length");
        return;
    };
    let got = &raw[offset::REPORT_DATA];
    match ctx.expected_report_data {
        Some(expected) if got == expected => checks.pass(SnpCheck::ReportData, "REPORT_DATA equals the expected value"),
        Some(expected) => checks.fail(
            SnpCheck::ReportData,
            format!("REPORT_DATA {} differs from the expected {}", hex::encode(got), hex::encode(expected)),
        ),
        None if ctx.policy.require_report_data => checks.fail(
            SnpCheck::ReportData,
            "no expected REPORT_DATA was given, and the policy requires one (require_report_data): the report is not \
             bound to this verification",
        ),
        None => checks.skip(
            SnpCheck::ReportData,
            "no expected REPORT_DATA was given and the policy allows that: freshness is not established",
        ),
    }
}
