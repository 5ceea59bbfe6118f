//! Steps 1 and 4–5: the report parses in the LS10 layout; it states the certificate's PDI and is bound to
//! the attestation certificate. Steps 6–7 (signature, nonce) are the GPU's own step functions
//! (`crate::gpu::report_signature`, `crate::gpu::nonce`), recorded under the switch's check names.

use x509_parser::certificate::X509Certificate;

use crate::appraisal::Checks;
use crate::nvidia::spdm::AttestationReport;
use crate::switch::{SwitchCheck, SwitchIdentity};
use crate::x509::leaf_fwid;

/// Step 1: The report parses as SPDM GET_MEASUREMENTS + MEASUREMENTS with LS10 opaque data.
pub(crate) fn report_parsed(checks: &mut Checks<SwitchCheck>, report: &[u8]) -> Option<AttestationReport> {
    match AttestationReport::parse_switch(report) {
        Ok(r) => {
            checks.pass(
                SwitchCheck::ReportParsed,
                format!("SPDM 1.1 LS10 report, {} measurement blocks", r.response().blocks.len()),
            );
            Some(r)
        }
        Err(e) => {
            checks.fail(SwitchCheck::ReportParsed, e.to_string());
            None
        }
    }
}

/// Step 4: The PDI the report states is the device certificate's (authoritative only if the chain
/// validated, which step 3 records).
pub(crate) fn pdi(checks: &mut Checks<SwitchCheck>, report_parsed: bool, identity: &SwitchIdentity) {
    let check = SwitchCheck::Pdi;
    if !report_parsed {
        return checks.not_run(check, "the report did not parse");
    }
    match (identity.reported_pdi, identity.pdi) {
        (Some(r), Some(c)) if r == c => checks.pass(check, format!("PDI {c} (report and device certificate)")),
        (Some(r), Some(c)) => {
            checks.fail(check, format!("the report states PDI {r}, the device certificate carries {c}"))
        }
        (None, _) => checks.fail(check, "the report states no device PDI (opaque type 22)"),
        (_, None) => checks.fail(check, "the device certificate (position 1) carries no PDI in its serial number"),
    }
}

/// Step 5: The report is bound to the attestation certificate: by FWID when the report carries one (it
/// must then equal the certificate's); an LS10 report has no FWID field, and the binding is the signature.
pub(crate) fn fwid(
    checks: &mut Checks<SwitchCheck>,
    report: Option<&AttestationReport>,
    leaf: Option<&X509Certificate<'_>>,
) {
    let check = SwitchCheck::Fwid;
    let (r, leaf) = match (report, leaf) {
        (Some(r), Some(leaf)) => (r, leaf),
        (None, _) => return checks.not_run(check, "the report did not parse"),
        (_, None) => return checks.not_run(check, "no readable attestation certificate"),
    };
    match (leaf_fwid(leaf), r.opaque().fwid) {
        (Err(e), _) => checks.fail(check, e.to_string()),
        (Ok(Some(cert)), Some(rep)) if cert == rep => {
            checks.pass(check, format!("certificate and report FWID {}", hex::encode(rep)))
        }
        (Ok(Some(cert)), Some(rep)) => checks.fail(
            check,
            format!("certificate FWID {} differs from report FWID {}", hex::encode(cert), hex::encode(rep)),
        ),
        (Ok(None), Some(_)) => {
            checks.fail(check, "the report carries an FWID but the attestation certificate has none")
        }
        (Ok(_), None) => checks.pass(
            check,
            "the LS10 report layout has no FWID field: the report is bound to the attestation certificate by its \
             signature (report-signature)",
        ),
    }
}
