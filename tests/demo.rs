//! `ccgpu demo`, the README's first command, run as a user runs it: end to end on the simulated node it
//! ends with every GPU ready, an intact attestation log and nothing left behind; every `--tamper` case
//! ends with the GPUs locked and the log naming the check that caught it; `--real-evidence` verifies the
//! real H100 recording at its validity time and refuses it at a time its certificates have expired.
//! Each run gets its own TMPDIR, which must be empty again afterwards (unless `--keep`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn demo(tmp: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccgpu"))
        .arg("demo")
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("run ccgpu demo")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn assert_left_nothing(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp).expect("tmp").map(|e| e.expect("entry").path()).collect();
    assert!(left.is_empty(), "the demo left files behind: {left:?}");
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).expect("array of strings")
}

#[test]
fn the_pipeline_runs_end_to_end_and_leaves_the_machine_as_it_found_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = demo(tmp.path(), &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    // Every simulated piece says so; the real ones are named.
    for needle in [
        "SIMULATION:",
        "SIMULATED hardware",
        "API server (SIMULATED, in process)",
        "kubelet (SIMULATED stand-in) registered gpu.ccgpu.dev",
        "scheduler (SIMULATED)",
        "Kata runtime (SIMULATED)",
        "NVML (SIMULATED GPUs)",
        "SEV-SNP report (SIMULATED)",
        "NodePrepareResources (v1): 2 IOMMU group(s) bound to vfio-pci",
        "guest agent: 2/2 GPUs verified and ready",
        "NodeUnprepareResources (v1beta1)",
        "node back to its boot state",
        "ccgpu log verify: chain intact, 2 lines (1 affirming, 0 contraindicated)",
        "time to ready",
        "every GPU verified and released",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(!out.contains(" ✗ "), "no step failed:\n{out}");
    assert_left_nothing(tmp.path());
}

#[test]
fn json_reports_every_gpu_ready_with_its_group_cdi_id_and_log_record() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = demo(tmp.path(), &["--gpus", "4", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["mode"], "simulated");
    assert_eq!(v["ready"], true);
    assert_eq!(v["verdict"], "affirming");
    let gpus = v["gpus"].as_array().expect("gpus");
    assert_eq!(gpus.len(), 4);
    for (i, g) in gpus.iter().enumerate() {
        assert_eq!(g["state"], "ready", "{g}");
        assert_eq!(g["verdict"], "affirming", "{g}");
        assert_eq!(g["iommu_group"], (10 + i).to_string(), "{g}");
        let device = g["device"].as_str().expect("device");
        assert!(g["cdi_id"].as_str().expect("cdi id").ends_with(device), "{g}");
        assert!(g["cdi_id"].as_str().expect("cdi id").starts_with("ccgpu.dev/gpu=claim-"), "{g}");
        assert!(g["time_to_ready_ms"].as_f64().is_some(), "{g}");
    }
    assert!(v["steps"].as_array().expect("steps").iter().all(|s| s["ok"] == true), "{}", v["steps"]);
    assert_eq!(v["log"]["intact"], true);
    assert_eq!(v["log"]["records"], 1);
    let record = &v["log"]["last_record"];
    assert_eq!(record["verdict"], "affirming");
    // Every GPU and the SEV-SNP report, each with the digests of the evidence it was judged on.
    let devices = record["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 5);
    assert!(devices.iter().all(|d| d["evidence"]["report"].is_string()), "{record}");
    assert_left_nothing(tmp.path());
}

#[test]
fn every_tamper_case_keeps_the_gpus_locked_and_the_log_says_why() {
    let cases = [
        ("measurement", "gpu-1:measurements"),
        ("foreign-root", "gpu-1:device-chain"),
        ("forged-signature", "gpu-1:report-signature"),
        ("wrong-nonce", "gpu-1:nonce"),
        ("rim-signature", "gpu-0:driver-rim-signature"),
        ("snp-debug", "cpu:snp-guest-policy"),
        ("snp-binding", "cpu:snp-report-data"),
    ];
    for (case, check) in cases {
        let tmp = tempfile::tempdir().expect("tmp");
        let o = demo(tmp.path(), &["--tamper", case, "--json"]);
        assert_eq!(o.status.code(), Some(1), "{case}: {}", text(&o));
        let v = json(&o);
        assert_eq!(v["ready"], false, "{case}");
        assert_eq!(v["tamper"], case);
        let failures = strings(&v["failures"]);
        assert!(failures.contains(&check.to_owned()), "{case}: {failures:?} lacks {check}");
        for g in v["gpus"].as_array().expect("gpus") {
            assert!(g["state"].as_str().expect("state").starts_with("locked"), "{case}: {g}");
            assert!(g["time_to_ready_ms"].is_null(), "{case}: {g}");
        }
        // The log is intact and its last record says why.
        assert_eq!(v["log"]["intact"], true, "{case}");
        assert_eq!(v["log"]["contraindicated"], 1, "{case}");
        let record = &v["log"]["last_record"];
        assert_eq!(record["verdict"], "contraindicated", "{case}");
        assert!(strings(&record["failed_checks"]).contains(&check.to_owned()), "{case}: {record}");
        // Only the guest step failed; the host side prepared and cleaned up as usual.
        let failed: Vec<&str> = v["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter(|s| s["ok"] == false)
            .filter_map(|s| s["id"].as_str())
            .collect();
        assert_eq!(failed, vec!["bring-up"], "{case}");
        assert_left_nothing(tmp.path());
    }
}

#[test]
fn a_tampered_run_kept_on_disk_passes_ccgpu_log_verify_and_shows_why() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = demo(tmp.path(), &["--tamper", "wrong-nonce", "--keep"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for needle in [
        "TAMPER wrong-nonce",
        "guest agent: attestation FAILED, every GPU stays locked",
        "CC ready state never set",
        "records why: contraindicated, failed checks gpu-1:nonce",
        "the GPUs stayed locked and the log says why",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let work: Vec<_> = std::fs::read_dir(tmp.path()).expect("tmp").map(|e| e.expect("entry").path()).collect();
    assert_eq!(work.len(), 1, "{work:?}");
    let log = work[0].join("guest/attestation.log");
    let prepared: Vec<_> = std::fs::read_dir(work[0].join("prepared")).expect("prepared").collect();
    assert_eq!(prepared.len(), 2, "the CDI spec and the checkpoint record as prepared");
    // Sockets are gone even when the directory is kept.
    assert!(!work[0].join("kubelet/plugins_registry/gpu.ccgpu.dev-reg.sock").exists());
    assert!(!work[0].join("kubelet/plugins/gpu.ccgpu.dev/dra.sock").exists());
    let verify =
        Command::new(env!("CARGO_BIN_EXE_ccgpu")).args(["log", "verify"]).arg(&log).output().expect("log verify");
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(text(&verify).contains("chain intact"), "{}", text(&verify));
    let show = Command::new(env!("CARGO_BIN_EXE_ccgpu")).args(["log", "show"]).arg(&log).output().expect("log show");
    assert_eq!(show.status.code(), Some(0), "{}", text(&show));
    assert!(text(&show).contains("nonce"), "{}", text(&show));
}

#[test]
fn real_h100_evidence_verifies_at_its_validity_time_and_not_after_expiry() {
    let Some(dir) = ccgpu_test_support::testdata("nvidia/h100-550.90.07") else { return };
    let dir = dir.display().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let o = demo(tmp.path(), &["--real-evidence", &dir, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["mode"], "real-evidence");
    assert_eq!(v["recorded_gpu_evidence"], true);
    assert_eq!(v["ready"], true);
    assert_eq!(v["gpus"].as_array().expect("gpus").len(), 1);
    assert_eq!(v["gpus"][0]["state"], "ready");
    let record = &v["log"]["last_record"];
    assert_eq!(record["verdict"], "affirming");
    assert_eq!(record["verified_at"], "2025-09-01T00:00:00Z");
    let verify =
        v["steps"].as_array().expect("steps").iter().find(|s| s["id"] == "verify").expect("verify step").clone();
    let details = strings(&verify["details"]).join("\n");
    assert!(details.contains("NVIDIA's production"), "{details}");
    assert!(details.contains("7 recorded OCSP responses"), "{details}");
    assert!(details.contains("device-chain-ocsp") && details.contains("driver-rim-ocsp"), "{details}");
    assert_left_nothing(tmp.path());

    // The same recording today: NVIDIA's RIM signing certificates have expired, so it is refused.
    let o = demo(tmp.path(), &["--real-evidence", &dir, "--at", "2026-11-01T00:00:00Z", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["ready"], false);
    assert!(v["gpus"][0]["state"].as_str().expect("state").starts_with("locked"), "{}", v["gpus"][0]);
    let failures = strings(&v["failures"]);
    assert!(failures.contains(&"gpu-0:driver-rim-chain".to_owned()), "expired RIM signer: {failures:?}");
    assert_eq!(v["log"]["last_record"]["verdict"], "contraindicated");
    assert_left_nothing(tmp.path());
}

#[test]
fn unusable_arguments_exit_2() {
    let tmp = tempfile::tempdir().expect("tmp");
    for args in [
        &["--gpus", "9"][..],
        &["--gpus", "0"],
        &["--tamper", "nothing"],
        &["--real-evidence", "/nonexistent", "--tamper", "measurement"],
        &["--at", "2025-09-01T00:00:00Z"],
    ] {
        let o = demo(tmp.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
    let o = demo(tmp.path(), &["--real-evidence", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--real-evidence /nonexistent"), "{}", text(&o));
    assert_left_nothing(tmp.path());
}
