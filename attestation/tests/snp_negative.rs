//! The generated SEV-SNP negative corpus (ccgpu_attestation::sim::snp) over a real Milan report: every case
//! is contraindicated and fails exactly the checks it names; every single-byte change of the signed
//! region of every real report is caught by the report signature; every byte of the signature field is
//! caught by the signature (r, s) or the reserved-field check (the unsigned reserve).

mod snp_common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use ccgpu_attestation::{
    AmdRoots, Product, SnpCheck, SnpPolicy, Verdict, VerifierCache,
    sim::{SnpBase, SnpPki, SnpReportBuilder, VekSpec, snp_byte_flips, snp_negative_corpus},
    testing::snp::{REPORT_LEN, SIGNED_LEN, SnpReport, offset},
};

use snp_common::{appraise, explain, failed, real_reports};

/// One simulated Milan PKI for the whole binary (RSA-4096 key generation takes about a second).
fn milan_pki() -> &'static SnpPki {
    static PKI: OnceLock<SnpPki> = OnceLock::new();
    PKI.get_or_init(|| SnpPki::generate(Product::Milan).expect("simulated Milan PKI"))
}

fn base() -> Option<SnpBase> {
    let reals = real_reports()?;
    let virtee = reals.into_iter().find(|r| r.name == "virtee-milan-v2").expect("virtee");
    Some(SnpBase { report: virtee.report, vek: virtee.vek, at: virtee.at })
}

#[test]
fn every_case_fails_exactly_its_checks() {
    let Some(base) = base() else { return };
    let cases = snp_negative_corpus(&base, milan_pki()).expect("corpus");
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let cache = VerifierCache::new();
    let mut wrong = Vec::new();
    for case in &cases {
        // With and without the link cache: a cached link never changes an outcome.
        for cache in [None, Some(&cache)] {
            let a = appraise(
                &case.report,
                &case.vek,
                case.ask_ark.as_deref(),
                case.report_data.as_ref(),
                case.at,
                &case.policy,
                &case.roots,
                cache,
            );
            let got = failed(&a);
            if a.verdict != Verdict::Contraindicated || got != case.failing {
                wrong.push(format!("{}: expected {:?}, got {:?} ({})", case.name, case.failing, got, explain(&a)));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

/// The re-signed report without any change is affirming under the simulated roots, and refused under
/// AMD's: each simulated case isolates the one change it makes, and simulated roots are never trusted
/// implicitly.
#[test]
fn the_simulated_chain_alone_is_affirming_only_under_its_own_roots() {
    let Some(base) = base() else { return };
    let pki = milan_pki();
    let parsed = SnpReport::parse(&base.report, None).expect("report");
    let f = parsed.fields();
    let vcek = pki.issue_vek(&VekSpec::vcek(Product::Milan, f.reported_tcb.into(), &f.chip_id)).expect("vcek");
    let report = SnpReportBuilder::from_bytes(&base.report).expect("builder").sign(&vcek).expect("sign");
    assert_eq!(report[..SIGNED_LEN], base.report[..SIGNED_LEN], "only the signature changed");
    let rd = f.report_data;
    let policy = SnpPolicy::default();
    let sim_roots = pki.roots().expect("roots");
    let bundle = pki.ask_ark_pem(ccgpu_attestation::VekKind::Vcek);
    for ask_ark in [None, Some(bundle.as_bytes())] {
        let a = appraise(&report, &vcek.der, ask_ark, Some(&rd), base.at, &policy, &sim_roots, None);
        assert_eq!(a.checks.verdict(), Verdict::Affirming, "{}", explain(&a));
    }
    let a = appraise(&report, &vcek.der, None, Some(&rd), base.at, &policy, &AmdRoots::amd(), None);
    assert_eq!(failed(&a), vec![SnpCheck::Vek], "{}", explain(&a));
}

#[test]
fn every_single_byte_change_of_the_signed_region_of_every_real_report_is_caught() {
    let Some(reals) = real_reports() else { return };
    let roots = AmdRoots::amd();
    let cache = VerifierCache::new();
    let mut count = 0;
    for real in &reals {
        for (at, report) in snp_byte_flips(&real.report, 0..SIGNED_LEN) {
            let a = appraise(
                &report,
                &real.vek,
                None,
                Some(&real.report_data()),
                real.at,
                &real.policy,
                &roots,
                Some(&cache),
            );
            assert_eq!(a.verdict, Verdict::Contraindicated, "{}: flip at {at:#x}", real.name);
            let got = failed(&a);
            assert!(got.contains(&SnpCheck::ReportSignature), "{}: flip at {at:#x} caught only by {got:?}", real.name);
            count += 1;
        }
    }
    assert_eq!(count, reals.len() * SIGNED_LEN);
}

#[test]
fn every_byte_of_the_signature_field_is_caught() {
    let Some(reals) = real_reports() else { return };
    let roots = AmdRoots::amd();
    let cache = VerifierCache::new();
    for real in &reals {
        let appraise_flip = |report: &[u8]| {
            appraise(report, &real.vek, None, Some(&real.report_data()), real.at, &real.policy, &roots, Some(&cache))
        };
        for (at, report) in snp_byte_flips(&real.report, offset::SIGNATURE_R.start..offset::SIGNATURE_S.end) {
            let a = appraise_flip(&report);
            assert_eq!(failed(&a), vec![SnpCheck::ReportSignature], "{}: flip at {at:#x}: {}", real.name, explain(&a));
        }
        // The unsigned reserve: a signature cannot cover it, the reserved-field check does.
        for (at, report) in snp_byte_flips(&real.report, offset::RESERVED_SIGNATURE) {
            let a = appraise_flip(&report);
            assert_eq!(failed(&a), vec![SnpCheck::ReservedFields], "{}: flip at {at:#x}: {}", real.name, explain(&a));
        }
    }
    assert_eq!(offset::RESERVED_SIGNATURE.end, REPORT_LEN);
}
