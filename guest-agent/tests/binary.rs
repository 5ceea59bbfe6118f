//! The `ccgpu-guest-agent` binary: `--simulate` brings simulated GPUs to ready and records it; the real
//! path over an empty sysfs finds no GPU and says so; a bad configuration is refused with status 2.

use std::fs;
use std::process::Command;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ccgpu-guest-agent"))
}

#[test]
fn simulated_gpus_reach_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cmdline = dir.path().join("cmdline");
    let log = dir.path().join("attestation.log");
    fs::write(&cmdline, format!("console=ttyS0 ccgpu.log={} ccgpu.expect_gpus=2\n", log.display())).expect("write");
    let out = agent()
        .args(["--simulate", "2", "--once", "--no-vsock", "--cmdline"])
        .arg(&cmdline)
        .output()
        .expect("run the agent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary");
    assert_eq!(summary["outcome"], "ready");
    assert_eq!(summary["gpus"], 2);
    assert!(summary["peak_rss_kib"].as_u64().is_some());
    let text = fs::read_to_string(&log).expect("log");
    assert_eq!(text.lines().count(), 2, "header and one record");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"state\":\"ready\""), "structured state logs");
    assert!(stderr.contains("+sim\""), "a build with the simulation says so in its version: {stderr}");
}

#[test]
fn the_real_path_over_an_empty_sysfs_finds_no_gpu() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(dir.path().join("sys/bus/pci/devices")).expect("sysfs");
    let cmdline = dir.path().join("cmdline");
    fs::write(&cmdline, format!("ccgpu.log={}/a.log", dir.path().display())).expect("write");
    let out = agent()
        .args(["--once", "--no-vsock", "--cmdline"])
        .arg(&cmdline)
        .arg("--sysfs")
        .arg(dir.path().join("sys"))
        .output()
        .expect("run the agent");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["outcome"], "no-gpus");
}

#[test]
fn a_bad_configuration_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cmdline = dir.path().join("cmdline");
    fs::write(&cmdline, "ccgpu.mode=remote ccgpu.skip_verification=1").expect("write");
    let out =
        agent().args(["--simulate", "1", "--once", "--no-vsock", "--cmdline"]).arg(&cmdline).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown kernel parameter \"ccgpu.skip_verification\""), "{stderr}");
}
