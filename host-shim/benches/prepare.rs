//! Prepare/unprepare overhead of the node layer on the simulated bus, checkpoint and CDI fsyncs
//! included, against the anchor of one fsync'd atomic file write measured in the same run on the same
//! disk (`target/tmp`, not tmpfs).
//!
//! `cargo bench -p ccgpu-host-shim --bench prepare` prints a Markdown table for BENCHMARKS.md: p50/p99
//! of prepare and unprepare for 1 GPU and 8 GPUs in one claim (each GPU with its HDA function: 2 and 16
//! functions moved) and for a PPCIe unit (one claim on `ppcie-…`: 8 GPUs with their HDA functions and 4
//! NVSwitches, 12 devices and 20 functions), as milliseconds and as multiples of the anchor, next to
//! design.md §8's targets (p99 ≤ 10 ms for one GPU, ≤ 50 ms for eight, the same 50 ms for the unit) and
//! the kubelet's 45 s deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccgpu_host_shim::sim::write_atomic;
use ccgpu_host_shim::sim::{SimPpcieMode, SimUsage};
use ccgpu_host_shim::{Backends, DeviceKind, DeviceName, Node, NodeConfig, NodePaths, PpcieMode};
use ccgpu_pci::PciAddress;
use ccgpu_pci::sim::SimBus;

const ROUNDS: usize = 300;

/// Nearest-rank percentile of a sorted sample (`p` in whole percent).
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * (sorted.len() - 1) + 50) / 100;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).expect("target/tmp");
    let dir = tempfile::tempdir_in(base).expect("temp dir");

    // Anchor: one fsync'd atomic write of a checkpoint-sized file.
    let body = vec![b'x'; 2048];
    let mut anchor: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            write_atomic(dir.path(), "anchor.json", &body).expect("write");
            t.elapsed()
        })
        .collect();
    anchor.sort();
    let anchor_p50 = percentile(&anchor, 50);

    let mut rows = Vec::new();
    // (row label, devices in the claim, design target for p99 in ms)
    for (label, devices, target) in [("1", 1u8, 10.0), ("8", 8, 50.0), ("12 (PPCIe unit)", 12, 50.0)] {
        let unit = devices == 12;
        let bus = Arc::new(if unit { SimBus::hgx_ppcie() } else { SimBus::hgx(8) });
        let paths = NodePaths {
            cdi_dir: dir.path().join(format!("cdi{devices}")),
            checkpoint_dir: dir.path().join(format!("ckpt{devices}")),
            ..NodePaths::default()
        };
        let config = NodeConfig { paths, ..NodeConfig::default() };
        let mut backends = Backends::simulated(bus, Arc::new(SimUsage::default()), None);
        if unit {
            backends.ppcie = Arc::new(SimPpcieMode::all(Some(PpcieMode::On)));
        }
        let (node, _) = Node::open(config, backends, "bench-boot".into()).expect("open");
        let devices: Vec<DeviceName> = if unit {
            vec!["ppcie-0000-18-00-0".parse().expect("valid")]
        } else {
            (0..devices)
                .map(|i| {
                    let a = PciAddress::new(0, 0x18 + i * 0x10, 0, 0).expect("valid");
                    DeviceName::new(DeviceKind::Gpu, a)
                })
                .collect()
        };
        let (mut prep, mut unprep) = (Vec::new(), Vec::new());
        for r in 0..ROUNDS {
            let claim = format!("bench-{r}").parse().expect("valid uid");
            let t = Instant::now();
            node.prepare(&claim, &devices).expect("prepare");
            prep.push(t.elapsed());
            let t = Instant::now();
            node.unprepare(&claim).expect("unprepare");
            unprep.push(t.elapsed());
        }
        prep.sort();
        unprep.sort();
        rows.push((label, target, "prepare", percentile(&prep, 50), percentile(&prep, 99)));
        rows.push((label, target, "unprepare", percentile(&unprep, 50), percentile(&unprep, 99)));
    }

    println!(
        "anchor: one fsync'd atomic 2 KiB write: p50 {:.3} ms, p99 {:.3} ms ({ROUNDS} rounds)\n",
        ms(anchor_p50),
        ms(percentile(&anchor, 99))
    );
    println!("| devices | call | p50 ms | p99 ms | p50 / anchor | p99 / anchor | p99 / target | p99 / 45 s |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, target, call, p50, p99) in rows {
        println!(
            "| {label} | {call} | {:.2} | {:.2} | {:.1}x | {:.1}x | {:.2} | {:.1e} |",
            ms(p50),
            ms(p99),
            p50.as_secs_f64() / anchor_p50.as_secs_f64(),
            p99.as_secs_f64() / anchor_p50.as_secs_f64(),
            ms(p99) / target,
            p99.as_secs_f64() / 45.0
        );
    }
}
