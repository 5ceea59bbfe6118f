//! One deadline per claim call, on the simulated bus with slow and hanging kernel writes: a sysfs write
//! that does not return fails the claim (it never hangs the caller) and leaves it recorded for a later
//! attempt; a wait that uses up the forward budget still leaves the rollback its reserve.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ccgpu_host_shim::CheckpointPhase as Phase;
use ccgpu_host_shim::Deadline;
use ccgpu_host_shim::SysfsWrite as Write;
use ccgpu_host_shim::{Backends, ClaimFailure, Node, error_chain};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::sim::{SimFault, SimOp};
use ccgpu_pci::{DriverName, IommuGroup, PciAddress, PciBus, PciDevice, PciError};
use common::{BOOT, World, hgx_gpu, uid};

/// The simulated bus, except that one kind of write to one function blocks — as a driver's remove or
/// probe callback that does not return would — until the test lets it through.
#[derive(Debug)]
struct HangingBus {
    inner: Arc<SimBus>,
    hang: Mutex<Option<(PciAddress, SimOp)>>,
    /// (released by the test, the blocked write went through)
    state: Mutex<(bool, bool)>,
    wake: Condvar,
}

impl HangingBus {
    fn new(inner: Arc<SimBus>, address: PciAddress, op: SimOp) -> Arc<Self> {
        Arc::new(Self {
            inner,
            hang: Mutex::new(Some((address, op))),
            state: Mutex::new((false, false)),
            wake: Condvar::new(),
        })
    }

    /// The kernel returns: the blocked write goes through (waits until it has).
    fn release(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        self.wake.notify_all();
        while !state.1 {
            state = self.wake.wait(state).unwrap();
        }
    }

    fn write(
        &self,
        address: PciAddress,
        op: SimOp,
        write: impl FnOnce() -> Result<(), PciError>,
    ) -> Result<(), PciError> {
        let hit = {
            let mut hang = self.hang.lock().unwrap();
            let hit = *hang == Some((address, op));
            if hit {
                *hang = None;
            }
            hit
        };
        if !hit {
            return write();
        }
        let mut state = self.state.lock().unwrap();
        while !state.0 {
            state = self.wake.wait(state).unwrap();
        }
        let result = write();
        state.1 = true;
        self.wake.notify_all();
        result
    }
}

impl PciBus for HangingBus {
    fn devices(&self) -> Result<Vec<PciAddress>, PciError> {
        self.inner.devices()
    }
    fn describe(&self, address: PciAddress) -> Result<PciDevice, PciError> {
        self.inner.describe(address)
    }
    fn driver(&self, address: PciAddress) -> Result<Option<DriverName>, PciError> {
        self.inner.driver(address)
    }
    fn driver_override(&self, address: PciAddress) -> Result<Option<DriverName>, PciError> {
        self.inner.driver_override(address)
    }
    fn iommu_group_members(&self, group: IommuGroup) -> Result<Vec<PciAddress>, PciError> {
        self.inner.iommu_group_members(group)
    }
    fn driver_registered(&self, driver: &DriverName) -> Result<bool, PciError> {
        self.inner.driver_registered(driver)
    }
    fn set_driver_override(&self, address: PciAddress, driver: Option<&DriverName>) -> Result<(), PciError> {
        self.write(address, SimOp::DriverOverride, || self.inner.set_driver_override(address, driver))
    }
    fn unbind(&self, address: PciAddress) -> Result<(), PciError> {
        self.write(address, SimOp::Unbind, || self.inner.unbind(address))
    }
    fn probe(&self, address: PciAddress) -> Result<(), PciError> {
        self.write(address, SimOp::Probe, || self.inner.probe(address))
    }
    fn bind(&self, driver: &DriverName, address: PciAddress) -> Result<(), PciError> {
        self.inner.bind(driver, address)
    }
    fn remove_id(&self, driver: &DriverName, vendor: u16, device: u16) -> Result<(), PciError> {
        self.inner.remove_id(driver, vendor, device)
    }
}

fn open_on(w: &World, bus: Arc<HangingBus>) -> Node {
    let backends = Backends { bus, ..w.backends() };
    Node::open(w.config.clone(), backends, BOOT.into()).unwrap().0
}

#[test]
fn an_unbind_that_never_returns_fails_the_claim_and_keeps_it_for_the_next_attempt() {
    let mut w = World::hgx(1);
    w.config.budgets.total = Duration::from_secs(2);
    w.config.budgets.rollback = Duration::from_secs(1);
    w.config.budgets.sysfs_write = Duration::from_millis(200);
    let gpu = hgx_gpu(0);
    let bus = HangingBus::new(w.bus.clone(), gpu.address(), SimOp::Unbind);
    let node = open_on(&w, bus.clone());

    // The unbind blocks in the "kernel": the claim fails with the write's timeout, and undoing it cannot
    // touch the function while that write is pending, so the record stays.
    let e = node.prepare(&uid("x"), &[gpu]).unwrap_err();
    let text = error_chain(&e);
    let ClaimFailure::RollbackFailed { cause, .. } = &*e.failure else { panic!("{text}") };
    assert!(matches!(**cause, ClaimFailure::Bind(_)), "{text}");
    assert!(text.contains("unbind of 0000:18:00.0: did not return within"), "{text}");
    assert!(text.contains("an earlier unbind to this function has not returned yet"), "{text}");
    assert_eq!(node.pending_writes(), vec![(gpu.address(), Write::Unbind)]);
    let records = node.claims().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].phase, Phase::PrepareStarted, "recorded for recovery");
    // Its group stays reserved: no other claim gets the GPU meanwhile.
    let other = node.prepare(&uid("y"), &[gpu]).unwrap_err();
    assert!(matches!(*other.failure, ClaimFailure::GroupHeld { .. }), "{}", error_chain(&other));
    // Unprepare meanwhile fails the same way, quickly, without piling up another blocked write.
    assert!(error_chain(&node.unprepare(&uid("x")).unwrap_err()).contains("has not returned yet"));

    // The kernel lets go; the next call for the claim finishes the job.
    bus.release();
    for _ in 0..1000 {
        if node.pending_writes().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(node.pending_writes().is_empty(), "the write's helper saw it return");
    node.unprepare(&uid("x")).unwrap();
    w.check(true).unwrap();
    assert_eq!(common::snapshot(&w.bus), w.initial, "drivers and overrides as before");
}

#[test]
fn a_hung_write_is_finished_by_recovery_after_a_restart() {
    let mut w = World::hgx(1);
    w.config.budgets.sysfs_write = Duration::from_millis(100);
    let gpu = hgx_gpu(0);
    let bus = HangingBus::new(w.bus.clone(), gpu.address(), SimOp::Probe);
    let node = open_on(&w, bus.clone());
    let e = node.prepare(&uid("x"), &[gpu]).unwrap_err();
    assert!(error_chain(&e).contains("drivers_probe of 0000:18:00.0: did not return within"), "{}", error_chain(&e));
    // The process goes away with the write still in the kernel; when the kernel returns, a new process
    // rolls the claim back.
    drop(node);
    bus.release();
    let (node, report) = w.open();
    assert_eq!(report.rolled_back, vec![uid("x")], "{report:?}");
    w.check(true).unwrap();
    drop(node);
    assert_eq!(common::snapshot(&w.bus), w.initial);
}

#[test]
fn a_wait_that_uses_up_the_forward_budget_leaves_the_rollback_its_reserve() {
    let mut w = World::hgx(1);
    // The driver-switch wait alone could take a minute; the claim has 1.5 s, 1 s of it kept for rollback.
    w.config.budgets.total = Duration::from_millis(1500);
    w.config.budgets.rollback = Duration::from_secs(1);
    w.config.budgets.driver_switch = Duration::from_secs(60);
    let gpu = hgx_gpu(0);
    // vfio-pci's probe fails: the function stays unbound for the whole forward wait.
    w.bus.inject(SimFault::ProbeFails { address: gpu.address(), times: 1 });
    let (node, _) = w.open();
    let e = node.prepare(&uid("x"), &[gpu]).unwrap_err();
    let text = error_chain(&e);
    assert!(text.contains("is still unbound"), "{text}");
    assert!(text.contains("(expected vfio-pci)"), "{text}");
    // The rollback ran, with its own share of the deadline, and succeeded: the GPU is back.
    assert!(!matches!(*e.failure, ClaimFailure::RollbackFailed { .. }), "{text}");
    assert!(node.claims().unwrap().is_empty());
    w.check(true).unwrap();
    assert_eq!(common::snapshot(&w.bus), w.initial);
}

#[test]
fn a_claim_whose_budget_is_spent_before_the_node_work_touches_nothing() {
    let w = World::hgx(1);
    let (node, _) = w.open();
    let gpu = hgx_gpu(0);
    // Less than the rollback's reserve is left (the API read took the rest): no forward work starts.
    let spent = Deadline::after(w.config.budgets.rollback / 2);
    let e = node.prepare_within(&uid("x"), &[gpu], spent).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::BudgetSpent), "{}", error_chain(&e));
    assert!(w.bus.writes().is_empty() && node.claims().unwrap().is_empty());
    // A claim already prepared is answered from its checkpoint whatever is left.
    let done = node.prepare(&uid("x"), &[gpu]).unwrap();
    assert_eq!(node.prepare_within(&uid("x"), &[gpu], Deadline::after(Duration::ZERO)).unwrap(), done);
    node.unprepare(&uid("x")).unwrap();
    w.check(true).unwrap();
}
