//! Malformed SEV-SNP input never panics and is always refused: truncated and oversized reports, random
//! reports of every supported version, every single-byte change and every truncation of a real VCEK,
//! garbage certificates and bundles. (A `fuzz/` target for the SNP parser belongs with the other fuzz
//! targets; this file is its deterministic floor.)

mod snp_common;

use ccgpu_attestation::{
    AmdRoots, SnpCheck, SnpPolicy, Verdict, VerifierCache,
    testing::snp::{REPORT_LEN, SnpReport},
};
use proptest::prelude::*;
use time::macros::datetime;

use snp_common::{RealSnp, appraise, explain, failed, real_reports};

fn virtee() -> Option<RealSnp> {
    real_reports()?.into_iter().find(|r| r.name == "virtee-milan-v2")
}

#[test]
fn every_truncation_and_extension_of_a_report_is_refused_by_the_parser() {
    let Some(real) = virtee() else { return };
    let roots = AmdRoots::amd();
    let cache = VerifierCache::new();
    let mut long = real.report.clone();
    long.push(0);
    let doubled = [real.report.as_slice(), real.report.as_slice()].concat();
    let inputs = (0..REPORT_LEN).map(|n| real.report[..n].to_vec()).chain([long, doubled]);
    for report in inputs {
        let a =
            appraise(&report, &real.vek, None, Some(&real.report_data()), real.at, &real.policy, &roots, Some(&cache));
        assert_eq!(failed(&a), vec![SnpCheck::ReportParsed], "{} bytes: {}", report.len(), explain(&a));
        assert!(
            a.checks
                .get(SnpCheck::ReportParsed)
                .expect("parsed")
                .text()
                .contains(&format!("report is {} bytes", report.len())),
            "{} bytes",
            report.len()
        );
        // The chain is still judged on its own.
        assert!(a.checks.passed(SnpCheck::Vek), "{} bytes", report.len());
    }
}

#[test]
fn every_byte_change_and_truncation_of_a_real_vcek_is_refused() {
    let Some(real) = virtee() else { return };
    let roots = AmdRoots::amd();
    let cache = VerifierCache::new();
    let rd = real.report_data();
    let run = |vek: &[u8]| appraise(&real.report, vek, None, Some(&rd), real.at, &real.policy, &roots, Some(&cache));
    for i in 0..real.vek.len() {
        let mut vek = real.vek.clone();
        vek[i] ^= 0x01;
        let a = run(&vek);
        assert_eq!(a.verdict, Verdict::Contraindicated, "VCEK byte {i}");
        assert!(!a.checks.passed(SnpCheck::Vek), "VCEK byte {i} changed, yet the VCEK check passed");
    }
    for n in 0..real.vek.len() {
        let a = run(&real.vek[..n]);
        assert_eq!(failed(&a), vec![SnpCheck::Vek], "VCEK truncated to {n}: {}", explain(&a));
    }
}

#[test]
fn garbage_certificates_and_bundles_are_refused() {
    let Some(real) = virtee() else { return };
    let roots = AmdRoots::amd();
    let rd = real.report_data();
    let pem_of = |label: &str, der: &[u8]| pem::encode(&pem::Pem::new(label, der.to_vec()));
    let veks: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_vec(),
        pem_of("CERTIFICATE", b"\x30\x03\x02\x01\x00").into_bytes(),
        pem_of("PUBLIC KEY", &real.vek).into_bytes(),
        format!("{}{}", pem_of("CERTIFICATE", &real.vek), pem_of("CERTIFICATE", &real.vek)).into_bytes(),
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        vec![0xff; 4096],
    ];
    for vek in &veks {
        let a = appraise(&real.report, vek, None, Some(&rd), real.at, &real.policy, &roots, None);
        assert_eq!(a.verdict, Verdict::Contraindicated);
        assert_eq!(failed(&a), vec![SnpCheck::Vek], "{}", explain(&a));
    }
    let ark = roots.product(ccgpu_attestation::Product::Milan).expect("milan").ark().to_vec();
    let bundles: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"garbage".to_vec(),
        pem_of("CERTIFICATE", b"\x30\x00").into_bytes(),
        pem_of("PRIVATE KEY", &ark).into_bytes(),
        pem_of("CERTIFICATE", &ark).repeat(5).into_bytes(),
        pem_of("CERTIFICATE", &ark).as_bytes()[..200].to_vec(),
    ];
    for bundle in &bundles {
        let a = appraise(&real.report, &real.vek, Some(bundle), Some(&rd), real.at, &real.policy, &roots, None);
        assert_eq!(failed(&a), vec![SnpCheck::Ark], "{:?}: {}", String::from_utf8_lossy(bundle), explain(&a));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random reports of every supported version (random CPUID, random everything) parse or fail cleanly
    /// and are never affirming.
    #[test]
    fn random_reports_never_panic_and_never_pass(
        body in proptest::collection::vec(any::<u8>(), REPORT_LEN),
        version in prop_oneof![Just(2u32), Just(3), Just(5), any::<u32>()],
        mask_chip in any::<bool>(),
    ) {
        let mut report = body;
        report[..4].copy_from_slice(&version.to_le_bytes());
        if mask_chip {
            report[0x1a0..0x1e0].fill(0);
        }
        let _ = SnpReport::parse(&report, None);
        let real = virtee();
        let vek = real.as_ref().map_or(Vec::new(), |r| r.vek.clone());
        let a = appraise(&report, &vek, None, Some(&[0; 64]), datetime!(2025-01-01 0:00 UTC), &SnpPolicy::default(), &AmdRoots::amd(), None);
        prop_assert_eq!(a.verdict, Verdict::Contraindicated);
    }

    /// Random bytes as VCEK and bundle never panic.
    #[test]
    fn random_certificates_never_panic(vek in proptest::collection::vec(any::<u8>(), 0..2048), bundle in proptest::collection::vec(any::<u8>(), 0..512)) {
        let report = [0u8; REPORT_LEN];
        let a = appraise(&report, &vek, Some(&bundle), None, datetime!(2025-01-01 0:00 UTC), &SnpPolicy::default(), &AmdRoots::amd(), None);
        prop_assert_eq!(a.verdict, Verdict::Contraindicated);
    }
}
