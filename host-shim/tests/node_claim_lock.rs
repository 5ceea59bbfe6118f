//! Calls for one claim are serialized, whatever happens to the calls before them: a call that fails while
//! another waits for the claim must not let a third call run beside the waiter (the waiter's rollback
//! would undo the third call's successful prepare).
//!
//! The interleaving is driven step by step: a step hook pauses named threads at chosen steps and lets the
//! test decide whether the step goes ahead or fails; a thread waiting for the claim is recognised by its
//! kernel state (sleeping before it took any step).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ccgpu_host_shim::Deadline;
use ccgpu_host_shim::sim::{Interrupted, Step, StepHook};
use ccgpu_host_shim::{ClaimError, ClaimFailure, ClaimUid, DeviceName, Node, PreparedClaim};
use common::{World, hgx_gpu, uid};

/// What a rule does when its thread reaches its step.
#[derive(Debug)]
enum Action {
    /// Report the arrival, then wait for the verdict: `true` lets the step go ahead, `false` fails it.
    Pause { arrived: Sender<()>, verdict: Receiver<bool> },
    /// Fail the step.
    Fail,
}

#[derive(Debug)]
struct Rule {
    thread: &'static str,
    at: fn(&Step<'_>) -> bool,
    action: Action,
}

/// A step hook that attributes every step to the thread (by name) taking it.
#[derive(Debug)]
struct Script {
    /// Whether each named thread took any step yet.
    touched: BTreeMap<&'static str, AtomicBool>,
    /// One-shot rules, taken out when they fire.
    rules: Mutex<Vec<Rule>>,
}

impl Script {
    fn new(threads: &[&'static str]) -> Arc<Self> {
        Arc::new(Self {
            touched: threads.iter().map(|t| (*t, AtomicBool::new(false))).collect(),
            rules: Mutex::default(),
        })
    }

    /// `thread` stops at its next step matching `at`: returns (arrival, verdict sender).
    fn pause(&self, thread: &'static str, at: fn(&Step<'_>) -> bool) -> (Receiver<()>, Sender<bool>) {
        let (arrived, arrival) = mpsc::channel();
        let (go, verdict) = mpsc::channel();
        self.rules.lock().unwrap().push(Rule { thread, at, action: Action::Pause { arrived, verdict } });
        (arrival, go)
    }

    /// `thread`'s next step matching `at` fails.
    fn fail(&self, thread: &'static str, at: fn(&Step<'_>) -> bool) {
        self.rules.lock().unwrap().push(Rule { thread, at, action: Action::Fail });
    }

    fn touched(&self, thread: &str) -> bool {
        self.touched[thread].load(Ordering::SeqCst)
    }
}

impl StepHook for Script {
    fn before(&self, step: &Step<'_>) -> Result<(), Interrupted> {
        let me = thread::current().name().unwrap_or_default().to_owned();
        // First, before anything that could sleep: the test reads "sleeping and untouched" as "waiting".
        if let Some(t) = self.touched.get(me.as_str()) {
            t.store(true, Ordering::SeqCst);
        }
        let rule = {
            let mut rules = self.rules.lock().unwrap();
            let i = rules.iter().position(|r| r.thread == me && (r.at)(step));
            i.map(|i| rules.remove(i))
        };
        let go = match rule.map(|r| r.action) {
            None => true,
            Some(Action::Fail) => false,
            Some(Action::Pause { arrived, verdict }) => {
                arrived.send(()).unwrap();
                verdict.recv().unwrap()
            }
        };
        if go { Ok(()) } else { Err(Interrupted { step: step.to_string() }) }
    }
}

fn save_checkpoint(s: &Step<'_>) -> bool {
    matches!(s, Step::SaveCheckpoint(_))
}

fn write_cdi(s: &Step<'_>) -> bool {
    matches!(s, Step::WriteCdi(_))
}

type Call = JoinHandle<Result<PreparedClaim, ClaimError>>;

/// Prepares `claim` on a thread named `name`; returns the thread and its kernel thread id.
fn prepare_on(name: &'static str, node: &Arc<Node>, claim: &ClaimUid, gpu: DeviceName) -> (Call, i32) {
    let (node, claim) = (node.clone(), claim.clone());
    let (tid_tx, tid_rx) = mpsc::channel();
    let call = thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            node.prepare(&claim, &[gpu])
        })
        .unwrap();
    (call, tid_rx.recv().unwrap())
}

fn current_tid() -> i32 {
    // "/proc/thread-self" is this thread's `task/<tid>`; its stat starts with the tid.
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

/// Whether thread `tid` of this process is asleep in the kernel (state `S`).
fn sleeping(tid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // "tid (comm) S …": the state follows the last ')'.
    stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
}

/// Waits until `thread` either took a step (`true`) or sleeps without having taken one: it waits for
/// the claim (`false`).
fn runs_or_waits(script: &Script, thread: &str, tid: i32) -> bool {
    for _ in 0..10_000 {
        if script.touched(thread) {
            return true;
        }
        // Sleeping, and still no step after it was seen sleeping: blocked before its first step.
        if sleeping(tid) && !script.touched(thread) {
            thread::sleep(Duration::from_millis(20));
            if sleeping(tid) && !script.touched(thread) {
                return false;
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    panic!("thread {thread} neither ran nor waited");
}

#[test]
fn a_failed_call_leaves_its_waiter_serialized_with_every_later_call() {
    let w = World::hgx(1);
    let script = Script::new(&["a", "b", "c"]);
    let (a_paused, a_verdict) = script.pause("a", save_checkpoint);
    let (b_paused, b_verdict) = script.pause("b", save_checkpoint);
    script.fail("b", write_cdi);
    let (node, _) = w.open_with(script.clone()).unwrap();
    let node = Arc::new(node);
    let (claim, gpu) = (uid("x"), hgx_gpu(0));

    // A holds the claim, stopped before its first checkpoint; B comes and waits for the claim.
    let (a, _) = prepare_on("a", &node, &claim, gpu);
    a_paused.recv().unwrap();
    let (b, b_tid) = prepare_on("b", &node, &claim, gpu);
    assert!(!runs_or_waits(&script, "b", b_tid), "B must wait while A holds the claim");

    // A fails; B gets the claim and stops before its first checkpoint.
    a_verdict.send(false).unwrap();
    assert!(matches!(*a.join().unwrap().unwrap_err().failure, ClaimFailure::Interrupted(_)));
    b_paused.recv().unwrap();

    // C comes while B holds the claim. Serialized, it waits; if it ran beside B (the bug), let it finish.
    let (c, c_tid) = prepare_on("c", &node, &claim, gpu);
    let c_ran_beside_b = runs_or_waits(&script, "c", c_tid);
    let (c, c_early) = if c_ran_beside_b { (None, Some(c.join().unwrap())) } else { (Some(c), None) };

    // B goes on, fails writing its CDI spec and rolls back.
    b_verdict.send(true).unwrap();
    assert!(matches!(*b.join().unwrap().unwrap_err().failure, ClaimFailure::Interrupted(_)));
    let c = match (c_early, c) {
        (Some(done), _) => done,
        (None, Some(waiting)) => waiting.join().unwrap(),
        (None, None) => unreachable!(),
    };

    // C's success is the node's state: the claim is prepared, nothing half-done.
    let prepared = c.expect("C prepares the claim once B is done");
    assert_eq!(prepared.claim_uid, claim);
    assert!(
        w.prepared().contains(&claim),
        "C was told its claim is prepared, but B's rollback undid it (C ran beside B: {c_ran_beside_b})"
    );
    w.check(true).unwrap();
    assert!(!c_ran_beside_b, "C ran beside B on the same claim");
    node.unprepare(&claim).unwrap();
    w.check(true).unwrap();
}

#[test]
fn a_call_that_waits_for_its_claim_gives_up_at_its_deadline() {
    let w = World::hgx(1);
    let script = Script::new(&["a"]);
    let (a_paused, a_verdict) = script.pause("a", save_checkpoint);
    let (node, _) = w.open_with(script.clone()).unwrap();
    let node = Arc::new(node);
    let (claim, gpu) = (uid("x"), hgx_gpu(0));
    let (a, _) = prepare_on("a", &node, &claim, gpu);
    a_paused.recv().unwrap();

    // While A holds the claim, calls whose deadline passes get a clear "busy" error, and touch nothing.
    let e = node.prepare_within(&claim, &[gpu], Deadline::after(Duration::from_millis(20))).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::Busy { .. }), "{e:?}");
    assert!(ccgpu_host_shim::error_chain(&e).contains("another call for this claim is still running after"));
    let e = node.unprepare_within(&claim, Deadline::after(Duration::ZERO)).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::Busy { .. }), "{e:?}");

    a_verdict.send(true).unwrap();
    assert_eq!(a.join().unwrap().unwrap().claim_uid, claim);
    w.check(true).unwrap();
    node.unprepare(&claim).unwrap();
    w.check(true).unwrap();
}
