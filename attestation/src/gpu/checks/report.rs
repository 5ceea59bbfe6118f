//! Steps 1 and 4–6: the report parses; it is bound to the attestation certificate (FWID), signed with its
//! key, and fresh (the expected nonce).

use x509_parser::certificate::X509Certificate;

use crate::appraisal::{Check, Checks};
use crate::gpu::GpuCheck;
use crate::nvidia::spdm::AttestationReport;
use crate::policy::Policy;
use crate::x509::{leaf_fwid, leaf_public_key};

/// Step 1: The report parses as SPDM GET_MEASUREMENTS + MEASUREMENTS.
pub(crate) fn report_parsed(checks: &mut Checks<GpuCheck>, report: &[u8]) -> Option<AttestationReport> {
    match AttestationReport::parse(report) {
        Ok(r) => {
            checks.pass(
                GpuCheck::ReportParsed,
                format!("SPDM 1.1 report, {} measurement blocks", r.response().blocks.len()),
            );
            Some(r)
        }
        Err(e) => {
            checks.fail(GpuCheck::ReportParsed, e.to_string());
            None
        }
    }
}

/// Step 4: The FWID in the attestation certificate equals the FWID in the report.
pub(crate) fn fwid(
    checks: &mut Checks<GpuCheck>,
    report: Option<&AttestationReport>,
    leaf: Option<&X509Certificate<'_>>,
    policy: &Policy,
) {
    let check = GpuCheck::Fwid;
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
        (Ok(_), None) if policy.gpu.allow_missing_fwid => {
            checks.skip(check, "the report carries no FWID; policy allow_missing_fwid accepts that")
        }
        (Ok(_), None) => {
            checks.fail(check, "the report carries no FWID, so it cannot be bound to the attestation certificate")
        }
    }
}

/// Step 5: The report signature verifies with the attestation key (authoritative only if the device chain
/// validated). Recorded as `check` (the NVSwitch appraisal's step uses it too).
pub(crate) fn report_signature<C: Check>(
    checks: &mut Checks<C>,
    check: C,
    report: Option<&AttestationReport>,
    leaf: Option<&X509Certificate<'_>>,
) {
    let (r, leaf) = match (report, leaf) {
        (Some(r), Some(leaf)) => (r, leaf),
        (None, _) => return checks.not_run(check, "the report did not parse"),
        (_, None) => return checks.not_run(check, "no readable attestation certificate"),
    };
    match leaf_public_key(leaf) {
        Ok(key) => match r.verify_signature(&key) {
            Ok(()) => checks.pass(
                check,
                format!("ECDSA P-384/SHA-384 over {} bytes, key of chain certificate 0", r.signed_bytes().len()),
            ),
            Err(e) => checks.fail(check, format!("{e} (key of chain certificate 0)")),
        },
        Err(e) => checks.fail(check, format!("attestation certificate key: {e}")),
    }
}

/// Step 6: Freshness: the report's request nonce equals the expected nonce. Recorded as `check`.
pub(crate) fn nonce<C: Check>(
    checks: &mut Checks<C>,
    check: C,
    report: Option<&AttestationReport>,
    expected: &[u8; 32],
) {
    match report {
        Some(r) if &r.request().nonce == expected => checks.pass(check, "request nonce equals the expected nonce"),
        Some(r) => checks.fail(
            check,
            format!(
                "report nonce {} differs from the expected {}",
                hex::encode(r.request().nonce),
                hex::encode(expected)
            ),
        ),
        None => checks.not_run(check, "the report did not parse"),
    }
}
