//! Crash consistency of prepare, unprepare and recovery on the simulated bus.
//!
//! 1. Exhaustive: for each scenario, the process is "killed" after every single durable step (sysfs
//!    write, checkpoint write/removal, CDI write/removal), a new node is opened on the same machine and
//!    directories (recovery runs), and the invariants must hold: no function on vfio-pci without a
//!    completed claim, no CDI spec without a claim, no completed claim whose functions are not bound,
//!    no two claims on one group, every other function back on its original driver and override. Then
//!    the interrupted operation is retried and must succeed. The same is done with a single failing step
//!    while the process lives on (in-process rollback).
//!    The same for a 12-device claim on a PPCIe unit (8 GPUs + 4 NVSwitches).
//! 2. Random: thousands of seeded sequences of prepare / unprepare / crash-at-a-random-step / kernel
//!    faults (EBUSY on unbind, failing probes) / GPUs held open, checked against a model after every
//!    operation.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use ccgpu_host_shim::Holder;
use ccgpu_host_shim::{CheckpointPhase as Phase, CheckpointStore};
use ccgpu_host_shim::{ClaimUid, DeviceName};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::sim::{SimFault, SimOp};
use common::{CrashAfter, FailOnce, World, hgx_gpu, hgx_unit, uid};

#[derive(Clone, Copy, Debug)]
enum Scenario {
    PrepareOne,
    PrepareTwoWithBridge,
    PreparePreBound,
    Unprepare,
    /// A PPCIe unit: 8 GPUs (each with its HDA function) and 4 NVSwitches, 12 devices in one claim.
    PrepareUnit,
    UnprepareUnit,
}

fn world_for(s: Scenario) -> World {
    if let Scenario::PrepareUnit | Scenario::UnprepareUnit = s {
        let w = World::ppcie();
        if let Scenario::UnprepareUnit = s {
            let (node, _) = w.open();
            node.prepare(&uid("c1"), &[hgx_unit()]).unwrap();
        }
        return w;
    }
    let bus = SimBus::hgx(2);
    if let Scenario::PreparePreBound = s {
        // GPU 1's HDA function is pre-bound to vfio-pci through a dynamic id, as vfio-pci.ids= does.
        bus.add_dynid("vfio-pci", 0x10de, 0x22a3);
        let hda = "0000:28:00.1".parse().unwrap();
        use ccgpu_pci::PciBus;
        bus.unbind(hda).unwrap();
        bus.set_driver_override(hda, Some(&ccgpu_pci::DriverName::vfio_pci())).unwrap();
        bus.probe(hda).unwrap();
        bus.set_driver_override(hda, None).unwrap();
    }
    let w = World::new(bus);
    if let Scenario::Unprepare = s {
        let (node, _) = w.open();
        node.prepare(&uid("c1"), &[hgx_gpu(0), hgx_gpu(1)]).unwrap();
    }
    w
}

fn devices_for(s: Scenario) -> Vec<DeviceName> {
    match s {
        Scenario::PrepareOne => vec![hgx_gpu(0)],
        Scenario::PrepareTwoWithBridge | Scenario::Unprepare => vec![hgx_gpu(0), hgx_gpu(1)],
        Scenario::PreparePreBound => vec![hgx_gpu(1)],
        Scenario::PrepareUnit | Scenario::UnprepareUnit => vec![hgx_unit()],
    }
}

fn run(s: Scenario, node: &ccgpu_host_shim::Node) -> Result<(), ccgpu_host_shim::ClaimError> {
    match s {
        Scenario::Unprepare | Scenario::UnprepareUnit => node.unprepare(&uid("c1")),
        _ => node.prepare(&uid("c1"), &devices_for(s)).map(|_| ()),
    }
}

/// Kill after every step of each scenario; returns how many crash points were exercised.
fn crash_everywhere(s: Scenario) -> u64 {
    let counter = CrashAfter::never();
    let w = world_for(s);
    let (node, _) = w.open_with(counter.clone()).unwrap();
    run(s, &node).unwrap();
    drop(node);
    let total = counter.steps();
    assert!(total >= 5, "{s:?} has only {total} steps");

    for k in 0..total {
        let w = world_for(s);
        let hook = CrashAfter::new(k);
        let (node, _) = w.open_with(hook.clone()).unwrap();
        assert!(run(s, &node).is_err(), "{s:?}: crash at step {k} must interrupt");
        assert!(hook.crashed());
        drop(node);

        let (node, report) = w.open();
        w.check(true).unwrap_or_else(|e| panic!("{s:?}, killed after {k} of {total} steps: {e}\n{report:#?}"));
        let prepared = w.prepared().contains(&uid("c1"));
        match s {
            // Killed before the unprepare's first checkpoint write: still prepared; otherwise finished.
            Scenario::Unprepare | Scenario::UnprepareUnit => assert_eq!(prepared, k == 0, "{s:?} step {k}"),
            _ => assert!(!prepared, "{s:?} step {k}: an interrupted prepare is rolled back"),
        }
        // The kubelet retries; the retry must succeed and leave the node consistent.
        run(s, &node).unwrap_or_else(|e| panic!("{s:?} retry after crash at {k}: {e:?}"));
        w.check(true).unwrap_or_else(|e| panic!("{s:?} after retry (crash at {k}): {e}"));
        assert_eq!(w.prepared().contains(&uid("c1")), !matches!(s, Scenario::Unprepare | Scenario::UnprepareUnit));
    }

    for k in 0..total {
        let w = world_for(s);
        let hook = FailOnce::new(k);
        let (node, _) = w.open_with(hook.clone()).unwrap();
        let result = run(s, &node);
        assert!(hook.fired());
        // The process lives on: without any restart, the node must already be consistent (a failing
        // unprepare step leaves the claim in flight, to be finished by the retry).
        w.check(false).unwrap_or_else(|e| panic!("{s:?}, step {k} failed in process: {e}"));
        if result.is_err() {
            run(s, &node).unwrap_or_else(|e| panic!("{s:?} retry after failed step {k}: {e:?}"));
        }
        w.check(true).unwrap_or_else(|e| panic!("{s:?} after retry (failed step {k}): {e}"));
    }
    total
}

#[test]
fn killed_after_every_step_the_node_recovers_consistent() {
    let mut points = 0;
    for s in [Scenario::PrepareOne, Scenario::PrepareTwoWithBridge, Scenario::PreparePreBound, Scenario::Unprepare] {
        points += crash_everywhere(s);
    }
    eprintln!("crash points exercised: {points} (x2: kill and in-process fault)");
}

/// The same for a claim on a PPCIe unit: killed after every durable step of its 12-device prepare and
/// unprepare (20 functions: 8 GPUs, their 8 HDA functions, 4 NVSwitches), recovery leaves no function
/// on vfio-pci without a completed claim and the retry completes.
#[test]
fn killed_after_every_step_of_a_twelve_device_unit_claim_the_node_recovers_consistent() {
    let prepare = crash_everywhere(Scenario::PrepareUnit);
    let unprepare = crash_everywhere(Scenario::UnprepareUnit);
    // Each function is written at least twice on the way in (override, unbind, probe) and on the way out.
    assert!(prepare >= 40 && unprepare >= 40, "prepare {prepare}, unprepare {unprepare} steps");
    eprintln!("unit crash points exercised: prepare {prepare}, unprepare {unprepare} (x2: kill and in-process fault)");
}

#[test]
fn recovery_itself_can_be_killed_and_rerun() {
    // A prepare killed midway, then a recovery killed after each of its own steps.
    let probe = World::hgx(2);
    let (node, _) = probe.open_with(CrashAfter::new(4)).unwrap();
    assert!(node.prepare(&uid("c1"), &[hgx_gpu(0), hgx_gpu(1)]).is_err());
    drop(node);
    let counter = CrashAfter::never();
    drop(probe.open_with(counter.clone()).unwrap());
    let recovery_steps = counter.steps();
    assert!(recovery_steps >= 4);
    for k in 0..recovery_steps {
        let w = World::hgx(2);
        let (node, _) = w.open_with(CrashAfter::new(4)).unwrap();
        assert!(node.prepare(&uid("c1"), &[hgx_gpu(0), hgx_gpu(1)]).is_err());
        drop(node);
        // Recovery is killed after k steps; opening may then fail or succeed, either way a clean
        // restart afterwards must end consistent.
        drop(w.open_with(CrashAfter::new(k)));
        drop(w.open());
        w.check(true).unwrap_or_else(|e| panic!("recovery killed after {k}: {e}"));
    }
}

/// splitmix64: a tiny seeded generator, so every sequence can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const GPUS: u8 = 4;
const CLAIMS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// One random sequence; returns the number of operations run.
fn random_sequence(seed: u64) -> u32 {
    let mut rng = Rng(seed);
    let w = World::hgx(GPUS);
    let mut node = Some(w.open().0);
    // Model: claim -> devices it holds (completed).
    let mut model: BTreeMap<ClaimUid, Vec<DeviceName>> = BTreeMap::new();
    let ops = 6 + rng.below(10);
    for op in 0..ops {
        let ctx = format!("seed {seed} op {op}");
        let claim = uid(CLAIMS[usize::try_from(rng.below(CLAIMS.len() as u64)).unwrap()]);
        let crash_at = rng.chance(25).then(|| rng.below(12));
        let mut faulted = false;
        if rng.chance(15) {
            let g = hgx_gpu(u8::try_from(rng.below(u64::from(GPUS))).unwrap()).address();
            let fault = match rng.below(3) {
                0 => SimFault::UnbindBusy { address: g, times: 1 },
                1 => SimFault::ProbeFails { address: g, times: 1 },
                _ => SimFault::WriteFails { address: g, op: SimOp::DriverOverride, errno: 5, times: 1 },
            };
            w.bus.inject(fault);
            faulted = true;
        }
        if rng.chance(10) {
            let g = hgx_gpu(u8::try_from(rng.below(u64::from(GPUS))).unwrap()).address();
            w.usage.hold(g, vec![Holder { pid: 7, command: "dcgm".into() }], 1000);
            faulted = true;
        }
        let current = node.take().unwrap();
        let hook = crash_at.map(CrashAfter::new);
        // Crashes need the hook in place: reopen the node with it (a restart, which is itself fine).
        let n = match &hook {
            Some(h) => {
                drop(current);
                let opened = w.open_with(h.clone()).map(|(n, _)| n);
                match opened {
                    Ok(n) if !h.crashed() => n,
                    dead => {
                        drop(dead);
                        // Killed during the recovery of in-flight claims (left by failed rollbacks).
                        // (Recovery logs an interrupted undo as failed and opens; either way the
                        // process is dead here.)
                        assert!(h.crashed(), "{ctx}: open failed without a crash");
                        w.bus.clear_faults();
                        let (fresh, report) = w.open();
                        w.check(true).unwrap_or_else(|e| panic!("{ctx} after crash in recovery: {e}\n{report:#?}"));
                        node = Some(fresh);
                        continue;
                    }
                }
            }
            None => current,
        };
        // Recovery at that reopen may have used steps already: the operation's first step has this index.
        let first_step = hook.as_ref().map_or(0, |h| h.steps());
        let store = CheckpointStore::open(&w.config.paths.checkpoint_dir).unwrap();
        let phase_before = store.load(&claim).unwrap().map(|r| r.unwrap().phase);
        let held_elsewhere: BTreeSet<_> = store
            .load_all()
            .unwrap()
            .records
            .iter()
            .filter(|r| r.claim_uid != claim)
            .flat_map(|r| r.devices.iter().map(|d| d.group).collect::<Vec<_>>())
            .collect();

        if rng.chance(55) {
            let mut devices: Vec<DeviceName> = (0..GPUS).map(hgx_gpu).filter(|_| rng.chance(40)).collect();
            if devices.is_empty() {
                devices.push(hgx_gpu(u8::try_from(rng.below(u64::from(GPUS))).unwrap()));
            }
            let result = n.prepare(&claim, &devices);
            if std::env::var_os("CCGPU_TRACE_SEQ").is_some() {
                eprintln!(
                    "{ctx}: prepare {claim} {devices:?} crash_at={crash_at:?} faulted={faulted} before={phase_before:?} -> {result:?}"
                );
            }
            let crashed = hook.as_ref().is_some_and(|h| h.crashed());
            match &result {
                Ok(p) => {
                    assert!(!crashed || phase_before == Some(Phase::PrepareCompleted), "{ctx}");
                    assert_eq!(p.devices.len(), model.get(&claim).map_or(devices.len(), Vec::len), "{ctx}");
                    model.entry(claim.clone()).or_insert(devices.clone());
                }
                Err(e) => {
                    if !crashed && !faulted && phase_before.is_none() {
                        // Nothing disturbed it: only a conflict may refuse it.
                        let groups: Vec<_> = devices
                            .iter()
                            .map(|d| ccgpu_pci::IommuGroup(10 + u32::from((d.address().bus() - 0x18) / 0x10)))
                            .collect();
                        assert!(groups.iter().any(|g| held_elsewhere.contains(g)), "{ctx}: unexpected {e:?}");
                    }
                    if phase_before != Some(Phase::PrepareCompleted) {
                        model.remove(&claim);
                    }
                }
            }
        } else {
            let result = n.unprepare(&claim);
            if std::env::var_os("CCGPU_TRACE_SEQ").is_some() {
                eprintln!(
                    "{ctx}: unprepare {claim} crash_at={crash_at:?} first_step={first_step} faulted={faulted} before={phase_before:?} -> {result:?}"
                );
            }
            let crashed = hook.as_ref().is_some_and(|h| h.crashed());
            match result {
                Ok(()) => {
                    model.remove(&claim);
                }
                Err(e) => {
                    assert!(crashed || faulted, "{ctx}: unprepare failed undisturbed: {e:?}");
                    let stays = crash_at == Some(first_step) && phase_before == Some(Phase::PrepareCompleted);
                    if !stays {
                        model.remove(&claim);
                    }
                }
            }
        }
        let crashed = hook.as_ref().is_some_and(|h| h.crashed());
        if crashed {
            drop(n);
            w.bus.clear_faults();
            let (fresh, report) = w.open();
            w.check(true).unwrap_or_else(|e| panic!("{ctx} after crash: {e}\n{report:#?}"));
            node = Some(fresh);
        } else {
            w.check(false).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            // A hook that did not fire must not linger into later operations: restart without it.
            node = Some(if hook.is_some() {
                drop(n);
                w.open().0
            } else {
                n
            });
        }
        w.bus.clear_faults();
        w.usage.release_all();
        let prepared = w.prepared();
        let expected: BTreeSet<ClaimUid> = model.keys().cloned().collect();
        assert_eq!(prepared, expected, "{ctx}: completed claims differ from the model");
    }
    // Finally: a clean restart and unprepare of everything returns the machine to where it started.
    drop(node);
    let (n, _) = w.open();
    w.check(true).unwrap_or_else(|e| panic!("seed {seed} final: {e}"));
    for c in CLAIMS {
        n.unprepare(&uid(c)).unwrap_or_else(|e| panic!("seed {seed} final unprepare: {e:?}"));
    }
    w.check(true).unwrap();
    assert!(w.prepared().is_empty() && w.cdi_files().is_empty(), "seed {seed}");
    assert_eq!(common::snapshot(&w.bus), w.initial, "seed {seed}: machine not back to its start");
    u32::try_from(ops).unwrap()
}

#[test]
fn thousands_of_random_sequences_with_crashes_and_faults() {
    let sequences: u64 = std::env::var("CCGPU_CRASH_SEQUENCES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let mut ops = 0u64;
    let first: u64 = std::env::var("CCGPU_CRASH_FIRST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    for seed in first..first + sequences {
        ops += u64::from(random_sequence(seed));
    }
    eprintln!("random sequences: {sequences}, operations: {ops}");
}
