//! After ready, the PCI bus is rescanned: a GPU the host hot-plugs (or removes) after bring-up would fall
//! under the system-wide ready state unverified, so the ready state is withdrawn, the device fails with
//! `device-set-changed`, every other GPU is withdrawn, and a contraindicated record is appended.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ccgpu_attestation::LogVerdict;
use ccgpu_guest_agent::{DeviceCheck, FailureReason, GpuState, Outcome, Phase};
use ccgpu_pci::PciAddress;
use ccgpu_pci::sim::SimFunction;

use common::{Guest, assert_ready, failure_of};

fn hot_plugged() -> PciAddress {
    PciAddress::new(0, 0x40, 0, 0).expect("address")
}

fn h100(at: PciAddress) -> SimFunction {
    SimFunction::new(at, 0x10de, 0x2330, 0x030200)
}

#[test]
fn a_gpu_hot_plugged_after_ready_withdraws_the_ready_state() {
    let guest = Guest::new(2);
    let agent = guest.agent();
    assert_eq!(agent.check_devices(), DeviceCheck::NotStarted, "nothing to compare with before bring-up");
    assert_ready(&guest, &agent, &agent.bring_up());
    assert_eq!(agent.check_devices(), DeviceCheck::Unchanged);
    // Not an NVIDIA device: not a change.
    guest.fleet.bus.add_function(SimFunction::new(
        PciAddress::new(0, 0x41, 0, 0).expect("a"),
        0x1af4,
        0x1042,
        0x010000,
    ));
    assert_eq!(agent.check_devices(), DeviceCheck::Unchanged);

    guest.fleet.bus.add_function(h100(hot_plugged()));
    assert_eq!(agent.check_devices(), DeviceCheck::Changed { added: vec![hot_plugged()], removed: vec![] });

    assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![true, false], "the ready state was cleared");
    assert!(!guest.fleet.gpus.is_ready());
    let s = agent.status().snapshot();
    assert_eq!(s.phase, Phase::Failed);
    assert!(!s.ready);
    assert!(s.reason.as_deref().is_some_and(|r| r.contains("appeared: 0000:40:00.0 (10de:2330)")), "{:?}", s.reason);
    assert_eq!(s.gpus.len(), 3);
    assert!(s.gpus.iter().all(|g| g.state == GpuState::Failed), "{:#?}", s.gpus);
    let (reason, detail, _) = failure_of(&s, 2);
    assert_eq!((s.gpus[2].bdf, reason), (hot_plugged(), FailureReason::DeviceSetChanged));
    assert!(detail.contains("hot-plugged"), "{detail}");
    for i in 0..2 {
        let f = s.gpus[i].failure.as_ref().expect("withdrawn");
        assert_eq!((f.at, f.reason), (GpuState::Ready, FailureReason::OtherGpuFailed), "GPU {i}");
    }
    let records = guest.records();
    assert_eq!(
        records.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        [LogVerdict::Affirming, LogVerdict::Contraindicated]
    );
    assert!(
        records[1].failed_checks.iter().any(|c| c == "gpu-2:agent:device-set-changed"),
        "{:?}",
        records[1].failed_checks
    );

    // The same set again: nothing more happens; the GPUs stay locked.
    assert_eq!(agent.check_devices(), DeviceCheck::Unchanged);
    assert_eq!(guest.records().len(), 2);
    assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![true, false]);
}

#[test]
fn a_gpu_removed_or_replaced_after_ready_withdraws_the_ready_state() {
    let guest = Guest::new(2);
    let agent = guest.agent();
    assert_ready(&guest, &agent, &agent.bring_up());
    let [first, second] = [guest.fleet.addresses[0], guest.fleet.addresses[1]];
    guest.fleet.bus.remove_function(second);
    assert_eq!(agent.check_devices(), DeviceCheck::Changed { added: vec![], removed: vec![second] });
    assert!(!guest.fleet.gpus.is_ready() && !agent.status().snapshot().ready);
    let s = agent.status().snapshot();
    assert_eq!(failure_of(&s, 1).0, FailureReason::DeviceSetChanged);
    assert_eq!(failure_of(&s, 0).0, FailureReason::OtherGpuFailed);

    // Another device at the same address (another model): a change, whose GPU is not verified either.
    let guest = Guest::new(2);
    let agent = guest.agent();
    assert_ready(&guest, &agent, &agent.bring_up());
    guest.fleet.bus.remove_function(first);
    guest.fleet.bus.add_function(SimFunction::new(first, 0x10de, 0x2331, 0x030200));
    assert_eq!(agent.check_devices(), DeviceCheck::Changed { added: vec![first], removed: vec![first] });
    let s = agent.status().snapshot();
    let (reason, detail, _) = failure_of(&s, 0);
    assert_eq!(reason, FailureReason::DeviceSetChanged);
    assert!(detail.contains("replaced"), "{detail}");
    assert!(!guest.fleet.gpus.is_ready());
}

#[test]
fn the_supervision_loop_rescans() {
    let mut guest = Guest::new(1);
    guest.config.rescan = Duration::from_millis(20);
    let agent = guest.agent();
    assert_ready(&guest, &agent, &agent.bring_up());
    let stop = Arc::new(AtomicBool::new(false));
    let supervisor = {
        let (agent, stop) = (Arc::clone(&agent), Arc::clone(&stop));
        thread::spawn(move || agent.supervise(&stop, Duration::from_secs(3600)))
    };
    let generation = agent.status().snapshot().generation;
    guest.fleet.bus.add_function(h100(hot_plugged()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent.status().snapshot().ready && Instant::now() < deadline {
        agent.status().wait_newer(generation, Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    supervisor.join().expect("supervisor");
    let s = agent.status().snapshot();
    assert!(!s.ready && !guest.fleet.gpus.is_ready(), "the hot-plugged GPU was noticed by the loop");
    assert_eq!(s.phase, Phase::Failed);
}

#[test]
fn a_gpu_hot_plugged_into_a_vm_without_gpus_is_recorded_and_locked() {
    let guest = Guest::new(0);
    let agent = guest.agent();
    assert_eq!(agent.bring_up(), Outcome::NoGpus);
    guest.fleet.bus.add_function(h100(hot_plugged()));
    assert_eq!(agent.check_devices(), DeviceCheck::Changed { added: vec![hot_plugged()], removed: vec![] });
    let s = agent.status().snapshot();
    assert_eq!(failure_of(&s, 0).0, FailureReason::DeviceSetChanged);
    assert_eq!(s.phase, Phase::Failed);
    guest.assert_never_ready();
    assert_eq!(guest.records().len(), 1);
}
