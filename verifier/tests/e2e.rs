//! End to end: the guest agent's bring-up in remote mode (its real remote client, checks and audit log,
//! over simulated GPUs and SEV-SNP) against the real `ccgpu-verifier` process on loopback. The GPUs are
//! released only on the service's affirming EAR; a tampered GPU stays locked; the service's log shows
//! both; the guest's record and the service's record of the same appraisal name the same evidence.
//!
//! The agent runs in this process, not as the `ccgpu-guest-agent` binary: the binary's `--simulate`
//! generates its simulated roots inside itself, and a verifier process cannot be given them.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccgpu_attestation::{LogReader, LogRecord, LogVerdict};
use ccgpu_guest_agent::sim::{GpuFault, SimFleet};
use ccgpu_guest_agent::{Agent, AuditLog, Config, EarKey, Mode, Outcome, RemoteConfig, RemoteVerifier, Waits};
use common::{Files, Guest};

struct Verifier {
    child: Child,
    url: String,
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(files: &Files) -> Verifier {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccgpu-verifier"))
        .arg("--listen=127.0.0.1:0")
        .arg(format!("--ear-key={}", files.ear_key.display()))
        .arg(format!("--log-key={}", files.log_key.display()))
        .arg(format!("--policy={}", files.policy.display()))
        .arg(format!("--log-dir={}", files.log_dir.display()))
        .arg(format!("--trust-dir={}", files.trust.display()))
        .arg(format!("--rims={}", files.rims.display()))
        .arg("--workers=2")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ccgpu-verifier");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    let url = line.trim().strip_prefix("ccgpu-verifier listening on ").unwrap_or_else(|| panic!("{line}")).to_owned();
    Verifier { child, url }
}

/// A fresh simulated guest in remote mode against `url`; returns the outcome, the fleet and its log.
fn remote_bring_up(url: &str, public_pem: &str, fault: Option<GpuFault>) -> (Outcome, SimFleet, Vec<LogRecord>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = SimFleet::new(common::pkis(), 2);
    if let Some(f) = fault {
        fleet.gpus.inject(f);
    }
    let remote = RemoteConfig {
        url: format!("{url}/v1/appraisals"),
        key: EarKey::from_pem(public_pem).expect("key"),
        timeout: Duration::from_secs(60),
    };
    let config = Config {
        log: dir.path().join("guest.log"),
        waits: Waits { base: Duration::ZERO, per_gpu: Duration::ZERO },
        mode: Mode::Remote,
        remote: Some(remote.clone()),
        ..Config::default()
    };
    let deps =
        fleet.deps(Arc::new(RemoteVerifier::new(&remote)), Arc::new(AuditLog::new(dir.path().join("guest.log"))));
    let outcome = Agent::new(config, deps, Instant::now()).bring_up();
    let records = LogReader::open(dir.path().join("guest.log"))
        .expect("guest log")
        .records()
        .map(|r| r.expect("record").1)
        .collect();
    (outcome, fleet, records)
}

#[test]
fn the_guest_is_released_only_on_the_services_affirming_ear_and_both_logs_agree() {
    let helper = Guest::new(2);
    let files = Files::new(&helper);
    let service = spawn(&files);

    let (outcome, fleet, guest_records) = remote_bring_up(&service.url, &files.ear_public_pem, None);
    assert_eq!(outcome, Outcome::Ready);
    assert_eq!(fleet.gpus.set_ready_calls(), vec![true], "released once, on the affirming EAR");

    let (tampered, tampered_fleet, tampered_records) =
        remote_bring_up(&service.url, &files.ear_public_pem, Some(GpuFault::RimMismatch(None)));
    assert!(matches!(tampered, Outcome::Failed(_)), "{tampered:?}");
    assert!(!tampered_fleet.gpus.set_ready_calls().contains(&true), "the tampered guest's GPUs stay locked");
    assert!(!tampered_fleet.gpus.is_ready());

    // The service's log: both appraisals, in order, on an intact chain.
    let path = files.log_dir.join("attestation-000001.log");
    LogReader::open(&path).expect("open").verify().expect("the service's log verifies");
    let service_records: Vec<LogRecord> =
        LogReader::open(&path).expect("open").records().map(|r| r.expect("record").1).collect();
    let verdicts: Vec<LogVerdict> = service_records.iter().map(|r| r.verdict).collect();
    assert_eq!(verdicts, [LogVerdict::Affirming, LogVerdict::Contraindicated]);
    assert!(service_records[1].failed_checks.iter().any(|c| c.contains("measurements")), "{:?}", service_records[1]);

    // Guest and service name the same evidence, for the same nonce.
    for (guest, service) in [(&guest_records[0], &service_records[0]), (&tampered_records[0], &service_records[1])] {
        assert_eq!(guest.nonce, service.nonce);
        assert_eq!(guest.devices.len(), service.devices.len());
        for (g, s) in guest.devices.iter().zip(&service.devices) {
            assert_eq!(
                (g.kind, &g.evidence.report, &g.evidence.chain),
                (s.kind, &s.evidence.report, &s.evidence.chain)
            );
            assert!(g.evidence.report.is_some());
            assert_eq!(g.evidence.driver_rim, s.evidence.driver_rim, "the service used the RIM the guest sent");
        }
        assert_eq!(guest.verdict, service.verdict);
    }
}
