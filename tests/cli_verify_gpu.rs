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
    let mut args = vec!["--at", at, "--ocsp", "off"];
    args.extend_from_slice(extra);
    verify_args(dir, &args)
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

/// A missing RIM is a failed check, not unusable input: every device check still runs and is reported.
#[test]
fn missing_rims_are_failed_checks_after_every_device_check_ran() {
    let Some(dir) = h100_dir() else { return };
    let empty = tempfile::tempdir().expect("tmp");
    let nonce = std::fs::read_to_string(dir.join("nonce.hex")).expect("nonce");
    let (chain, report) = (dir.join("cert-chain.pem"), dir.join("attestation-report.hex"));
    let rims = empty.path().display().to_string();
    let args = [
        "verify",
        "gpu",
        "--report",
        report.to_str().expect("utf-8"),
        "--cert-chain",
        chain.to_str().expect("utf-8"),
        "--rim-dir",
        &rims,
        "--nonce",
        nonce.trim(),
        "--ocsp",
        "off",
        "--at",
        "2025-09-01T00:00:00Z",
    ];
    let o = ccgpu(&args);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    for check in ["device-chain", "fwid", "report-signature", "nonce"] {
        assert!(out.contains(&format!("pass     {check} ")), "{check} did not run and pass:\n{out}");
    }
    assert!(out.contains("FAIL     driver-rim-present"), "{out}");
    assert!(out.contains("FAIL     vbios-rim-present"), "{out}");
    assert!(out.contains(&format!("no driver RIM for this GPU in {rims}")), "{out}");
    assert!(out.contains("NV_GPU_DRIVER_GH100_550.90.07.xml"), "{out}");

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let o = ccgpu(&json_args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let failures = v["failures"].as_array().expect("failures");
    assert!(failures.contains(&"driver-rim-present".into()) && failures.contains(&"vbios-rim-present".into()), "{v}");
    assert!(!failures.contains(&"report-signature".into()) && !failures.contains(&"nonce".into()), "{v}");
}

#[test]
fn unusable_input_exits_2_and_names_the_file() {
    let Some(dir) = h100_dir() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let nonce = std::fs::read_to_string(dir.join("nonce.hex")).expect("nonce");
    let chain = dir.join("cert-chain.pem").display().to_string();
    let rims = dir.join("rims").display().to_string();
    let report = dir.join("attestation-report.hex").display().to_string();
    // `verify gpu` with OCSP off and these inputs; asserts exit 2 and returns stderr.
    let unusable = |report: &str, rims: &str, nonce: &str, extra: &[&str]| {
        let mut args = vec!["verify", "gpu", "--report", report, "--cert-chain", &chain, "--rim-dir", rims];
        args.extend(["--nonce", nonce, "--ocsp", "off"]);
        args.extend_from_slice(extra);
        let o = ccgpu(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        stderr(&o)
    };

    let missing = tmp.path().join("missing.hex").display().to_string();
    let err = unusable(&missing, &rims, nonce.trim(), &[]);
    assert!(err.contains(&format!("cannot read report {missing}")), "{err}");

    let garbage = tmp.path().join("garbage.bin");
    std::fs::write(&garbage, b"\x11\xe0\x01").expect("write");
    let err = unusable(&garbage.display().to_string(), &rims, nonce.trim(), &[]);
    assert!(
        err.contains("is not an NVIDIA SPDM attestation report: report truncated: request Param2 at byte 3"),
        "{err}"
    );

    let err = unusable(&report, &rims, "abcd", &[]);
    assert!(err.contains("--nonce must be 64 hex digits"), "{err}");

    // A flag error is a usage error too.
    let err = unusable(&report, &rims, nonce.trim(), &["--at", "yesterday"]);
    assert!(err.contains("--at must be an RFC 3339 time"), "{err}");
}

#[test]
fn help_teaches_with_an_example() {
    let o = ccgpu(&["verify", "gpu", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("Exit status: 0 affirming; 1 evidence read but not affirming; 2 unusable input; 3 warning"),
        "{out}"
    );
    assert!(out.contains("--at 2025-09-01T00:00:00Z --ocsp off"));
}

/// The help's check list is the appraisal's numbered steps (attestation/src/{gpu,snp}/appraise.rs), one
/// line each, so an operator can match a failed check in the output to the list.
#[test]
fn help_lists_the_numbered_steps_of_each_appraisal() {
    for (kind, last) in [("gpu", 10), ("snp", 12)] {
        let out = stdout(&ccgpu(&["verify", kind, "--help"]));
        let steps: Vec<u32> =
            out.lines().filter_map(|l| l.trim_start().split_once(". ").and_then(|(n, _)| n.parse().ok())).collect();
        assert_eq!(steps, (1..=last).collect::<Vec<_>>(), "verify {kind} --help:\n{out}");
    }
}

#[test]
fn a_repeated_flag_is_a_usage_error() {
    let Some(dir) = h100_dir() else { return };
    let o = verify(&dir, "2025-10-24T12:00:00Z", &["--ocsp", "online"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A responder on localhost that answers every request with the recorded response whose serial the request
/// names (as NVIDIA's responder would), counting requests.
fn replay_responder(dir: &std::path::Path) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use base64::Engine as _;
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let mut responses: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for entry in std::fs::read_dir(dir.join("ocsp")).expect("ocsp dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        let der = base64::engine::general_purpose::STANDARD.decode(text.trim()).expect("b64");
        let parsed = ccgpu_attestation::OcspResponse::parse(&der).expect("parse");
        responses.push((parsed.responses[0].cert_id.serial.clone(), der));
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let found = responses.iter().find(|(serial, _)| body.windows(serial.len()).any(|w| w == serial.as_slice()));
            let reply = match found {
                Some((_, der)) => {
                    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", der.len()).into_bytes();
                    r.extend_from_slice(der);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = stream.write_all(&reply);
        }
    });
    (url, count)
}

fn verify_args(dir: &std::path::Path, extra: &[&str]) -> Output {
    let nonce = std::fs::read_to_string(dir.join("nonce.hex")).expect("nonce");
    let p = |rel: &str| dir.join(rel).display().to_string();
    let mut args: Vec<String> = ["verify", "gpu", "--report"].iter().map(|s| (*s).to_owned()).collect();
    args.extend([p("attestation-report.hex"), "--cert-chain".into(), p("cert-chain.pem")]);
    if !extra.contains(&"--rims") {
        args.extend(["--rim-dir".into(), p("rims")]);
    }
    args.extend(["--nonce".into(), nonce.trim().to_owned()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ccgpu(&args)
}

#[test]
fn recorded_ocsp_passes_inside_its_windows_and_fails_outside() {
    let Some(dir) = h100_dir() else { return };
    let ocsp = dir.join("ocsp").display().to_string();
    let o = verify_args(
        &dir,
        &[
            "--at",
            "2025-10-24T12:00:00Z",
            "--ocsp",
            &ocsp,
            "--ocsp-at-device",
            "2025-08-21T12:00:00Z",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["claims"]["x-nvidia-gpu-attestation-report-cert-chain"]["x-nvidia-cert-ocsp-status"], "good");
    assert_eq!(v["claims"]["x-nvidia-gpu-vbios-rim-cert-chain"]["x-nvidia-cert-ocsp-status"], "good");

    // One instant for both: the device-chain responses are stale by then.
    let o = verify_args(&dir, &["--at", "2025-10-24T12:00:00Z", "--ocsp", &ocsp]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("FAIL     device-chain-ocsp     certificate 1 (CN=GH100 A01 GSP BROM): OCSP response is not fresh at 2025-10-24T12:00:00Z: nextUpdate 2025-08-22T06:47:07Z has passed"), "{}", stdout(&o));
}

#[test]
fn ocsp_off_is_refused_when_the_policy_requires_ocsp() {
    let Some(dir) = h100_dir() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, "[ocsp]\nrequire = \"required\"\n").expect("write");
    let o = verify_args(
        &dir,
        &["--at", "2025-09-01T00:00:00Z", "--ocsp", "off", "--policy", &policy.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(
            "FAIL     device-chain-ocsp     revocation was not checked (OCSP off) but the policy requires OCSP"
        ),
        "{}",
        stdout(&o)
    );
    std::fs::write(&policy, "[ocsp]\nrequire = \"always\"\n").expect("write");
    let o = verify_args(
        &dir,
        &["--at", "2025-09-01T00:00:00Z", "--ocsp", "off", "--policy", &policy.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(2), "an invalid policy is unusable input");
    assert!(stderr(&o).contains(&format!("policy {}", policy.display())), "{}", stderr(&o));
}

#[test]
fn online_ocsp_asks_once_per_certificate_and_caches_until_next_update() {
    let Some(dir) = h100_dir() else { return };
    let (url, count) = replay_responder(&dir);
    let cache = tempfile::tempdir().expect("cache");
    let cache_arg = cache.path().display().to_string();
    let args = [
        "--at",
        "2025-10-24T12:00:00Z",
        "--ocsp",
        "online",
        "--ocsp-url",
        &url,
        "--ocsp-cache",
        &cache_arg,
        "--ocsp-at-device",
        "2025-08-21T12:00:00Z",
    ];
    let o = verify_args(&dir, &args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // 3 device-chain certificates + 3 driver RIM chain + 1 VBIOS leaf (the RIM chains share 2).
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 7);
    assert_eq!(std::fs::read_dir(cache.path()).expect("cache").count(), 7);
    // The cache is judged against the OCSP times: device responses are past nextUpdate at the RIM time,
    // so only they would be fetched again; with the device time pinned, nothing is.
    let o = verify_args(&dir, &args);
    assert_eq!(o.status.code(), Some(0));
    let asked = count.load(std::sync::atomic::Ordering::SeqCst);
    assert!(asked <= 10, "second run asked {} more times", asked - 7);
}

#[test]
fn the_example_policy_in_deploy_parses_and_is_the_default() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy.example.toml"))
        .expect("example policy");
    let parsed = ccgpu_attestation::Policy::parse(&text).expect("parses");
    assert_eq!(parsed, ccgpu_attestation::Policy::default(), "the example documents the defaults");
    // Uncommenting the examples yields a valid, stricter policy.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") || rest.starts_with('[') => {
                rest.split("   #").next().unwrap_or(rest).to_owned()
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\"<96 hex digits>\"", &format!("\"{}\"", "ab".repeat(48)))
        .replace("\"<64 hex digits>\"", &format!("\"{}\"", "cd".repeat(32)));
    let strict = ccgpu_attestation::Policy::parse(&uncommented).expect("uncommented example parses");
    assert_eq!(strict.gpu.min_driver_version.as_deref(), Some("550.90"));
    assert_eq!(strict.snp.vmpl, Some(0));
}

/// Serves `answers` requests on loopback in the RIM service's JSON shape: `/good/<id>` the real RIM of
/// that id from `rims`, `/tampered/<id>` the same with one golden value changed, anything else 404.
fn rim_service(rims: PathBuf, answers: usize) -> String {
    use base64::Engine as _;
    ccgpu_test_support::http::serve_get(answers, move |path| {
        let (kind, id) = path.trim_start_matches('/').split_once('/').unwrap_or(("", ""));
        let Ok(mut doc) = std::fs::read(rims.join(format!("{id}.xml"))) else {
            return Some(("404 Not Found", b"{}".to_vec()));
        };
        match kind {
            "good" => {}
            "tampered" => {
                let at = doc.windows(5).position(|w| w == b"Hash0").expect("a golden value") + 8;
                doc[at] = if doc[at] == b'0' { b'1' } else { b'0' };
            }
            _ => return Some(("404 Not Found", b"{}".to_vec())),
        }
        let rim = base64::engine::general_purpose::STANDARD.encode(&doc);
        Some(("200 OK", serde_json::to_vec(&serde_json::json!({ "id": id, "rim": rim })).expect("json")))
    })
}

/// `--rims online` against a loopback RIM service serving the real H100 RIMs: affirming; a tampered
/// document is served and refused by its signature check; a service without the RIMs fails the
/// `*-rim-present` checks, naming the URL, while every device check still runs.
#[test]
fn rims_from_the_rim_service_are_verified_like_local_files() {
    let Some(dir) = h100_dir() else { return };
    let base = rim_service(dir.join("rims"), 6);
    let run = |kind: &str| {
        let service = format!("{base}/{kind}/");
        verify(&dir, "2025-09-01T00:00:00Z", &["--rims", "online", "--rim-service", &service, "--rim-cache", "off"])
    };
    let o = run("good");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains(&format!("RIMs     NV_GPU_DRIVER_GH100_550.90.07 ({base}/good/NV_GPU_DRIVER_GH100_550.90.07)")),
        "{out}"
    );

    let o = run("tampered");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL     driver-rim-signature") && out.contains("FAIL     vbios-rim-signature"), "{out}");

    let o = run("missing");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL     driver-rim-present") && out.contains("pass     report-signature"), "{out}");
    assert!(out.contains("the RIM service has no RIM NV_GPU_DRIVER_GH100_550.90.07 (HTTP 404)"), "{out}");
}
