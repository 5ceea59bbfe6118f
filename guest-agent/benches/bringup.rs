//! Guest agent bring-up: time from agent start to ready for 1 and 8 simulated GPUs, the agent's own
//! overhead (total minus the time spent inside the simulated hardware: NVML calls, report signing by the
//! simulated GPU and SEV-SNP firmware, modprobe, persistenced), and peak RSS of the real binary.
//!
//! Anchors measured in the same run: the bare `appraise_bundle` of the same evidence (cold cache, what
//! the agent's verification step costs by itself) and one fsync'd 2 KiB write on the disk the log is on.
//! nvrc's fixed 120 s persistenced wait is the stated anchor of design.md §8.
//!
//! `cargo bench -p ccgpu-guest-agent --bench bringup` prints the table of BENCHMARKS.md.

// Statistics over a few dozen durations: the float conversions cannot lose anything that matters.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ccgpu_attestation::{CertChain, EvidenceBundle, Policy};
use ccgpu_guest_agent::sim::{SimFleet, SimPkis};
use ccgpu_guest_agent::{
    Agent, AuditLog, CcSettings, CommandError, CpuReport, CpuTee, Deps, GpuBackend, GpuError, GpuInfo, GpuManagement,
    Outcome, SystemOps, TeeError,
};
use ccgpu_pci::PciAddress;

/// Nanoseconds spent inside the simulated hardware.
#[derive(Debug, Default)]
struct Meter(AtomicU64);

impl Meter {
    fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.0.fetch_add(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        out
    }

    fn take(&self) -> Duration {
        Duration::from_nanos(self.0.swap(0, Ordering::Relaxed))
    }
}

#[derive(Debug)]
struct TimedGpus(Arc<dyn GpuManagement>, Arc<Meter>);

impl GpuManagement for TimedGpus {
    fn gpus(&self) -> Result<Vec<PciAddress>, GpuError> {
        self.1.time(|| self.0.gpus())
    }
    fn info(&self, gpu: PciAddress) -> Result<GpuInfo, GpuError> {
        self.1.time(|| self.0.info(gpu))
    }
    fn cc_settings(&self, gpu: PciAddress) -> Result<CcSettings, GpuError> {
        self.1.time(|| self.0.cc_settings(gpu))
    }
    fn attestation_report(&self, gpu: PciAddress, nonce: &[u8; 32]) -> Result<Vec<u8>, GpuError> {
        self.1.time(|| self.0.attestation_report(gpu, nonce))
    }
    fn certificate_chain(&self, gpu: PciAddress) -> Result<CertChain, GpuError> {
        self.1.time(|| self.0.certificate_chain(gpu))
    }
    fn ready(&self) -> Result<bool, GpuError> {
        self.1.time(|| self.0.ready())
    }
    fn set_ready(&self, ready: bool) -> Result<(), GpuError> {
        self.1.time(|| self.0.set_ready(ready))
    }
}

#[derive(Debug)]
struct TimedBackend(Arc<dyn GpuBackend>, Arc<Meter>);

impl GpuBackend for TimedBackend {
    fn open(&self) -> Result<Arc<dyn GpuManagement>, GpuError> {
        let inner = self.1.time(|| self.0.open())?;
        Ok(Arc::new(TimedGpus(inner, Arc::clone(&self.1))))
    }
}

#[derive(Debug)]
struct TimedTee(Arc<dyn CpuTee>, Arc<Meter>);

impl CpuTee for TimedTee {
    fn present(&self) -> bool {
        self.1.time(|| self.0.present())
    }
    fn report(&self, report_data: &[u8; 64]) -> Result<CpuReport, TeeError> {
        self.1.time(|| self.0.report(report_data))
    }
}

#[derive(Debug)]
struct TimedSystem(Arc<dyn SystemOps>, Arc<Meter>);

impl SystemOps for TimedSystem {
    fn modprobe(&self, module: &str, params: &[String], timeout: Duration) -> Result<(), CommandError> {
        self.1.time(|| self.0.modprobe(module, params, timeout))
    }
    fn start_persistenced(&self, uvm: bool, timeout: Duration) -> Result<(), CommandError> {
        self.1.time(|| self.0.start_persistenced(uvm, timeout))
    }
    fn persistenced_alive(&self) -> Result<bool, CommandError> {
        self.1.time(|| self.0.persistenced_alive())
    }
}

fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Run {
    total: Vec<Duration>,
    overhead: Vec<Duration>,
    bundle: EvidenceBundle,
}

fn bring_up(pkis: &SimPkis, gpus: u8, reps: usize, log_dir: &Path) -> Run {
    let mut total = Vec::new();
    let mut overhead = Vec::new();
    let mut bundle = None;
    for rep in 0..reps {
        let fleet = SimFleet::new(pkis.clone(), gpus);
        let meter = Arc::new(Meter::default());
        let log = log_dir.join(format!("{gpus}-{rep}.log"));
        let config = common::config(log.clone());
        let verifier = Arc::new(fleet.local_verifier(Policy::default()).expect("verifier"));
        let sim = fleet.deps(verifier, Arc::new(AuditLog::new(&log)));
        let deps = Deps {
            system: Arc::new(TimedSystem(sim.system.clone(), Arc::clone(&meter))),
            gpu_backend: Arc::new(TimedBackend(sim.gpu_backend.clone(), Arc::clone(&meter))),
            tee: Arc::new(TimedTee(sim.tee.clone(), Arc::clone(&meter))),
            ..sim
        };
        let start = Instant::now();
        let agent = Agent::new(config, deps, start);
        let outcome = agent.bring_up();
        let elapsed = start.elapsed();
        assert_eq!(outcome, Outcome::Ready, "{:#?}", agent.status().snapshot());
        let hw = meter.take();
        total.push(elapsed);
        overhead.push(elapsed.saturating_sub(hw));
        if rep + 1 == reps {
            bundle = Some(agent.fresh_evidence([0x42; 32]).expect("evidence"));
        }
        let _ = std::fs::remove_file(&log);
    }
    Run { total, overhead, bundle: bundle.expect("at least one repetition") }
}

fn bare_verification(pkis: &SimPkis, bundle: &EvidenceBundle, reps: usize) -> Vec<Duration> {
    let verifier = common::RelyingParty::new(pkis);
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            let a = verifier.appraise(bundle);
            let d = t.elapsed();
            assert_eq!(a.verdict, ccgpu_attestation::Verdict::Affirming);
            d
        })
        .collect()
}

fn fsync_write(dir: &Path, reps: usize) -> Vec<Duration> {
    (0..reps)
        .map(|i| {
            let path = dir.join(format!("fsync-{i}"));
            let t = Instant::now();
            let mut f = std::fs::File::create(&path).expect("create");
            f.write_all(&[0x5a; 2048]).expect("write");
            f.sync_data().expect("sync");
            let d = t.elapsed();
            let _ = std::fs::remove_file(&path);
            d
        })
        .collect()
}

/// Peak RSS and in-binary bring-up time of the release binary.
fn binary(args: &[&str], dir: &Path, cmdline_extra: &str) -> (u64, Option<u64>) {
    let cmdline = dir.join("cmdline");
    std::fs::write(&cmdline, format!("ccgpu.log={}/bin.log {cmdline_extra}", dir.display())).expect("cmdline");
    let out = Command::new(env!("CARGO_BIN_EXE_ccgpu-guest-agent"))
        .args(args)
        .arg("--cmdline")
        .arg(&cmdline)
        .args(["--no-vsock", "--once"])
        .output()
        .expect("run the agent");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    let _ = std::fs::remove_file(dir.join("bin.log"));
    (v["peak_rss_kib"].as_u64().unwrap_or(0), v["bringup_us"].as_u64())
}

fn main() {
    let pkis = common::pkis();
    let tmpfs = PathBuf::from("/dev/shm");
    let disk = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let tmp = tempfile::tempdir_in(if tmpfs.is_dir() { &tmpfs } else { &disk }).expect("tempdir");
    let disk_tmp = tempfile::tempdir_in(&disk).expect("tempdir");

    // Warm-up (page cache, lazy statics).
    let _ = bring_up(&pkis, 1, 3, tmp.path());

    println!(
        "| GPUs | log on | start→ready p50 | p90 | agent overhead p50 | p90 | bare verification p50 | overhead / bare verification | overhead / 50 ms target | overhead / nvrc 120 s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (gpus, reps) in [(1u8, 40usize), (8, 15)] {
        for (where_, dir) in [("tmpfs", tmp.path()), ("disk", disk_tmp.path())] {
            let mut run = bring_up(&pkis, gpus, reps, dir);
            let mut bare = bare_verification(&pkis, &run.bundle, reps);
            let (t50, t90) = (quantile(&mut run.total, 0.5), quantile(&mut run.total, 0.9));
            let (o50, o90) = (quantile(&mut run.overhead, 0.5), quantile(&mut run.overhead, 0.9));
            let b50 = quantile(&mut bare, 0.5);
            println!(
                "| {gpus} | {where_} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}× | {:.3} | {:.1e} |",
                ms(t50),
                ms(t90),
                ms(o50),
                ms(o90),
                ms(b50),
                o50.as_secs_f64() / b50.as_secs_f64(),
                ms(o50) / 50.0,
                o50.as_secs_f64() / 120.0,
            );
        }
    }
    let mut sync_disk = fsync_write(disk_tmp.path(), 30);
    let mut sync_tmpfs = fsync_write(tmp.path(), 30);
    println!();
    println!(
        "anchor: one fsync'd 2 KiB write p50: disk {:.2} ms, tmpfs {:.3} ms",
        ms(quantile(&mut sync_disk, 0.5)),
        ms(quantile(&mut sync_tmpfs, 0.5))
    );

    println!();
    println!("| binary run | peak RSS | RSS / 15 MiB target | in-binary start→ready (with JSON logging) |");
    println!("|---|---|---|---|");
    let empty = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(empty.path().join("sys/bus/pci/devices")).expect("sysfs");
    let sysfs = empty.path().join("sys");
    let rows: [(&str, Vec<&str>); 3] = [
        ("real path, no GPU (no simulation loaded)", vec!["--sysfs", sysfs.to_str().unwrap_or("/nonexistent")]),
        ("--simulate 1", vec!["--simulate", "1"]),
        ("--simulate 8", vec!["--simulate", "8"]),
    ];
    for (label, args) in rows {
        let mut rss = Vec::new();
        let mut t = Vec::new();
        for _ in 0..5 {
            let (r, b) = binary(&args, tmp.path(), "");
            rss.push(r);
            if let Some(b) = b {
                t.push(Duration::from_micros(b));
            }
        }
        rss.sort_unstable();
        let r = rss[rss.len() / 2];
        let tt = if t.is_empty() { "—".to_owned() } else { format!("{:.2} ms", ms(quantile(&mut t, 0.5))) };
        println!("| {label} | {:.1} MiB | {:.2} | {tt} |", r as f64 / 1024.0, r as f64 / 1024.0 / 15.0);
    }
}
