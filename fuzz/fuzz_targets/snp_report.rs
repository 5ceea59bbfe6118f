//! `snp::appraise_snp` on arbitrary report bytes with a real VCEK (the first half of the input is the report,
//! padded or cut to 1184 bytes; a flag byte picks whether the rest replaces the VCEK). SEV-SNP reports and
//! certificates reach a verifier from the untrusted host. Nothing may panic; a signature that verifies
//! must be over the real report's signed bytes, and an affirming verdict needs a VCEK AMD's chain vouches
//! for (a mutated certificate may still carry the real key, so the signature alone can pass).
#![no_main]

use ccgpu_attestation::{AmdRoots, SnpAppraise, SnpCheck, SnpEvidence, SnpPolicy, SnpRevocation, Verdict, appraise_snp};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use time::macros::datetime;

struct Real {
    report: Vec<u8>,
    vcek: Vec<u8>,
    roots: AmdRoots,
}

fn real() -> &'static Option<Real> {
    static REAL: OnceLock<Option<Real>> = OnceLock::new();
    REAL.get_or_init(|| {
        let report = ccgpu_test_support::read_testdata("snp/lunal/live-report-v5-genoa.bin")?;
        let vcek = ccgpu_test_support::read_testdata("snp/lunal/live-vcek-genoa.der")?;
        Some(Real { report, vcek, roots: AmdRoots::amd() })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(real) = real() else { return };
    let (flag, rest) = data.split_first().unwrap_or((&0, &[]));
    let (report, vek): (Vec<u8>, &[u8]) = if flag & 1 == 0 {
        // Mutations of the real report: XOR the input over it.
        let mut r = real.report.clone();
        for (b, d) in r.iter_mut().zip(rest) {
            *b ^= d;
        }
        (r, &real.vcek)
    } else {
        let cut = rest.len().min(1184);
        (rest[..cut].to_vec(), &rest[cut..])
    };
    let policy = SnpPolicy { require_report_data: false, ..SnpPolicy::default() };
    let a = appraise_snp(
        &SnpEvidence { report: &report, vek, ask_ark: None },
        &SnpAppraise {
            at: datetime!(2026-03-01 0:00 UTC),
            expected_report_data: None,
            policy: &policy,
            roots: &real.roots,
            cache: None,
            revocation: SnpRevocation::NotChecked { required: false },
        },
    );
    if a.checks.passed(SnpCheck::ReportSignature) {
        assert_eq!(&report[..0x2a0], &real.report[..0x2a0], "a changed signed region verified");
    }
    if a.checks.verdict() == Verdict::Affirming {
        assert!(a.checks.passed(SnpCheck::Vek), "affirming without an AMD-certified VCEK");
    }
});
