//! Steps 1, 2, 5 and 6: the report itself — it decodes, its reserved fields hold their required values,
//! it names the signature algorithm and key it should, and its signature verifies over the bytes as
//! received with the VCEK/VLEK's key.

use super::parsed;
use crate::appraisal::Checks;
use crate::snp::SnpCheck;
use crate::snp::chain;
use crate::snp::evidence::VekInput;
use crate::snp::product::Product;
use crate::snp::report::{self, REPORT_LEN, SIG_ALGO_ECDSA_P384_SHA384, SnpReport, key_info};
use crate::snp::vek::VekKind;

/// Step 1: The report is 1184 bytes of a known version and decodes; `product` (from the VCEK/VLEK) decides the
/// layout of a version 2 report with a masked CHIP_ID.
pub(crate) fn report_parsed<'a>(
    checks: &mut Checks<SnpCheck>,
    bytes: &'a [u8],
    product: Option<Product>,
) -> Option<SnpReport<'a>> {
    match SnpReport::parse(bytes, product) {
        Ok(r) => {
            let layout = match (r.layout_from_product(), r.has_fmc()) {
                (Some(p), _) => format!("{p} TCB layout from the VCEK/VLEK: CHIP_ID is masked"),
                (None, true) => "Turin TCB layout".to_owned(),
                (None, false) => "Milan/Genoa TCB layout".to_owned(),
            };
            checks.pass(SnpCheck::ReportParsed, format!("version {} report, {layout}", r.version()));
            Some(r)
        }
        Err(e) => {
            checks.fail(SnpCheck::ReportParsed, e.to_string());
            None
        }
    }
}

/// Step 2: Every reserved field and bit holds its required value, by name and offset, over the received bytes.
pub(crate) fn reserved_fields(checks: &mut Checks<SnpCheck>, report: Option<&SnpReport<'_>>) {
    let Some(r) = parsed(checks, report, &[SnpCheck::ReservedFields]) else { return };
    let problems = report::reserved_problems(r.raw(), r.has_fmc());
    if problems.is_empty() {
        checks.pass(SnpCheck::ReservedFields, "every reserved field and bit holds its required value");
    } else {
        checks.fail(SnpCheck::ReservedFields, problems.join("; "));
    }
}

/// Step 5: SIGNATURE_ALGO is ECDSA P-384/SHA-384 and KEY_INFO names the kind of key that the chain anchored
/// (any endorsement key when it did not).
pub(crate) fn signature_algorithm(
    checks: &mut Checks<SnpCheck>,
    report: Option<&SnpReport<'_>>,
    kind: Option<VekKind>,
) {
    let Some(r) = parsed(checks, report, &[SnpCheck::SignatureAlgorithm]) else { return };
    let f = r.fields();
    let mut problems = Vec::new();
    if f.sig_algo != SIG_ALGO_ECDSA_P384_SHA384 {
        problems.push(format!("SIGNATURE_ALGO is {}, not 1 (ECDSA P-384 with SHA-384)", f.sig_algo));
    }
    if r.mask_chip_key() {
        problems.push("KEY_INFO.MASK_CHIP_KEY is set: the firmware wrote zeros instead of a signature".to_owned());
    }
    let signing = r.signing_key();
    let signing_name = match signing {
        key_info::SIGNING_KEY_VCEK => "VCEK",
        key_info::SIGNING_KEY_VLEK => "VLEK",
        key_info::SIGNING_KEY_NONE => "none",
        _ => "reserved",
    };
    match kind {
        Some(k) if signing != k.signing_key_value() => problems
            .push(format!("KEY_INFO.SIGNING_KEY is {signing} ({signing_name}), but the certificate is a {}", k.name())),
        None if signing != key_info::SIGNING_KEY_VCEK && signing != key_info::SIGNING_KEY_VLEK => {
            problems.push(format!("KEY_INFO.SIGNING_KEY is {signing} ({signing_name})"));
        }
        _ => {}
    }
    if problems.is_empty() {
        checks.pass(SnpCheck::SignatureAlgorithm, format!("ECDSA P-384/SHA-384, signing key {signing_name}"));
    } else {
        checks.fail(SnpCheck::SignatureAlgorithm, problems.join("; "));
    }
}

/// Step 6: The report signature verifies over the bytes as received with the VCEK/VLEK's key.
pub(crate) fn report_signature(checks: &mut Checks<SnpCheck>, bytes: &[u8], vek: &VekInput<'_>, kind: Option<VekKind>) {
    let raw: Option<&[u8; REPORT_LEN]> = bytes.try_into().ok();
    match (raw, &vek.cert) {
        (Some(raw), Ok(v)) => match chain::endorsement_key(v) {
            Ok(key) => match report::verify_signature(raw, &key) {
                Ok(()) => checks.pass(
                    SnpCheck::ReportSignature,
                    format!(
                        "ECDSA P-384/SHA-384 over bytes [0, {:#x}) as received, key of the {}",
                        report::SIGNED_LEN,
                        kind.map_or("VCEK/VLEK", VekKind::name)
                    ),
                ),
                Err(e) => checks.fail(SnpCheck::ReportSignature, e.to_string()),
            },
            Err(e) => checks.fail(SnpCheck::ReportSignature, e.to_string()),
        },
        (None, _) => checks
            .not_run(SnpCheck::ReportSignature, format!("the report is {} bytes, not {}", bytes.len(), REPORT_LEN)),
        (_, Err(_)) => checks.not_run(SnpCheck::ReportSignature, "no readable VCEK/VLEK"),
    }
}
