//! Steps 1, 4 and 5: the quote parses; the PCK signed the QE report, whose REPORT_DATA binds the
//! attestation key; the attestation key signed the quote.

use super::{Pck, needs, verify_p256};
use crate::appraisal::Checks;
use crate::tdx::TdxCheck;
use crate::tdx::quote::TdxQuote;

/// Step 1: the quote parses strictly.
pub(crate) fn quote_parsed<'a>(checks: &mut Checks<TdxCheck>, quote: &'a [u8]) -> Option<TdxQuote<'a>> {
    match TdxQuote::parse(quote) {
        Ok(q) => {
            checks.pass(
                TdxCheck::QuoteParsed,
                format!(
                    "v{} quote, {} body, {} unsigned trailing bytes ignored",
                    q.version,
                    q.body.kind.name(),
                    q.trailing
                ),
            );
            Some(q)
        }
        Err(e) => {
            checks.fail(TdxCheck::QuoteParsed, e.to_string());
            None
        }
    }
}

/// Step 4: the QE report is signed by the PCK key, and its REPORT_DATA is SHA-256(attestation key ‖
/// authentication data) followed by 32 zero bytes.
pub(crate) fn qe_report(checks: &mut Checks<TdxCheck>, quote: Option<&TdxQuote<'_>>, pck: Option<&Pck>) {
    let these = [TdxCheck::QeReportSignature, TdxCheck::QeReportData];
    let Some(q) = needs(checks, quote, &these, "the quote did not parse") else { return };
    match pck {
        None => checks.not_run(TdxCheck::QeReportSignature, "the PCK chain did not validate"),
        Some(p) if verify_p256(&p.point, q.qe_report_raw, &q.qe_report_signature) => {
            checks.pass(TdxCheck::QeReportSignature, "the PCK key signed the QE report")
        }
        Some(_) => checks.fail(TdxCheck::QeReportSignature, "the QE report signature does not verify with the PCK key"),
    }
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&q.attestation_key);
    ctx.update(q.qe_auth_data);
    let digest = ctx.finish();
    let rd = &q.qe_report.report_data;
    if rd[..32] != *digest.as_ref() {
        checks.fail(
            TdxCheck::QeReportData,
            format!(
                "QE REPORT_DATA {} is not SHA-256(attestation key ‖ auth data) {}",
                hex::encode(&rd[..32]),
                hex::encode(digest.as_ref())
            ),
        );
    } else if rd[32..].iter().any(|b| *b != 0) {
        checks.fail(TdxCheck::QeReportData, "the second half of the QE REPORT_DATA is not zero");
    } else {
        checks.pass(TdxCheck::QeReportData, "the QE report binds the attestation key and authentication data");
    }
}

/// Step 5: the attestation key signed header and body as received.
pub(crate) fn quote_signature(checks: &mut Checks<TdxCheck>, quote: Option<&TdxQuote<'_>>) {
    let Some(q) = needs(checks, quote, &[TdxCheck::QuoteSignature], "the quote did not parse") else { return };
    let mut point = [0x04u8; 65];
    point[1..].copy_from_slice(&q.attestation_key);
    if verify_p256(&point, q.signed(), &q.signature) {
        checks.pass(TdxCheck::QuoteSignature, format!("the attestation key signed bytes 0..{}", q.signed().len()))
    } else {
        checks.fail(TdxCheck::QuoteSignature, "the quote signature does not verify with the attestation key")
    }
}
