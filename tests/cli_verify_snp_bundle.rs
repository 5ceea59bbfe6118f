//! `ccgpu verify snp` on real AMD reports and `ccgpu verify bundle` on a composite bundle made from the
//! real H100 evidence and a simulated SNP report: exit codes, text, JSON and EAR output.

use std::process::{Command, Output};

use ccgpu_attestation::{
    CertChain, CpuEvidence, EvidenceBundle, GpuBundleEvidence, Product, Tcb,
    sim::{SnpPki, SnpReportBuilder, VekSpec},
};
use ccgpu_test_support::testdata;

fn ccgpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccgpu")).args(args).output().expect("run ccgpu")
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A policy that pins no launch measurement accepts any guest image: every check passes, but the verdict
/// is `warning` with its own exit status (3), in text and JSON; pinning the measurement makes it affirming.
#[test]
fn real_genoa_report_is_a_warning_until_its_measurement_is_pinned_then_affirming() {
    let Some(dir) = testdata("snp/lunal") else { return };
    let report = dir.join("live-report-v5-genoa.bin").display().to_string();
    let vcek = dir.join("live-vcek-genoa.der").display().to_string();
    let rd = format!("{}{}", hex::encode("hello-attestation"), "0".repeat(128 - 34));
    let args = [
        "verify",
        "snp",
        "--report",
        &report,
        "--vcek",
        &vcek,
        "--at",
        "2026-03-01T00:00:00Z",
        "--report-data",
        &rd,
        "--crl",
        "off",
    ];
    let o = ccgpu(&args);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(out(&o).contains("warning: the policy pins no launch measurement"), "{}", out(&o));
    assert!(out(&o).trim_end().ends_with("verdict: warning"), "{}", out(&o));
    let mut json = args.to_vec();
    json.extend(["--format", "json"]);
    let o = ccgpu(&json);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["verdict"], "warning", "{v}");
    assert_eq!(v["failures"], serde_json::json!([]), "{v}");
    let measurement = v["identity"]["measurement"].as_str().expect("measurement").to_owned();

    let tmp = tempfile::tempdir().expect("tmp");
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, format!("[snp]\nmeasurements = [\"{measurement}\"]\n")).expect("write");
    let mut pinned = args.to_vec();
    pinned.extend(["--policy", policy.to_str().expect("utf-8")]);
    let o = ccgpu(&pinned);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).trim_end().ends_with("verdict: affirming"), "{}", out(&o));

    // Without the expected REPORT_DATA the default policy refuses: the report is not bound to anything.
    let o = ccgpu(&[
        "verify",
        "snp",
        "--report",
        &report,
        "--vcek",
        &vcek,
        "--at",
        "2026-03-01T00:00:00Z",
        "--crl",
        "off",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["failures"], serde_json::json!(["snp-report-data"]));

    let o = ccgpu(&["verify", "snp", "--report", &report, "--vcek", &vcek, "--report-data", "abc"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));

    // AMD's CRL: a file that is not one, an unreachable service, and `off` under a policy that requires
    // revocation each fail snp-ask-revocation (exit 1), naming why; every other check still runs.
    let tmp = tempfile::tempdir().expect("tmp");
    let junk = tmp.path().join("junk.crl");
    std::fs::write(&junk, b"not a crl").expect("write");
    let required = tmp.path().join("required.toml");
    std::fs::write(&required, "[ocsp]\nrequire = \"required\"\n").expect("write");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let closed = format!("http://{closed}");
    for (extra, why) in [
        (vec!["--crl", junk.to_str().expect("utf-8")], "the CRL does not parse"),
        (vec!["--crl", "online", "--crl-service", &closed, "--crl-cache", "off"], "AMD's CRL is unavailable: GET"),
        (vec!["--crl", "off", "--policy", required.to_str().expect("utf-8")], "requires revocation"),
    ] {
        let mut a = vec!["verify", "snp", "--report", &report, "--vcek", &vcek, "--at", "2026-03-01T00:00:00Z"];
        a.extend(["--report-data", &rd, "--format", "json"]);
        a.extend(extra);
        let o = ccgpu(&a);
        assert_eq!(o.status.code(), Some(1), "{why}: {}", out(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["failures"], serde_json::json!(["snp-ask-revocation"]), "{why}");
        let check =
            v["checks"].as_array().expect("checks").iter().find(|c| c["check"] == "snp-ask-revocation").cloned();
        assert!(check.as_ref().and_then(|c| c["reason"].as_str()).is_some_and(|r| r.contains(why)), "{why}: {check:?}");
    }
}

#[test]
fn bundle_verifies_with_recorded_ocsp_and_prints_an_ear() {
    let Some(h100) = testdata("nvidia/h100-550.90.07") else { return };
    let read = |rel: &str| std::fs::read(h100.join(rel)).expect("read");
    let hex_text =
        |b: Vec<u8>| hex::decode(String::from_utf8_lossy(&b).split_whitespace().collect::<String>()).expect("hex");
    let mut ocsp = Vec::new();
    for e in std::fs::read_dir(h100.join("ocsp")).expect("ocsp") {
        use base64::Engine as _;
        let text = std::fs::read_to_string(e.expect("entry").path()).expect("read");
        ocsp.push(base64::engine::general_purpose::STANDARD.decode(text.trim()).expect("b64"));
    }
    let gpu = GpuBundleEvidence {
        uuid: Some("GPU-11111111-2222-3333-4444-555555555555".into()),
        bdf: Some("0000:01:00.0".into()),
        report: hex_text(read("attestation-report.hex")),
        chain: CertChain::from_pem(&read("cert-chain.pem")).expect("chain"),
        driver_rim: Some(read("rims/NV_GPU_DRIVER_GH100_550.90.07.xml")),
        vbios_rim: Some(read("rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml")),
        ocsp,
    };
    let nonce: [u8; 32] = hex_text(read("nonce.hex")).try_into().expect("nonce");
    let mut bundle = EvidenceBundle { nonce, cpu: None, gpus: vec![gpu] };
    // The CPU report comes from a simulated AMD PKI: the CLI trusts only AMD's real roots, so the CPU part
    // must fail there while every GPU check and the binding computation still run.
    let pki = SnpPki::generate(Product::Genoa).expect("pki");
    let tcb = Tcb { bootloader: 10, tee: 0, snp: 23, microcode: 72, fmc: None };
    let vek = pki.issue_vek(&VekSpec::vcek(Product::Genoa, tcb, &[7; 64])).expect("vek");
    let mut b = SnpReportBuilder::new(Product::Genoa, 3, &tcb, &[7; 64]);
    b.set_report_data(&bundle.expected_report_data());
    bundle.cpu = Some(CpuEvidence {
        report: b.sign(&vek).expect("sign"),
        vek: vek.der.clone(),
        ask_ark: Some(pki.ask_ark_pem(ccgpu_attestation::VekKind::Vcek).into_bytes()),
    });

    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("bundle.json");
    std::fs::write(&path, bundle.to_json()).expect("write");
    let p = path.display().to_string();
    let nonce_hex = hex::encode(nonce);
    let times = ["--at", "2025-10-24T12:00:00Z", "--ocsp-at-device", "2025-08-21T12:00:00Z", "--nonce", &nonce_hex];

    let mut args = vec!["verify", "bundle", &p, "--format", "json"];
    args.extend(times);
    let o = ccgpu(&args);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let failures: Vec<String> = serde_json::from_value(v["failures"].clone()).expect("failures");
    assert!(
        !failures.is_empty() && failures.iter().all(|f| f.starts_with("cpu:snp-a")),
        "only the simulated AMD chain fails: {failures:?}"
    );
    assert_eq!(v["gpus"][0]["appraisal"]["verdict"], "affirming", "the bundled OCSP responses are used by default");
    assert_eq!(
        v["gpus"][0]["appraisal"]["claims"]["x-nvidia-gpu-vbios-rim-cert-chain"]["x-nvidia-cert-ocsp-status"],
        "good"
    );

    let mut args = vec!["verify", "bundle", &p, "--format", "ear"];
    args.extend(times);
    let o = ccgpu(&args);
    let ear: serde_json::Value = serde_json::from_slice(&o.stdout).expect("ear json");
    assert_eq!(ear["submods"]["gpu-0"]["ear_status"], "affirming");
    assert_eq!(ear["submods"]["cpu"]["ear_status"], "contraindicated");
    assert_eq!(ear["ear_status"], "contraindicated");

    // Without the issuer's nonce the bundle could be a replay: refused by the default policy.
    let o = ccgpu(&["verify", "bundle", &p, "--at", "2025-10-24T12:00:00Z", "--ocsp", "off", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(v["failures"].as_array().expect("failures").iter().any(|f| f == "bundle:bundle-nonce"), "{v}");
    let other = "11".repeat(32);
    let o = ccgpu(&["verify", "bundle", &p, "--at", "2025-10-24T12:00:00Z", "--ocsp", "off", "--nonce", &other]);
    assert!(out(&o).contains("FAIL     bundle-nonce"), "{}", out(&o));

    // Text output names every submodule; a truncated bundle is unusable input.
    let mut args = vec!["verify", "bundle", &p];
    args.extend(times);
    let text = out(&ccgpu(&args));
    assert!(text.contains("gpu-0    0000:01:00.0  GPU-11111111-2222-3333-4444-555555555555  driver 550.90.07  VBIOS 96.00.9F.00.01  (affirming)"), "{text}");
    std::fs::write(&path, &bundle.to_json()[..100]).expect("write");
    let o = ccgpu(&["verify", "bundle", &p]);
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains(&format!("bundle {p}")), "{}", out(&o));
}
