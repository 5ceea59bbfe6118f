//! The generated negative corpus (ccgpu_attestation::sim::negative_corpus) over the real H100 evidence:
//! every case must be contraindicated, failing exactly the checks it names; and every single-byte change
//! of the report's signed region must be caught by the report's parser or its signature.

mod common;

use std::collections::BTreeSet;

use ccgpu_attestation::{
    Anchors, AttestationReport, GpuCheck, Verdict, VerifierCache,
    sim::{DevicePki, ReportBuilder, RimPki, byte_flips, negative_corpus, sign_rim},
};

use common::{appraise_case, appraise_with, failed, h100};

#[test]
fn every_case_fails_exactly_its_checks() {
    let Some(base) = h100() else { return };
    let cases = negative_corpus(&base).expect("corpus");
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let mut wrong = Vec::new();
    for case in &cases {
        let a = appraise_case(case, base.at, None);
        let got = failed(&a);
        if a.verdict != Verdict::Contraindicated || got != case.failing {
            wrong.push(format!(
                "{}: expected {:?}, got {:?} ({})",
                case.name,
                case.failing,
                got,
                a.checks
                    .iter()
                    .filter(|r| r.outcome.blocks())
                    .map(|r| format!("{}: {}", r.check, r.outcome.text()))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

/// The simulated PKIs alone (no corruption) give an affirming verdict when trusted, so each simulated
/// case isolates the one change it makes.
#[test]
fn simulated_pkis_without_changes_are_affirming() {
    let Some(base) = h100() else { return };
    let report = AttestationReport::parse(&base.report).expect("report");
    let fwid = report.opaque().fwid.expect("fwid");
    let device = DevicePki::generate("GH100", &fwid).expect("device pki");
    let rims = RimPki::generate().expect("rim pki");
    let resigned = ReportBuilder::from_report(&report).sign(&device).expect("sign");
    assert_eq!(resigned.len(), base.report.len());
    let driver = sign_rim(&String::from_utf8_lossy(&base.driver), &rims).expect("driver").into_bytes();
    let vbios = sign_rim(&String::from_utf8_lossy(&base.vbios), &rims).expect("vbios").into_bytes();
    let anchors = Anchors { device: device.anchor.clone(), rim: rims.anchor.clone() };
    let a = appraise_with(&resigned, &device.chain, &driver, &vbios, &base.nonce, base.at, &anchors, None);
    assert_eq!(a.verdict, Verdict::Affirming, "{:?}", a.checks.failures());
    // And the same evidence is refused under NVIDIA's roots: simulated roots are never trusted implicitly.
    let a = appraise_with(&resigned, &device.chain, &driver, &vbios, &base.nonce, base.at, &Anchors::nvidia(), None);
    assert_eq!(failed(&a), vec![GpuCheck::DeviceChain, GpuCheck::DriverRimChain, GpuCheck::VbiosRimChain]);
}

#[test]
fn every_single_byte_change_of_the_signed_region_is_caught() {
    let Some(base) = h100() else { return };
    let cache = VerifierCache::new();
    let anchors = Anchors::nvidia();
    let mut count = 0;
    for (offset, report) in byte_flips(&base.report) {
        let a = appraise_with(
            &report,
            &base.chain,
            &base.driver,
            &base.vbios,
            &base.nonce,
            base.at,
            &anchors,
            Some(&cache),
        );
        let got = failed(&a);
        assert_eq!(a.verdict, Verdict::Contraindicated, "flip at byte {offset}");
        assert!(
            got.contains(&GpuCheck::ReportParsed) || got.contains(&GpuCheck::ReportSignature),
            "flip at byte {offset} caught only by {got:?}"
        );
        count += 1;
    }
    assert_eq!(count, base.report.len() - 96);
}
