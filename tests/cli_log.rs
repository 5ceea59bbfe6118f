//! `ccgpu log verify|show|repair` on a log written by the library with real appraisals: an intact chain
//! exits 0 and prints its head; an edited line exits 1 naming it; show filters; repair moves a torn tail.

mod common_log {
    use ccgpu_attestation::Anchors;
    use ccgpu_attestation::CertChain;
    use ccgpu_attestation::Policy;
    use ccgpu_attestation::{AppendOptions, Appender, ClaimRef, GpuRef, LogContext, LogRecord};
    use ccgpu_attestation::{GpuAppraise, GpuEvidence, Revocation, appraise_gpu};
    use time::macros::datetime;

    /// Writes a log of `n` appraisals of the real H100 evidence alternating between a time when it is
    /// affirming and one when its RIM signers have expired. `None` when the shared data is absent.
    pub fn write(path: &std::path::Path, n: usize) -> Option<()> {
        let dir = ccgpu_test_support::testdata("nvidia/h100-550.90.07")?;
        let read = |rel: &str| std::fs::read(dir.join(rel)).expect("read");
        let hex_text =
            |b: Vec<u8>| hex::decode(String::from_utf8_lossy(&b).split_whitespace().collect::<String>()).expect("hex");
        let report = hex_text(read("attestation-report.hex"));
        let chain = CertChain::from_pem(&read("cert-chain.pem")).expect("chain");
        let driver = read("rims/NV_GPU_DRIVER_GH100_550.90.07.xml");
        let vbios = read("rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml");
        let nonce: [u8; 32] = hex_text(read("nonce.hex")).try_into().expect("nonce");
        let anchors = Anchors::nvidia();
        let policy = Policy::default();
        let log = Appender::open(path, AppendOptions::new(datetime!(2025-09-01 0:00 UTC))).expect("open log");
        for i in 0..n {
            let at = if i % 2 == 0 { datetime!(2025-09-01 0:00 UTC) } else { datetime!(2026-11-23 0:00 UTC) };
            let evidence =
                GpuEvidence { report: &report, chain: &chain, driver_rim: Some(&driver), vbios_rim: Some(&vbios) };
            let a = appraise_gpu(
                &evidence,
                &GpuAppraise {
                    nonce: &nonce,
                    at,
                    anchors: &anchors,
                    policy: &policy,
                    revocation: Revocation::NotChecked,
                    cache: None,
                },
            );
            let mut ctx = LogContext::new(at + time::Duration::seconds(i64::try_from(i).expect("small")));
            ctx.node = Some("gpu-node-1".into());
            ctx.claim =
                Some(ClaimRef { namespace: Some("ml".into()), name: Some(format!("claim-{i}")), uid: None, pod: None });
            let gpu = GpuRef {
                uuid: Some("GPU-11111111-2222-3333-4444-555555555555".into()),
                bdf: Some("0000:01:00.0".into()),
                chain_digest: None,
            };
            log.append(&LogRecord::from_gpu(&a, &ctx, &gpu).expect("record")).expect("append");
        }
        Some(())
    }
}

use std::process::{Command, Output};

fn ccgpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccgpu")).args(args).output().expect("run ccgpu")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn verify_show_and_tamper() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("attestation.log");
    if common_log::write(&path, 6).is_none() {
        return;
    }
    let p = path.display().to_string();

    let o = ccgpu(&["log", "verify", &p]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("chain intact") && out.contains("lines        7 (6 appraisals, 0 checkpoints)"), "{out}");
    assert!(out.contains("verdicts     3 affirming, 0 warning, 3 contraindicated"), "{out}");
    let head = out.lines().find_map(|l| l.trim().strip_prefix("head")).expect("head").trim().to_owned();
    assert!(head.starts_with("7:"), "{head}");
    assert_eq!(ccgpu(&["log", "verify", &p, "--anchor", &head]).status.code(), Some(0));

    let o = ccgpu(&["log", "show", &p, "--verdict", "contraindicated"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("3 record(s)") && text(&o).contains("driver-rim-chain"), "{}", text(&o));
    let o = ccgpu(&["log", "show", &p, "--since", "2026-01-01T00:00:00Z", "--gpu", "0000:01:00.0", "--format", "json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);

    // Edit line 4: verify names it (its hash is no longer the next line's prev).
    let original = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen("\"node\":\"gpu-node-1\"", "\"node\":\"gpu-node-2\"", 1);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let o = ccgpu(&["log", "verify", &p]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("BROKEN: line 4 (byte"), "{}", text(&o));
    assert!(text(&o).contains("was edited"), "{}", text(&o));
    let o = ccgpu(&["log", "show", &p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("2 record(s)"), "only the records before the break are shown: {}", text(&o));

    // Truncation is caught only against the anchor.
    let truncated: String = original.lines().take(6).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, truncated).expect("write");
    assert_eq!(ccgpu(&["log", "verify", &p]).status.code(), Some(0));
    assert_eq!(ccgpu(&["log", "verify", &p, "--anchor", &head]).status.code(), Some(1));

    // A torn tail (crash mid-append): verify refuses, repair moves it aside, verify passes again.
    let mut torn = original.clone().into_bytes();
    torn.extend_from_slice(b"{\"prev\":\"ab");
    std::fs::write(&path, &torn).expect("write");
    assert_eq!(ccgpu(&["log", "verify", &p]).status.code(), Some(1));
    let o = ccgpu(&["log", "repair", &p]);
    assert!(text(&o).contains("moved 11 torn byte(s)"), "{}", text(&o));
    assert_eq!(ccgpu(&["log", "verify", &p]).status.code(), Some(0));

    assert_eq!(ccgpu(&["log", "verify", "/nonexistent/log"]).status.code(), Some(2));
    assert_eq!(ccgpu(&["log", "verify", &p, "--anchor", "x"]).status.code(), Some(2));
}

/// With --checkpoint-key a log must carry signed checkpoints at the stated cadence: this one has none, so
/// it passes while it holds at most --checkpoint-every records and fails, naming the record, beyond.
#[test]
fn a_checkpoint_key_requires_checkpoints_at_the_cadence() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("attest.log");
    if common_log::write(&log, 3).is_none() {
        return;
    }
    let signer = ccgpu_attestation::CheckpointSigner::from_pkcs8(
        &ccgpu_attestation::CheckpointSigner::generate_pkcs8().expect("key"),
    )
    .expect("signer");
    let key = tmp.path().join("checkpoint.pub");
    std::fs::write(&key, signer.public_key_pem()).expect("write key");
    let (log, key) = (log.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let o = ccgpu(&["log", "verify", log, "--checkpoint-key", key, "--checkpoint-every", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ccgpu(&["log", "verify", log, "--checkpoint-key", key, "--checkpoint-every", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("line 4 (byte"), "{}", text(&o));
    assert!(text(&o).contains("record 3 after the header (no checkpoint yet)"), "{}", text(&o));
    let o = ccgpu(&["log", "verify", log, "--checkpoint-every", "2"]);
    assert_eq!(o.status.code(), Some(2), "--checkpoint-every without a key is a usage error: {}", text(&o));
}
