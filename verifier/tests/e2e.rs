//! End to end: the guest agent's bring-up in remote mode (its real remote client, checks and audit log,
//! over simulated GPUs and SEV-SNP) against the real `ccgpu-verifier` process on loopback. The GPUs are
//! released only on the service's affirming EAR; a tampered GPU stays locked; the service's log shows
//! both; the guest's record and the service's record of the same appraisal name the same evidence.
//!
//! Two forms. The first runs the real `ccgpu-guest-agent` binary (`--simulate 2 --once`, remote mode
//! through a SHA-384-pinned configuration file, as a VM's would be): its simulated PKIs exist only inside
//! it, so it writes their roots and RIMs with the sim-only `--simulate-roots-out DIR`, and the verifier
//! process is started on them once they appear. Since the agent asks as soon as it has written them, it
//! is pointed at a loopback port this test holds, whose one connection is relayed byte for byte to the
//! verifier once that is listening (a TCP relay, no HTTP handling). The binary is another package's, so
//! cargo's `CARGO_BIN_EXE_*` does not name it: the test builds it (`$CARGO build -p ccgpu-guest-agent
//! --features sim`, a no-op when fresh) into the target directory this test binary runs from. The second
//! runs the agent in this process, for what the binary cannot do: inject a tampered GPU.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
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
    spawn_on(files, &files.trust, &files.rims)
}

/// The verifier with `files`' keys, policy and log, trusting `trust` and reading RIMs from `rims`.
fn spawn_on(files: &Files, trust: &Path, rims: &Path) -> Verifier {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccgpu-verifier"))
        .arg("--listen=127.0.0.1:0")
        .arg(format!("--ear-key={}", files.ear_key.display()))
        .arg(format!("--log-key={}", files.log_key.display()))
        .arg(format!("--policy={}", files.policy.display()))
        .arg(format!("--log-dir={}", files.log_dir.display()))
        .arg(format!("--trust-dir={}", trust.display()))
        .arg(format!("--rims={}", rims.display()))
        // The simulated PKI has no OCSP responder.
        .arg("--ocsp=off")
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

/// The `ccgpu-guest-agent` binary with the simulation, built into the target directory this test runs
/// from (`target/<profile>/deps/e2e-*` → `target/<profile>/ccgpu-guest-agent`) by the cargo running it.
fn guest_agent_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("this test's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let target_dir = profile_dir.parent().expect("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "ccgpu-guest-agent", "--features", "sim", "--bin", "ccgpu-guest-agent"])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "building ccgpu-guest-agent with the simulation failed");
    let bin = profile_dir.join(format!("ccgpu-guest-agent{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} not built", bin.display());
    bin
}

/// Waits (bounded) until `path` exists.
fn wait_for(path: &Path, limit: Duration) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < limit, "{} did not appear within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Relays the first connection on `listener` to `to`, both ways, until both sides close.
fn relay_one(listener: std::net::TcpListener, to: String) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else { return };
        let address = to.strip_prefix("http://").unwrap_or(&to).to_owned();
        let server = std::net::TcpStream::connect(address).expect("connect to the verifier");
        let (mut c_read, mut s_write) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c_read, &mut s_write);
            let _ = s_write.shutdown(std::net::Shutdown::Write);
        });
        let (mut s_read, mut c_write) = (server, client);
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(std::net::Shutdown::Write);
        let _ = up.join();
    })
}

/// One run of the real agent binary (2 simulated GPUs, remote mode, `--once`) against a verifier process
/// started on the roots the agent writes; `tamper` replaces one of the verifier's RIMs with a copy whose
/// signature no longer verifies. Returns the agent's summary, its log and the service's log.
fn binary_run(tamper: bool) -> (serde_json::Value, Vec<LogRecord>, Vec<LogRecord>) {
    let bin = guest_agent_binary();
    let helper = Guest::new(1);
    let files = Files::new(&helper);
    let work = tempfile::tempdir().expect("tempdir");
    let relay = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let relay_url = format!("http://{}", relay.local_addr().expect("address"));
    let config = format!(
        "mode = \"remote\"\n\n[remote]\nurl = \"{relay_url}/v1/appraisals\"\npublic_key_pem = \"\"\"\n{}\"\"\"\ntimeout_s = 120\n",
        files.ear_public_pem
    );
    let config_path = work.path().join("agent.toml");
    std::fs::write(&config_path, &config).expect("write");
    let guest_log = work.path().join("guest.log");
    let cmdline = work.path().join("cmdline");
    std::fs::write(
        &cmdline,
        format!(
            "console=ttyS0 ccgpu.config={} ccgpu.config_sha384={} ccgpu.log={} ccgpu.expect_gpus=2\n",
            config_path.display(),
            hex::encode(ccgpu_attestation::sha384(config.as_bytes())),
            guest_log.display()
        ),
    )
    .expect("write");
    let roots = work.path().join("roots");
    let agent = Command::new(&bin)
        .args(["--simulate", "2", "--once", "--no-vsock", "--simulate-roots-out"])
        .arg(&roots)
        .arg("--cmdline")
        .arg(&cmdline)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ccgpu-guest-agent");
    wait_for(&roots.join("rims"), Duration::from_secs(300));
    let rims = roots.join("rims");
    if tamper {
        let first = std::fs::read_dir(&rims).expect("rims").flatten().next().expect("a RIM").path();
        let mut doc = std::fs::read(&first).expect("read");
        let at = doc.windows(5).position(|w| w == b"Hash0").expect("a golden value") + 8;
        doc[at] = if doc[at] == b'0' { b'1' } else { b'0' };
        std::fs::write(&first, doc).expect("write");
    }
    let service = spawn_on(&files, &roots.join("trust"), &rims);
    let relaying = relay_one(relay, service.url.clone());
    let out = agent.wait_with_output().expect("the agent exits (--once)");
    relaying.join().expect("relay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(if tamper { 1 } else { 0 }), "{summary}");
    let read = |path: &Path| -> Vec<LogRecord> {
        let reader = LogReader::open(path).expect("open");
        reader.records().map(|r| r.expect("record").1).collect()
    };
    let service_log = files.log_dir.join("attestation-000001.log");
    LogReader::open(&service_log).expect("open").verify().expect("the service's log verifies");
    (summary, read(&guest_log), read(&service_log))
}

#[test]
fn the_real_agent_binary_is_released_on_the_real_services_ear_and_refused_on_a_tampered_rim() {
    let (summary, guest, service) = binary_run(false);
    assert_eq!((summary["outcome"].as_str(), summary["gpus"].as_u64()), (Some("ready"), Some(2)), "{summary}");
    assert_eq!(service.iter().map(|r| r.verdict).collect::<Vec<_>>(), [LogVerdict::Affirming]);
    assert_eq!(guest.len(), 1, "the agent's own record");
    assert_eq!((guest[0].nonce.clone(), guest[0].verdict), (service[0].nonce.clone(), service[0].verdict));
    for (g, s) in guest[0].devices.iter().zip(&service[0].devices) {
        assert!(g.evidence.report.is_some());
        assert_eq!((&g.evidence.report, &g.evidence.chain), (&s.evidence.report, &s.evidence.chain));
        assert_eq!(g.evidence.driver_rim, s.evidence.driver_rim, "the service used the RIM the guest sent");
    }

    let (summary, guest, service) = binary_run(true);
    assert_eq!(summary["outcome"], "failed", "a RIM the service cannot verify releases nothing: {summary}");
    assert_eq!(service.iter().map(|r| r.verdict).collect::<Vec<_>>(), [LogVerdict::Contraindicated]);
    assert!(service[0].failed_checks.iter().any(|c| c.contains("rim")), "{:?}", service[0].failed_checks);
    assert_eq!(guest.last().map(|r| &r.nonce), Some(&service[0].nonce), "both name the same appraisal");
}
