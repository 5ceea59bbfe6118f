//! The 2023 H100 sample (driver 545.00, VBIOS 96.00.5E.00.01, from NVIDIA/nvtrust's first verifier
//! samples), verified with the verdicts its SOURCES.md states — and what it shows about RIM provenance:
//! NVIDIA signed a test and a production VBIOS RIM with one tag id and version but different golden
//! values, and the report matches the *test* RIMs exactly. The verdict names the RIMs it used, refuses
//! NVIDIA's known test RIMs by default, and lets a policy pin RIMs by digest.

mod common;

use ccgpu_attestation::{
    Anchors, CertChain, GpuAppraisal, GpuAppraise, GpuCheck, GpuEvidence, Outcome, Policy, Revocation, Verdict,
    appraise_gpu,
};
use time::macros::datetime;

const DIR: &str = "nvidia/h100-545.00-2023";
const TEST_DRIVER: &str = "Driver_RIM_test_no_gpu.swidtag";
const TEST_VBIOS: &str = "1010_0200_882_96005E0001_test_no_gpu.swidtag";
const PROD_VBIOS: &str = "1010_0200_882_96005E0001_PROD.swidtag";

fn read(name: &str) -> Option<Vec<u8>> {
    ccgpu_test_support::read_testdata(&format!("{DIR}/{name}"))
}

/// Appraises the 545 report with these RIM files under `policy` (TOML) at 2024-06-01, inside every
/// certificate's validity (the RIM signers expired in June 2025).
fn appraise(driver: &str, vbios: &str, policy: &str) -> Option<GpuAppraisal> {
    let report = common::hex_text(&read("attestationReport.txt")?);
    let chain = CertChain::from_pem(&read("gpuAkCertChain.txt")?).expect("chain");
    let nonce: [u8; 32] = common::hex_text(&read("nonce.hex")?).try_into().expect("nonce");
    let (driver, vbios) = (read(driver)?, read(vbios)?);
    let policy = Policy::parse(policy).expect("policy");
    let anchors = Anchors::nvidia();
    let evidence = GpuEvidence { report: &report, chain: &chain, driver_rim: Some(&driver), vbios_rim: Some(&vbios) };
    let ctx = GpuAppraise {
        nonce: &nonce,
        at: datetime!(2024-06-01 0:00 UTC),
        anchors: &anchors,
        policy: &policy,
        revocation: Revocation::NotChecked,
        cache: None,
    };
    Some(appraise_gpu(&evidence, &ctx))
}

fn sha384_of(name: &str) -> String {
    hex::encode(ccgpu_attestation::sha384(&read(name).expect("rim")))
}

/// The report lacks an FWID (drivers before 550): the policy must tolerate that to judge anything else.
const NO_FWID: &str = "[gpu]\nallow_missing_fwid = true\n";
const TEST_RIMS_OK: &str = "[gpu]\nallow_missing_fwid = true\nallow_test_rims = true\n";

#[test]
fn with_test_rims_allowed_the_report_matches_nvidias_test_rims_exactly() {
    let Some(a) = appraise(TEST_DRIVER, TEST_VBIOS, TEST_RIMS_OK) else { return };
    assert_eq!(a.verdict, Verdict::Affirming, "{:?}", a.checks.failures());
    assert!(a.checks.passed(GpuCheck::Measurements));
    // The verdict names the RIMs it used.
    assert_eq!(a.rim_digests, (Some(sha384_of(TEST_DRIVER)), Some(sha384_of(TEST_VBIOS))));
    let json = a.to_json();
    assert_eq!(json["driver_rim_sha384"], sha384_of(TEST_DRIVER));
    assert_eq!(json["vbios_rim_sha384"], sha384_of(TEST_VBIOS));
    let ear = serde_json::to_value(a.to_ear(1, "test")).expect("ear");
    let claims = &ear["submods"]["gpu-0"]["ear.veraison.annotated-evidence"];
    let claims = if claims.is_null() { &ear["submods"]["gpu-0"]["ear_verifier_claims"] } else { claims };
    assert_eq!(claims["driver_rim_sha384"], sha384_of(TEST_DRIVER), "{ear}");
    assert_eq!(claims["vbios_rim_sha384"], sha384_of(TEST_VBIOS), "{ear}");
}

#[test]
fn nvidias_test_rims_are_refused_by_default() {
    let Some(a) = appraise(TEST_DRIVER, TEST_VBIOS, NO_FWID) else { return };
    assert_eq!(a.verdict, Verdict::Contraindicated);
    assert_eq!(a.checks.failures(), vec![GpuCheck::Policy]);
    let Some(Outcome::Failed { reason }) = a.checks.get(GpuCheck::Policy) else { panic!("policy") };
    assert!(reason.contains("is NVIDIA's test RIM Driver_RIM_test_no_gpu"), "{reason}");
    assert!(reason.contains(&sha384_of(TEST_DRIVER)), "{reason}");
}

#[test]
fn the_production_vbios_rim_of_the_same_identity_mismatches_at_1_2_3_9() {
    let Some(a) = appraise(TEST_DRIVER, PROD_VBIOS, TEST_RIMS_OK) else { return };
    assert_eq!(a.verdict, Verdict::Contraindicated);
    assert!(a.checks.passed(GpuCheck::VbiosRimIdentity), "the same tag, chip and version: indistinguishable");
    let m = a.measurements.as_ref().expect("compared");
    let mut indexes: Vec<usize> = m.mismatches.iter().map(|x| x.index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [1, 2, 3, 9]);
}

#[test]
fn without_the_fwid_tolerance_the_default_policy_refuses_the_report() {
    let Some(a) = appraise(TEST_DRIVER, TEST_VBIOS, "") else { return };
    assert_eq!(a.verdict, Verdict::Contraindicated);
    assert!(a.checks.failures().contains(&GpuCheck::Fwid), "{:?}", a.checks.failures());
}

#[test]
fn a_policy_pins_rims_by_digest_and_a_tag_id_cannot_tell_test_from_production() {
    let prod = sha384_of(PROD_VBIOS);
    let pinned = format!("{TEST_RIMS_OK}accepted_rims = [\"sha384:{}\", \"sha384:{prod}\"]\n", sha384_of(TEST_DRIVER));
    let Some(a) = appraise(TEST_DRIVER, TEST_VBIOS, &pinned) else { return };
    let Some(Outcome::Failed { reason }) = a.checks.get(GpuCheck::Policy) else { panic!("policy: {a:?}") };
    assert!(reason.contains(&format!("the VBIOS RIM sha384:{} (tag 560b6686", sha384_of(TEST_VBIOS))), "{reason}");
    assert!(reason.contains("is not in gpu.accepted_rims"), "{reason}");

    // By tag id both VBIOS RIMs are accepted: they carry the same one.
    let tags = format!(
        "{TEST_RIMS_OK}accepted_rims = [\"sha384:{}\", \"tag:560b6686b372407d02dea1bd3bcedf3865fff39a281705348b27edd21e5f32c6541642eb5db0a494a24884d60b009cfe\"]\n",
        sha384_of(TEST_DRIVER)
    );
    let a = appraise(TEST_DRIVER, TEST_VBIOS, &tags).expect("data");
    assert_eq!(a.verdict, Verdict::Affirming, "{:?}", a.checks.failures());

    assert!(Policy::parse("[gpu]\naccepted_rims = [\"560b66\"]\n").is_err(), "an entry must say what it is");
    assert!(Policy::parse("[gpu]\naccepted_rims = [\"sha384:abcd\"]\n").is_err(), "a digest is 96 hex digits");
}
