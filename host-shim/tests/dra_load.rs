//! Load: 1,000 claims prepared and unprepared through the plugin, 8 in flight, from the kubelet
//! stand-in over gRPC, claims read from the fake API server over HTTP, on a simulated 8-GPU node. The
//! test checks that nothing leaks — no device left on vfio-pci, no CDI file, no checkpoint record, no
//! group reservation — and prints latency percentiles; it never times itself to pass or fail.
//!
//! For BENCHMARKS.md run it in release on the real disk, which also measures the anchors in the same run:
//! `CCGPU_LOAD_REPORT=1 cargo test --release -p ccgpu-host-shim --test dra_load -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dra_common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccgpu_host_shim::sim::SimUsage;
use ccgpu_host_shim::sim::write_atomic;
use ccgpu_host_shim::{Backends, ClaimUid, DeviceName, Node};
use ccgpu_pci::sim::SimBus;
use dra_common::{
    DRIVER, FakeApiServer, NODE, Running, Version, assert_clean, drivers, hgx_device, node_config, plugin_config,
};

const CLAIMS: usize = 1000;
const IN_FLIGHT: usize = 8;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[((p * (sorted.len() - 1) + 50) / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn work_dir(report: bool) -> tempfile::TempDir {
    if report {
        // The real disk, as the node-layer benchmark uses: fsync costs what it costs on a node.
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(base).unwrap();
        tempfile::tempdir_in(base).unwrap()
    } else {
        dra_common::temp_dir()
    }
}

/// The node layer alone: sequential prepare + unprepare of one GPU, no gRPC, no API server.
fn node_anchor(dir: &Path, rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    let backends = Backends::simulated(Arc::new(SimBus::hgx(8)), Arc::new(SimUsage::default()), None);
    let (node, _) = Node::open(node_config(dir), backends, dra_common::BOOT.into()).unwrap();
    let device: DeviceName = hgx_device(0).parse().unwrap();
    let (mut p, mut u) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let claim: ClaimUid = format!("anchor-{r}").parse().unwrap();
        let t = Instant::now();
        node.prepare(&claim, &[device]).unwrap();
        p.push(t.elapsed());
        let t = Instant::now();
        node.unprepare(&claim).unwrap();
        u.push(t.elapsed());
    }
    p.sort();
    u.sort();
    (p, u)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_claims_eight_in_flight_leave_nothing_behind() {
    let report = std::env::var_os("CCGPU_LOAD_REPORT").is_some();
    let dir = work_dir(report);
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(8));
    let initial = drivers(&bus);
    let mut config = plugin_config(dir.path());
    config.rediscover_interval = Duration::from_secs(3600);
    let plugin = Running::start(dir.path(), bus.clone(), api.client().unwrap(), config, None).await;
    let kubelet = Arc::new(plugin.register().await);
    for i in 0..CLAIMS {
        let slot = u8::try_from(i % IN_FLIGHT).unwrap();
        api.claim("load", &format!("c{i}"), &format!("uid-{i}"), DRIVER, NODE, &[&hgx_device(slot)]);
    }

    let start = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|slot| {
            let kubelet = kubelet.clone();
            tokio::spawn(async move {
                let (mut p, mut u) = (Vec::new(), Vec::new());
                for i in (slot..CLAIMS).step_by(IN_FLIGHT) {
                    let (name, uid) = (format!("c{i}"), format!("uid-{i}"));
                    let version = if i % 2 == 0 { Version::V1 } else { Version::V1beta1 };
                    let t = Instant::now();
                    let a = kubelet.prepare(version, &[("load", &name, &uid)]).await.unwrap();
                    p.push(t.elapsed());
                    assert_eq!(a[&uid].error, "", "{uid}");
                    let t = Instant::now();
                    let e = kubelet.unprepare(version, &[("load", &name, &uid)]).await.unwrap();
                    u.push(t.elapsed());
                    assert_eq!(e[&uid], "", "{uid}");
                }
                (p, u)
            })
        })
        .collect();
    let (mut prep, mut unprep) = (Vec::new(), Vec::new());
    for w in workers {
        let (p, u) = w.await.unwrap();
        prep.extend(p);
        unprep.extend(u);
    }
    let wall = start.elapsed();
    assert_eq!(prep.len(), CLAIMS);

    // Nothing leaked.
    assert_clean(dir.path(), &bus, &initial);
    let text = plugin.metrics.encode();
    assert!(text.contains(&format!("ccgpu_prepare_duration_seconds_count {CLAIMS}")), "{text}");
    assert!(!text.contains("ccgpu_claim_errors_total{"), "no claim failed: {text}");
    plugin.stop().await.unwrap();

    prep.sort();
    unprep.sort();
    println!(
        "load: {CLAIMS} claims, {IN_FLIGHT} in flight, {:.0} claims/s; prepare p50 {:.2} ms p99 {:.2} ms max {:.2} ms; \
         unprepare p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        CLAIMS as f64 / wall.as_secs_f64(),
        ms(percentile(&prep, 50)),
        ms(percentile(&prep, 99)),
        ms(*prep.last().unwrap()),
        ms(percentile(&unprep, 50)),
        ms(percentile(&unprep, 99)),
        ms(*unprep.last().unwrap()),
    );
    if report {
        let anchor_dir = work_dir(true);
        let (np, nu) = node_anchor(anchor_dir.path(), 300);
        let body = vec![b'x'; 2048];
        let mut fsync: Vec<Duration> = (0..300)
            .map(|_| {
                let t = Instant::now();
                write_atomic(anchor_dir.path(), "anchor.json", &body).unwrap();
                t.elapsed()
            })
            .collect();
        fsync.sort();
        let f50 = percentile(&fsync, 50);
        let (np50, nu50) = (percentile(&np, 50), percentile(&nu, 50));
        println!(
            "anchors: node prepare p50 {:.2} ms, node unprepare p50 {:.2} ms, one fsync'd write p50 {:.2} ms",
            ms(np50),
            ms(nu50),
            ms(f50)
        );
        println!(
            "| call | p50 | p90 | p99 | max | p50 / node layer alone | p99 / node layer alone | p50 / fsync'd write | p99 / target 10 ms |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for (call, s, anchor) in [("prepare", &prep, np50), ("unprepare", &unprep, nu50)] {
            println!(
                "| {call} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}× | {:.2}× | {:.2}× | {:.2} |",
                ms(percentile(s, 50)),
                ms(percentile(s, 90)),
                ms(percentile(s, 99)),
                ms(*s.last().unwrap()),
                ms(percentile(s, 50)) / ms(anchor),
                ms(percentile(s, 99)) / ms(anchor),
                ms(percentile(s, 50)) / ms(f50),
                ms(percentile(s, 99)) / 10.0,
            );
        }
        println!(
            "wall {:.2} s, {:.0} claims/s (prepare+unprepare)",
            wall.as_secs_f64(),
            CLAIMS as f64 / wall.as_secs_f64()
        );
    }
}
