//! The real H100 evidence (driver 550.90.07) from ../shared/testdata, appraised with NVIDIA's production
//! roots at a pinned time inside every certificate's validity, and at a time after the RIM signers expired.

use ccgpu_attestation::{
    Anchors, CertChain, GpuAppraisal, GpuAppraise, GpuCheck, GpuEvidence, OcspResponse, Policy, Revocation, Verdict,
    appraise_gpu,
};
use ccgpu_test_support::require_testdata_bytes;
use time::OffsetDateTime;
use time::macros::datetime;

const DIR: &str = "nvidia/h100-550.90.07";

fn hex_text(bytes: &[u8]) -> Vec<u8> {
    hex::decode(String::from_utf8_lossy(bytes).split_whitespace().collect::<String>()).expect("hex")
}

struct Sample {
    report: Vec<u8>,
    chain: CertChain,
    driver: Vec<u8>,
    vbios: Vec<u8>,
    nonce: [u8; 32],
}

fn sample() -> Option<Sample> {
    let report = hex_text(&ccgpu_test_support::read_testdata(&format!("{DIR}/attestation-report.hex"))?);
    let chain =
        CertChain::from_pem(&ccgpu_test_support::read_testdata(&format!("{DIR}/cert-chain.pem"))?).expect("chain");
    let driver = ccgpu_test_support::read_testdata(&format!("{DIR}/rims/NV_GPU_DRIVER_GH100_550.90.07.xml"))?;
    let vbios = ccgpu_test_support::read_testdata(&format!("{DIR}/rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml"))?;
    let nonce: [u8; 32] =
        hex_text(&ccgpu_test_support::read_testdata(&format!("{DIR}/nonce.hex"))?).try_into().expect("32 bytes");
    Some(Sample { report, chain, driver, vbios, nonce })
}

fn appraise(s: &Sample, at: OffsetDateTime) -> GpuAppraisal {
    appraise_with_revocation(s, at, Revocation::NotChecked)
}

fn recorded_ocsp() -> Option<Vec<OcspResponse>> {
    use base64::Engine as _;
    let dir = ccgpu_test_support::testdata(&format!("{DIR}/ocsp"))?;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("ocsp dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        let der = base64::engine::general_purpose::STANDARD.decode(text.trim()).expect("base64");
        out.push(OcspResponse::parse(&der).expect("parses"));
    }
    Some(out)
}

fn appraise_with_revocation(s: &Sample, at: OffsetDateTime, revocation: Revocation<'_>) -> GpuAppraisal {
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let evidence =
        GpuEvidence { report: &s.report, chain: &s.chain, driver_rim: Some(&s.driver), vbios_rim: Some(&s.vbios) };
    appraise_gpu(
        &evidence,
        &GpuAppraise { nonce: &s.nonce, at, anchors: &anchors, policy: &policy, revocation, cache: None },
    )
}

#[test]
fn affirming_inside_the_validity_window() {
    let Some(s) = sample() else { return };
    let a = appraise(&s, datetime!(2025-09-01 0:00 UTC));
    for r in a.checks.iter() {
        eprintln!("{:28} {:?}", r.check.name(), r.outcome);
    }
    assert_eq!(a.verdict, Verdict::Affirming, "failures: {:?}", a.checks.failures());
    let m = a.measurements.as_ref().expect("compared");
    assert_eq!(m.active, (21, 12));
    assert_eq!(m.matched, (21, 12), "every golden value matches, index 35 included");
    assert!(m.mismatches.is_empty());
    assert_eq!(a.identity.driver_version.as_deref(), Some("550.90.07"));
    assert_eq!(a.identity.vbios_version.as_deref(), Some("96.00.9F.00.01"));
    assert_eq!(a.identity.hwmodel.as_deref(), Some("GH100 A01 GSP BROM"));
}

/// NVIDIA's own decoded v3 claims for exactly this evidence (from the attestation SDK's test data) are the
/// parity oracle: every claim they share must be equal, except revocation, which we did not check.
#[test]
fn claims_equal_nvidias_own_claims_for_this_evidence() {
    let Some(s) = sample() else { return };
    let oracle: serde_json::Value = serde_json::from_slice(&require_testdata_bytes!(
        "nvidia/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata/sample_attestation_data/hopperClaimsv3_decoded.json"
    ))
    .expect("json");
    let oracle = oracle["GPU-0"].as_object().expect("GPU-0").clone();
    let ours = appraise(&s, datetime!(2025-09-01 0:00 UTC)).nvidia_claims();
    let token_fields = ["iss", "exp", "iat", "nbf", "jti"];
    let mut compared = 0;
    for (k, v) in &oracle {
        if token_fields.contains(&k.as_str()) {
            continue;
        }
        let mut ours_v = ours.get(k).unwrap_or_else(|| panic!("claim {k} missing")).clone();
        let mut theirs = v.clone();
        if k.ends_with("-cert-chain") {
            // Revocation was not checked here (OCSP off): null in ours, "good" in NVIDIA's.
            ours_v["x-nvidia-cert-ocsp-status"] = serde_json::Value::Null;
            theirs["x-nvidia-cert-ocsp-status"] = serde_json::Value::Null;
        }
        assert_eq!(ours_v, theirs, "claim {k}");
        compared += 1;
    }
    assert_eq!(compared, oracle.len() - token_fields.len());
}

#[test]
fn not_affirming_today_and_names_the_expired_certificate() {
    let Some(s) = sample() else { return };
    let a = appraise(&s, datetime!(2026-11-23 0:00 UTC));
    assert_eq!(a.verdict, Verdict::Contraindicated);
    assert_eq!(
        a.checks.failures(),
        vec![GpuCheck::DriverRimChain, GpuCheck::VbiosRimChain, GpuCheck::IndexConflict, GpuCheck::Measurements]
    );
    let reason = a.checks.get(GpuCheck::DriverRimChain).expect("recorded").text().to_owned();
    assert_eq!(
        reason,
        "certificate 0 (CN=HCC RIM L4 Signer) expired at 2026-06-01T02:08:29Z, before the verification time 2026-11-23T00:00:00Z"
    );
    assert!(
        a.checks.get(GpuCheck::VbiosRimChain).expect("recorded").text().contains("expired at 2026-02-22T23:17:58Z")
    );
    // The device chain itself is valid until 9999.
    assert!(a.checks.passed(GpuCheck::DeviceChain));
    assert_eq!(a.nvidia_claims()["x-nvidia-gpu-driver-rim-cert-chain"]["x-nvidia-cert-status"], "expired");
}

/// With NVIDIA's recorded OCSP responses, each judged inside its own window (the device-chain responses
/// were produced on 2025-08-21, the RIM-chain ones on 2025-10-24), every chain is `good` and the claims
/// equal NVIDIA's own, revocation included.
#[test]
fn affirming_with_recorded_ocsp_and_claims_match_nvidia_including_revocation() {
    let (Some(s), Some(responses)) = (sample(), recorded_ocsp()) else { return };
    let revocation = Revocation::Responses {
        responses: &responses,
        device_at: datetime!(2025-08-21 12:00 UTC),
        rim_at: datetime!(2025-10-24 12:00 UTC),
    };
    let a = appraise_with_revocation(&s, datetime!(2025-10-24 12:00 UTC), revocation);
    assert_eq!(a.verdict, Verdict::Affirming, "{:?}", a.checks.failures());
    for check in [GpuCheck::DeviceChainOcsp, GpuCheck::DriverRimOcsp, GpuCheck::VbiosRimOcsp] {
        assert!(a.checks.passed(check), "{check}: {:?}", a.checks.get(check));
    }
    let claims = a.nvidia_claims();
    for chain in [
        "x-nvidia-gpu-attestation-report-cert-chain",
        "x-nvidia-gpu-driver-rim-cert-chain",
        "x-nvidia-gpu-vbios-rim-cert-chain",
    ] {
        assert_eq!(claims[chain]["x-nvidia-cert-ocsp-status"], "good", "{chain}");
    }
    assert_eq!(claims["x-ccgpu-ocsp-status"], "checked");
}

#[test]
fn recorded_ocsp_at_a_single_instant_fails_with_the_stale_bound() {
    let (Some(s), Some(responses)) = (sample(), recorded_ocsp()) else { return };
    let t = datetime!(2025-09-01 0:00 UTC);
    let a = appraise_with_revocation(&s, t, Revocation::Responses { responses: &responses, device_at: t, rim_at: t });
    assert_eq!(a.checks.failures(), vec![GpuCheck::DeviceChainOcsp, GpuCheck::DriverRimOcsp, GpuCheck::VbiosRimOcsp]);
    assert_eq!(
        a.checks.get(GpuCheck::DeviceChainOcsp).expect("recorded").text(),
        "certificate 1 (CN=GH100 A01 GSP BROM): OCSP response is not fresh at 2025-09-01T00:00:00Z: nextUpdate 2025-08-22T06:47:07Z has passed"
    );
    assert!(
        a.checks
            .get(GpuCheck::DriverRimOcsp)
            .expect("recorded")
            .text()
            .contains("producedAt 2025-10-24T11:32:21Z is in the future"),
        "{:?}",
        a.checks.get(GpuCheck::DriverRimOcsp)
    );
}

/// A cache hit never changes a verdict: validity is re-checked at every verification time, and a RIM that
/// differs by one byte is a different entry.
#[test]
fn the_cache_never_changes_a_verdict() {
    let Some(s) = sample() else { return };
    let cache = ccgpu_attestation::VerifierCache::new();
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let run = |driver: &[u8], at: OffsetDateTime| {
        let evidence =
            GpuEvidence { report: &s.report, chain: &s.chain, driver_rim: Some(driver), vbios_rim: Some(&s.vbios) };
        let ctx = GpuAppraise {
            nonce: &s.nonce,
            at,
            anchors: &anchors,
            policy: &policy,
            revocation: Revocation::NotChecked,
            cache: Some(&cache),
        };
        (appraise_gpu(&evidence, &ctx), appraise_gpu(&evidence, &GpuAppraise { cache: None, ..ctx }))
    };
    for (driver, at) in [
        (s.driver.clone(), datetime!(2025-09-01 0:00 UTC)),
        (s.driver.clone(), datetime!(2026-11-23 0:00 UTC)),
        (
            {
                let mut d = s.driver.clone();
                let at = d.len() / 2;
                d[at] ^= 1;
                d
            },
            datetime!(2025-09-01 0:00 UTC),
        ),
        (s.driver.clone(), datetime!(2025-09-01 0:00 UTC)),
    ] {
        let (cached, fresh) = run(&driver, at);
        assert_eq!(cached.checks, fresh.checks, "at {at}");
    }
    assert!(!cache.is_empty());
}
