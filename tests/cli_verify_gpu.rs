//! `ccgpu verify gpu` end to end: exit codes 0/1/2, the JSON shape, and errors that name the file.

use std::path::PathBuf;
use std::process::{Command, Output};

use ccgpu_test_support::testdata;

const H100: &str = "nvidia/h100-550.90.07";

fn h100_dir() -> Option<PathBuf> {
    testdata(H100)
}

fn ccgpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccgpu")).args(args).output().expect("run ccgpu")
}

fn verify(dir: &std::path::Path, at: &str, extra: &[&str]) -> Output {
    let nonce = std::fs::read_to_string(dir.join("nonce.hex")).expect("nonce");
    let p = |rel: &str| dir.join(rel).display().to_string();
    let mut args = vec![
        "verify".to_owned(),
        "gpu".into(),
        "--report".into(),
        p("attestation-report.hex"),
        "--cert-chain".into(),
        p("cert-chain.pem"),
        "--rim-dir".into(),
        p("rims"),
        "--nonce".into(),
        nonce.trim().to_owned(),
        "--at".into(),
        at.into(),
        "--ocsp".into(),
        "off".into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ccgpu(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn affirming_exits_0_with_a_readable_table() {
    let Some(dir) = h100_dir() else { return };
    let o = verify(&dir, "2025-09-01T00:00:00Z", &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("GPU      GH100 A01 GSP BROM (HOPPER)"), "{out}");
    assert!(out.contains("driver   550.90.07    VBIOS 96.00.9F.00.01    board 1010/0200/882"), "{out}");
    assert!(out.contains("pass     measurements          driver 21/21, VBIOS 12/12 golden values match"), "{out}");
    assert!(out.contains("skip     device-chain-ocsp     OCSP off: revocation not checked"), "{out}");
    assert!(out.trim_end().ends_with("verdict: affirming"), "{out}");
}

#[test]
fn expired_rim_signers_exit_1_and_json_names_the_failures() {
    let Some(dir) = h100_dir() else { return };
    let o = verify(&dir, "2026-11-23T00:00:00Z", &["--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "contraindicated");
    assert_eq!(
        v["failures"],
        serde_json::json!(["driver-rim-chain", "vbios-rim-chain", "index-conflict", "measurements"])
    );
    assert_eq!(v["claims"]["x-nvidia-gpu-attestation-report-signature-verified"], true);
    assert_eq!(v["claims"]["x-nvidia-gpu-driver-rim-cert-chain"]["x-nvidia-cert-status"], "expired");
    assert_eq!(v["claims"]["x-ccgpu-ocsp-status"], "not-checked");
    assert!(v["claims"].get("secboot").is_none(), "secboot only when measurements matched");
    let chain = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == "driver-rim-chain")
        .expect("check")
        .clone();
    assert_eq!(chain["status"], "failed");
    assert!(
        chain["reason"].as_str().expect("reason").contains("CN=HCC RIM L4 Signer) expired at 2026-06-01T02:08:29Z")
    );
}

#[test]
fn unusable_input_exits_2_and_names_the_file() {
    let Some(dir) = h100_dir() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let nonce = std::fs::read_to_string(dir.join("nonce.hex")).expect("nonce");
    let chain = dir.join("cert-chain.pem").display().to_string();
    let rims = dir.join("rims").display().to_string();
    let missing = tmp.path().join("missing.hex").display().to_string();

    let o = ccgpu(&[
        "verify",
        "gpu",
        "--report",
        &missing,
        "--cert-chain",
        &chain,
        "--rim-dir",
        &rims,
        "--nonce",
        nonce.trim(),
        "--ocsp",
        "off",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("cannot read report {missing}")), "{}", stderr(&o));

    let garbage = tmp.path().join("garbage.bin");
    std::fs::write(&garbage, b"\x11\xe0\x01").expect("write");
    let g = garbage.display().to_string();
    let o = ccgpu(&[
        "verify",
        "gpu",
        "--report",
        &g,
        "--cert-chain",
        &chain,
        "--rim-dir",
        &rims,
        "--nonce",
        nonce.trim(),
        "--ocsp",
        "off",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not an NVIDIA SPDM attestation report: report truncated: request Param2 at byte 3"),
        "{}",
        stderr(&o)
    );

    let report = dir.join("attestation-report.hex").display().to_string();
    let o = ccgpu(&[
        "verify",
        "gpu",
        "--report",
        &report,
        "--cert-chain",
        &chain,
        "--rim-dir",
        &rims,
        "--nonce",
        "abcd",
        "--ocsp",
        "off",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--nonce must be 64 hex digits"), "{}", stderr(&o));

    let empty = tmp.path().display().to_string();
    let o = ccgpu(&[
        "verify",
        "gpu",
        "--report",
        &report,
        "--cert-chain",
        &chain,
        "--rim-dir",
        &empty,
        "--nonce",
        nonce.trim(),
        "--ocsp",
        "off",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no driver RIM for this GPU in"), "{}", stderr(&o));
    assert!(stderr(&o).contains("NV_GPU_DRIVER_GH100_550.90.07.xml"), "{}", stderr(&o));

    // A flag error is a usage error too; --ocsp has no default in this version.
    let o = ccgpu(&[
        "verify",
        "gpu",
        "--report",
        &report,
        "--cert-chain",
        &chain,
        "--rim-dir",
        &rims,
        "--nonce",
        nonce.trim(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = ccgpu(&[
        "verify",
        "gpu",
        "--report",
        &report,
        "--cert-chain",
        &chain,
        "--rim-dir",
        &rims,
        "--nonce",
        nonce.trim(),
        "--ocsp",
        "off",
        "--at",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--at must be an RFC 3339 time"), "{}", stderr(&o));
}

#[test]
fn help_teaches_with_an_example() {
    let o = ccgpu(&["verify", "gpu", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("Exit status: 0 affirming; 1 evidence read but not affirming; 2 unusable input."));
    assert!(out.contains("--at 2025-09-01T00:00:00Z --ocsp off"));
}
