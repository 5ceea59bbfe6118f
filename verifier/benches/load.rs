//! Load on the real `ccgpu-verifier` process from this one (a second process) over loopback: 1-GPU and
//! 8-GPU bundles from the simulated guest, cold (a fresh service per sample: empty chain and RIM caches)
//! and warm, with 1 and 2 worker threads; p50/p99 latency, saturation throughput, and appraisals per
//! CPU-second of the service (its utime+stime from /proc). Anchors in the same run: one fsync'd append
//! of a record-sized line on the same disk, and the log's append cost with fsync per record against group
//! commit (one fdatasync per 8 records).
//!
//! Bounded: `CCGPU_LOAD_COUNT` requests (default 300) or `CCGPU_LOAD_SECS` seconds (default 8) per warm
//! phase, whichever ends first; `CCGPU_LOAD_COLD` cold samples (default 8). Run with
//! `cargo bench -p ccgpu-verifier --bench load` (bench/verifier-load.sh adds NVIDIA's verifier).

// Statistics over counts and durations: the casts are of small, non-negative values.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Files, Guest};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; 100 ticks per second.
        (ticks(11) + ticks(12)) / 100.0
    }
}

fn spawn(files: &Files, log_dir: &Path, workers: usize) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccgpu-verifier"))
        .arg("--listen=127.0.0.1:0")
        .arg(format!("--ear-key={}", files.ear_key.display()))
        .arg(format!("--log-key={}", files.log_key.display()))
        .arg(format!("--policy={}", files.policy.display()))
        .arg(format!("--log-dir={}", log_dir.display()))
        .arg(format!("--trust-dir={}", files.trust.display()))
        .arg(format!("--rims={}", files.rims.display()))
        // The simulated PKI has no OCSP responder.
        .arg("--ocsp=off")
        .arg(format!("--workers={workers}"))
        .arg("--rate=1000000")
        .arg("--burst=1000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ccgpu-verifier");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    let url = line.trim().strip_prefix("ccgpu-verifier listening on ").expect("listening line").to_owned();
    Server { child, url: format!("{url}/v1/appraisals") }
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Duration {
    let t = Instant::now();
    let mut r = agent.post(url).header("content-type", "application/json").send(body).expect("POST");
    assert_eq!(r.status().as_u16(), 200);
    let v = r.headers().get("ccgpu-verdict").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let _ = r.body_mut().read_to_string();
    assert_eq!(v, "affirming", "the load is honest evidence");
    t.elapsed()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Closed loop (`clients` at once) or paced (`rate` per second over all clients), bounded.
fn run(
    url: &str,
    bodies: &[Vec<u8>],
    clients: usize,
    rate: Option<f64>,
    count: usize,
    secs: u64,
) -> (Vec<Duration>, f64) {
    let done = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (done, lat, url, bodies) = (Arc::clone(&done), Arc::clone(&lat), url.to_owned(), bodies.to_vec());
            std::thread::spawn(move || {
                let agent = common::http();
                let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
                let mut next =
                    Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / clients as f64));
                let mut i = c;
                loop {
                    if let Some(iv) = interval {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += iv;
                    }
                    if done.fetch_add(1, Ordering::Relaxed) >= count || Instant::now() >= deadline {
                        break;
                    }
                    let d = post(&agent, &url, &bodies[i % bodies.len()]);
                    lat.lock().expect("lock").push(d);
                    i += clients;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut v = Arc::try_unwrap(lat).expect("unique").into_inner().expect("lock");
    v.sort();
    let n = v.len() as f64;
    (v, n / elapsed)
}

fn fsync_anchor(dir: &Path) -> (Duration, Duration, Duration) {
    let line = vec![b'x'; 1500];
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("fsync.bin")).expect("open");
    let mut one = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        f.write_all(&line).expect("write");
        f.sync_data().expect("fdatasync");
        one.push(t.elapsed());
    }
    one.sort();
    // Group commit: 8 lines, one fdatasync; per record.
    let mut group = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        for _ in 0..8 {
            f.write_all(&line).expect("write");
        }
        f.sync_data().expect("fdatasync");
        group.push(t.elapsed() / 8);
    }
    group.sort();
    // The log's appender (fsync per record) with a real record.
    let appender = ccgpu_attestation::Appender::open(
        dir.join("append.log"),
        ccgpu_attestation::AppendOptions::new(time::OffsetDateTime::now_utc()),
    )
    .expect("appender");
    let record = ccgpu_attestation::LogRecord::new(
        &ccgpu_attestation::LogContext::new(time::OffsetDateTime::now_utc()),
        ccgpu_attestation::LogVerdict::Affirming,
        Vec::new(),
        Vec::new(),
    );
    let mut appends = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        appender.append(&record).expect("append");
        appends.push(t.elapsed());
    }
    appends.sort();
    (pct(&one, 0.5), pct(&group, 0.5), pct(&appends, 0.5))
}

fn main() {
    let count = usize::try_from(env("CCGPU_LOAD_COUNT", 300)).unwrap_or(300);
    let secs = env("CCGPU_LOAD_SECS", 8);
    let cold_samples = env("CCGPU_LOAD_COLD", 8);
    let g1 = Guest::new(1);
    let g8 = Guest::new(8);
    let files = Files::new(&g8);
    let bodies1: Vec<Vec<u8>> = (0..16u8).map(|i| g1.bundle([i; 32]).to_json()).collect();
    let bodies8: Vec<Vec<u8>> = (0..16u8).map(|i| g8.bundle([i; 32]).to_json()).collect();
    let scratch = tempfile::tempdir().expect("tempdir");

    let (fsync, group, append) = fsync_anchor(scratch.path());
    println!(
        "anchor: one fsync'd 1.5 KiB append p50 {} ms; group commit (8/fdatasync) {} ms per record; log Appender::append p50 {} ms",
        ms(fsync),
        ms(group),
        ms(append)
    );

    let mut run_no = 0;
    let mut log_dir = || {
        run_no += 1;
        scratch.path().join(format!("log-{run_no}"))
    };
    println!("| bundle | workers | phase | p50 ms | p99 ms | appraisals/s | appraisals per service CPU-second | n |");
    println!("|---|---|---|---|---|---|---|---|");
    for workers in [1usize, 2] {
        for (name, bodies) in [("1 GPU", &bodies1), ("8 GPUs", &bodies8)] {
            // Cold: a fresh service per sample, its first appraisal.
            let mut cold = Vec::new();
            for k in 0..cold_samples {
                let server = spawn(&files, &log_dir(), workers);
                cold.push(post(&common::http(), &server.url, &bodies[usize::try_from(k).unwrap_or(0) % bodies.len()]));
            }
            cold.sort();
            println!(
                "| {name} | {workers} | cold (first appraisal of a fresh service) | {} | {} | — | — | {} |",
                ms(pct(&cold, 0.5)),
                ms(pct(&cold, 0.99)),
                cold.len()
            );

            let server = spawn(&files, &log_dir(), workers);
            let _ = run(&server.url, bodies, 1, None, 20, secs); // warm-up
            let (one, _) = run(&server.url, bodies, 1, None, count / 2, secs);
            println!(
                "| {name} | {workers} | warm, one client | {} | {} | — | — | {} |",
                ms(pct(&one, 0.5)),
                ms(pct(&one, 0.99)),
                one.len()
            );
            let cpu0 = server.cpu_seconds();
            let (sat, tput) = run(&server.url, bodies, 2 * workers + 2, None, count, secs);
            let cpu = server.cpu_seconds() - cpu0;
            let per_cpu = if cpu > 0.0 { sat.len() as f64 / cpu } else { 0.0 };
            println!(
                "| {name} | {workers} | warm, saturation ({} clients) | {} | {} | {tput:.0} | {per_cpu:.0} | {} |",
                2 * workers + 2,
                ms(pct(&sat, 0.5)),
                ms(pct(&sat, 0.99)),
                sat.len()
            );
            let (half, rate) = run(&server.url, bodies, 4, Some(tput / 2.0), count / 2, secs);
            println!(
                "| {name} | {workers} | warm, paced at half saturation | {} | {} | {rate:.0} | — | {} |",
                ms(pct(&half, 0.5)),
                ms(pct(&half, 0.99)),
                half.len()
            );
        }
    }
}
