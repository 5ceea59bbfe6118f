//! The node lock's hand-over between two plugin instances of a rolling update, with crash injection at
//! every point: the new instance starts while the old one holds the lock and waits for it (bounded);
//! the old one prepares, then is killed after every single durable step of a prepare (or of an
//! unprepare); the new one takes the lock, recovers, and must find the node consistent — nothing lost
//! (completed claims kept with their devices on vfio-pci), nothing half done (the interrupted prepare
//! rolled back, the interrupted unprepare finished), and no double prepare (the kubelet's retry of a
//! completed claim on the new instance changes nothing). Also: the new instance dying while it waits,
//! and dying in its own recovery right after the hand-over.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ccgpu_host_shim::sim::{Effects, StepHook};
use ccgpu_host_shim::{Node, OpenError, RecoveryReport};
use common::{BOOT, CrashAfter, World, hgx_gpu, uid};

/// The old and the new instance differ by their pod UID, recorded in the lock file.
const OLD: &str = "0a0a0a0a-old0-4000-8000-000000000001";
const NEW: &str = "0b0b0b0b-new0-4000-8000-000000000002";

fn open(
    w: &World,
    instance: &str,
    wait: Duration,
    hook: Arc<dyn StepHook>,
) -> Result<(Node, RecoveryReport), OpenError> {
    let mut config = w.config.clone();
    config.instance = Some(instance.to_owned());
    config.lock_wait = wait;
    Node::open_with_effects(config, w.backends(), BOOT.into(), Effects::new(hook))
}

/// The new instance, started on its own thread: it waits up to `wait` for the lock.
fn start_waiting(
    w: &World,
    wait: Duration,
    hook: Arc<dyn StepHook>,
) -> JoinHandle<Result<(Node, RecoveryReport), OpenError>> {
    let (config, backends) = (w.config.clone(), w.backends());
    std::thread::spawn(move || {
        let mut config = config;
        config.instance = Some(NEW.to_owned());
        config.lock_wait = wait;
        Node::open_with_effects(config, backends, BOOT.into(), Effects::new(hook))
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OldDies {
    /// Preparing c2 (c1 already prepared).
    Preparing,
    /// Unpreparing c1.
    Unpreparing,
}

/// How many steps the old instance takes: c1's prepare, then the operation it dies in.
fn steps(dies: OldDies) -> (u64, u64) {
    let w = World::hgx(2);
    let counter = CrashAfter::never();
    let (old, _) = open(&w, OLD, Duration::ZERO, counter.clone()).unwrap();
    old.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();
    let before = counter.steps();
    match dies {
        OldDies::Preparing => drop(old.prepare(&uid("c2"), &[hgx_gpu(1)]).unwrap()),
        OldDies::Unpreparing => old.unprepare(&uid("c1")).unwrap(),
    }
    (before, counter.steps() - before)
}

fn handover_after_kill(dies: OldDies) -> u64 {
    let (first, during) = steps(dies);
    assert!(during >= 4, "{dies:?} has only {during} steps");
    for k in 0..during {
        let w = World::hgx(2);
        let crash = CrashAfter::new(first + k);
        let (old, _) = open(&w, OLD, Duration::ZERO, crash.clone()).unwrap();
        let c1 = old.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();

        // The new pod starts (maxSurge): it waits for the lock, touching nothing.
        let counter = CrashAfter::never();
        let new = start_waiting(&w, Duration::from_secs(10), counter.clone());
        std::thread::sleep(Duration::from_millis(20));
        assert!(!new.is_finished(), "{dies:?} k={k}: the new instance must wait while the old one holds the lock");

        let result = match dies {
            OldDies::Preparing => old.prepare(&uid("c2"), &[hgx_gpu(1)]).map(|_| ()),
            OldDies::Unpreparing => old.unprepare(&uid("c1")),
        };
        assert!(result.is_err() && crash.crashed(), "{dies:?}: killed after step {k}");
        // Killed: the kernel releases its flock.
        drop(old);

        let (new, report) = new.join().unwrap().unwrap_or_else(|e| panic!("{dies:?} k={k}: no hand-over: {e}"));
        assert_eq!(new.previous_holder(), Some(OLD));
        w.check(true).unwrap_or_else(|e| panic!("{dies:?}, old killed after {k} of {during} steps: {e}\n{report:#?}"));
        let prepared = w.prepared();
        match dies {
            OldDies::Preparing => {
                assert!(prepared.contains(&uid("c1")), "{dies:?} k={k}: the completed claim is kept");
                assert!(!prepared.contains(&uid("c2")), "{dies:?} k={k}: the interrupted prepare is rolled back");
            }
            // Before the unprepare's first durable step the claim is intact; after it, finished.
            OldDies::Unpreparing => assert_eq!(prepared.contains(&uid("c1")), k == 0, "{dies:?} k={k}"),
        }

        // The kubelet retries on the new instance. A completed claim: the same answer and not one step
        // (no double prepare). The interrupted one: prepared once, now.
        let before = counter.steps();
        if prepared.contains(&uid("c1")) {
            assert_eq!(new.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap(), c1, "{dies:?} k={k}");
            assert_eq!(counter.steps(), before, "{dies:?} k={k}: re-preparing a completed claim does nothing");
        }
        match dies {
            OldDies::Preparing => drop(new.prepare(&uid("c2"), &[hgx_gpu(1)]).unwrap()),
            OldDies::Unpreparing => new.unprepare(&uid("c1")).unwrap(),
        }
        w.check(true).unwrap_or_else(|e| panic!("{dies:?} after the retry (old killed at {k}): {e}"));
    }
    during
}

#[test]
fn the_old_instance_killed_at_every_step_hands_over_a_consistent_node() {
    let points = handover_after_kill(OldDies::Preparing) + handover_after_kill(OldDies::Unpreparing);
    eprintln!("hand-over crash points exercised: {points}");
}

#[test]
fn a_new_instance_that_gives_up_waiting_changes_nothing_and_the_old_one_goes_on() {
    let w = World::hgx(2);
    let (old, _) = open(&w, OLD, Duration::ZERO, CrashAfter::never()).unwrap();
    old.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();
    let started = Instant::now();
    let new = start_waiting(&w, Duration::from_millis(300), CrashAfter::never());
    match new.join().unwrap() {
        Err(OpenError::Locked { .. }) => {}
        other => panic!("expected the bounded wait to end in Locked: {:?}", other.map(|(_, r)| r)),
    }
    assert!(started.elapsed() >= Duration::from_millis(300), "the wait is the configured bound");
    // Whatever the new one did (nothing), the old one serves on.
    old.prepare(&uid("c2"), &[hgx_gpu(1)]).unwrap();
    w.check(true).unwrap();
    assert_eq!(w.prepared().len(), 2);
}

#[test]
fn a_new_instance_killed_in_its_recovery_after_the_handover_leaves_it_to_the_next() {
    // The old instance dies mid-prepare of c2, leaving it half done.
    let probe = World::hgx(2);
    let (first, during) = steps(OldDies::Preparing);
    let (old, _) = open(&probe, OLD, Duration::ZERO, CrashAfter::new(first + during / 2)).unwrap();
    old.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();
    assert!(old.prepare(&uid("c2"), &[hgx_gpu(1)]).is_err());
    drop(old);
    let counter = CrashAfter::never();
    drop(open(&probe, NEW, Duration::ZERO, counter.clone()).unwrap());
    let recovery_steps = counter.steps();
    assert!(recovery_steps >= 2, "rolling c2 back takes steps: {recovery_steps}");

    for k in 0..recovery_steps {
        let w = World::hgx(2);
        let (old, _) = open(&w, OLD, Duration::ZERO, CrashAfter::new(first + during / 2)).unwrap();
        old.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();
        let new = start_waiting(&w, Duration::from_secs(10), CrashAfter::new(k));
        assert!(old.prepare(&uid("c2"), &[hgx_gpu(1)]).is_err());
        drop(old);
        // The new instance takes the lock and dies in its recovery (open fails or the process is gone).
        if let Ok((new, _)) = new.join().unwrap() {
            drop(new);
        }
        // The next instance (the DaemonSet's restart) finishes the job.
        let (third, report) = open(&w, "0c0c0c0c-next-4000-8000-000000000003", Duration::ZERO, CrashAfter::never())
            .unwrap_or_else(|e| panic!("recovery killed after {k} steps, rerun: {e}"));
        assert_eq!(third.previous_holder(), Some(NEW));
        w.check(true).unwrap_or_else(|e| panic!("recovery killed after {k} steps: {e}\n{report:#?}"));
        assert!(w.prepared().contains(&uid("c1")) && !w.prepared().contains(&uid("c2")));
    }
}
