//! Verifying a 1,000,000-line attestation log (design target: ≥ 100k lines/s), against an anchor measured
//! in the same run on the same file: reading it line by line and SHA-384-hashing every line — the work
//! the chain cannot avoid. `verify / anchor` is the verifier's overhead (JSON parsing, prefix, window).
//!
//! The log is generated into `target/tmp` (realistic one-GPU records, ~1 KB each, a checkpoint signed
//! with a fresh key every 1000 records, verified with the public key). `CCGPU_LOG_BENCH_LINES` overrides
//! the size.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ccgpu_attestation::{
    CheckpointKey, CheckpointSigner, ClaimRef, DeviceEntry, DeviceKind, EvidenceDigests, Header, HexBytes, LogContext,
    LogId, LogReader, LogRecord, LogVerdict, Sha384Digest, Timestamp, testing::log::Chain,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::macros::datetime;

const DEFAULT_LINES: u64 = 1_000_000;

fn record(i: u64) -> LogRecord {
    let mut ctx =
        LogContext::new(datetime!(2025-09-01 0:00 UTC) + time::Duration::seconds(i64::try_from(i).unwrap_or(0)));
    ctx.node = Some(format!("gpu-node-{:03}", i % 64));
    ctx.claim = Some(ClaimRef {
        namespace: Some("ml-training".into()),
        name: Some(format!("h100-claim-{i}")),
        uid: Some(format!("5f1c2a9e-0b7d-4c3e-9a11-{i:012x}")),
        pod: Some(format!("trainer-{i}")),
    });
    ctx.policy_digest = Some(Sha384Digest([0x5c; 48]));
    let contra = i.is_multiple_of(97);
    let verdict = if contra { LogVerdict::Contraindicated } else { LogVerdict::Affirming };
    let failed: Vec<String> = if contra { vec!["measurements".into()] } else { vec![] };
    let device = DeviceEntry {
        kind: DeviceKind::Gpu,
        uuid: Some(format!("GPU-8f6b3c2a-{:04x}-4d1e-9b7a-3c5d6e7f8091", i % 8)),
        bdf: Some(format!("0000:{:02x}:00.0", 0x18 + (i % 8) * 0x10)),
        verdict,
        failed_checks: failed.clone(),
        warnings: vec![],
        driver_version: Some("550.90.07".into()),
        vbios_version: Some("96.00.9F.00.01".into()),
        evidence: EvidenceDigests {
            report: Some(Sha384Digest::of(&i.to_le_bytes())),
            chain: Some(Sha384Digest([0x1d; 48])),
            driver_rim: Some(Sha384Digest([0x2e; 48])),
            vbios_rim: Some(Sha384Digest([0x3f; 48])),
        },
    };
    let mut r = LogRecord::new(&ctx, verdict, failed, vec![device]);
    r.nonce = Some(HexBytes(Sha384Digest::of(&i.to_be_bytes()).0[..32].to_vec()));
    r.verified_at = Some(Timestamp::new(datetime!(2025-09-01 0:00 UTC)));
    r
}

/// Writes the log (with this run's key) and returns its path and line count.
fn generate(dir: &Path, lines: u64, signer: &CheckpointSigner) -> (PathBuf, u64) {
    let path = dir.join(format!("attestation-log-{lines}.jsonl"));
    let header = Header::new(LogId([0x42; 16]), datetime!(2025-09-01 0:00 UTC));
    let (mut chain, first) = Chain::start(&header).expect("header");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).expect("create"));
    out.write_all(&first).and_then(|()| out.write_all(b"\n")).expect("write");
    let every = NonZeroU64::new(1000).expect("non-zero");
    let mut i = 0;
    while chain.head().line < lines {
        let line = if chain.head().line % (every.get() + 1) == 0 {
            chain.checkpoint_line(signer, datetime!(2025-09-02 0:00 UTC)).expect("checkpoint")
        } else {
            i += 1;
            chain.record_line(&record(i)).expect("record")
        };
        chain.advance(&line);
        out.write_all(&line).and_then(|()| out.write_all(b"\n")).expect("write");
    }
    out.flush().expect("flush");
    (path, chain.head().line)
}

/// The anchor: read line by line and SHA-384 each line.
fn hash_lines(path: &Path) -> u64 {
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path).expect("open"));
    let mut buf = Vec::with_capacity(4096);
    let mut n = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).expect("read") == 0 {
            return n;
        }
        black_box(Sha384Digest::of(buf.strip_suffix(b"\n").unwrap_or(&buf)));
        n += 1;
    }
}

fn bench(c: &mut Criterion) {
    let lines: u64 = std::env::var("CCGPU_LOG_BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_LINES);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let signer = CheckpointSigner::from_pkcs8(&CheckpointSigner::generate_pkcs8().expect("key")).expect("signer");
    let public = signer.public_key_pem();
    let (path, total) = generate(dir, lines, &signer);
    let size = std::fs::metadata(&path).expect("stat").len();
    let verify = || {
        let key = CheckpointKey::from_spki(public.as_bytes()).expect("key");
        LogReader::open(&path).expect("open").with_checkpoint_key(key).verify().expect("sound")
    };
    let summary = verify();
    assert_eq!(summary.lines, total);

    // One timed pass of each, interleaved, for the table (criterion's samples follow).
    let mut anchor = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        black_box(hash_lines(&path));
        anchor.push(t.elapsed());
        let t = Instant::now();
        black_box(verify());
        ours.push(t.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (a, o) = (median(&mut anchor), median(&mut ours));
    let per_s = |d: Duration| u64::try_from(u128::from(total) * 1_000_000 / d.as_micros().max(1)).unwrap_or(u64::MAX);
    println!(
        "log-verify: {total} lines, {:.0} MiB, {} checkpoints | anchor (read + SHA-384 per line) {:.2} s = {} lines/s | \
         verify {:.2} s = {} lines/s | verify/anchor {:.2}x | target 100k lines/s: {:.1}x",
        size as f64 / f64::from(1 << 20),
        summary.checkpoints,
        a.as_secs_f64(),
        per_s(a),
        o.as_secs_f64(),
        per_s(o),
        o.as_secs_f64() / a.as_secs_f64(),
        per_s(o) as f64 / 100_000.0,
    );

    let mut g = c.benchmark_group("log-verify");
    g.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(total));
    g.bench_function("anchor-read-sha384-lines", |b| b.iter(|| black_box(hash_lines(&path))));
    g.bench_function("verify", |b| b.iter(|| black_box(verify())));
    g.finish();
    // ~1.3 GB: not left behind in target/.
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, bench);
criterion_main!(benches);
