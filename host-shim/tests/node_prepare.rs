//! Prepare and unprepare behaviour on the simulated bus: whole groups, exact restoration, clear
//! per-claim errors with full rollback, exclusivity and parallelism, recovery reports, path safety.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::sync::Arc;
use std::thread;

use ccgpu_host_shim::Holder;
use ccgpu_host_shim::{ClaimFailure, DeviceKind, DeviceName, Node, VfioNodes, error_chain};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::sim::{SimFault, SimFunction, SimOp};
use ccgpu_pci::{DriverName, PciAddress, PciBus};
use common::{BOOT, World, hgx_gpu, uid};

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn name(s: &str) -> DriverName {
    s.parse().unwrap()
}

fn failure(e: ccgpu_host_shim::ClaimError) -> ClaimFailure {
    *e.failure
}

#[test]
fn prepare_moves_the_whole_group_and_unprepare_restores_it_exactly() {
    let w = World::hgx(2);
    let (node, report) = w.open();
    assert_eq!(report, Default::default());
    let gpu = hgx_gpu(1); // 0000:28:00.0, with HDA 28:00.1 and bridge 27:00.0 in group 11
    let p = node.prepare(&uid("c1"), &[gpu]).unwrap();
    assert_eq!(p.devices[0].cdi_device_id, "ccgpu.dev/gpu=claim-c1-gpu-0000-28-00-0");
    assert_eq!(w.bus.driver(addr("0000:28:00.0")).unwrap(), Some(DriverName::vfio_pci()));
    assert_eq!(w.bus.driver(addr("0000:28:00.1")).unwrap(), Some(DriverName::vfio_pci()), "HDA companion");
    assert_eq!(w.bus.driver(addr("0000:27:00.0")).unwrap(), Some(name("pcieport")), "bridge left alone");
    assert!(w.bus.writes().iter().all(|wr| wr.address != Some(addr("0000:27:00.0"))), "bridge never written");
    assert!(w.bus.writes().iter().all(|wr| wr.op != SimOp::RemoveId && wr.op != SimOp::Bind));
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(w.config.paths.cdi_dir.join(&p.cdi_spec)).unwrap()).unwrap();
    let cdev = w.bus.describe(addr("0000:28:00.0")).unwrap().vfio_cdev.unwrap();
    // Only the device's own node: Kata's QEMU opens /dev/iommu itself, so it is not named (by default).
    assert_eq!(
        spec["devices"][0]["containerEdits"]["deviceNodes"],
        serde_json::json!([{ "path": format!("/dev/vfio/devices/{cdev}") }])
    );
    assert!(spec.get("containerEdits").is_none(), "{spec}");
    w.check(true).unwrap();
    // Idempotent: the same answer, no new writes.
    let writes = w.bus.writes().len();
    assert_eq!(node.prepare(&uid("c1"), &[gpu]).unwrap(), p);
    assert_eq!(w.bus.writes().len(), writes);
    // Discovery shows the holder and remembers nothing it never saw.
    let found = node.discover().unwrap();
    let (d, holder) = found.iter().find(|(d, _)| d.name == gpu).unwrap();
    assert_eq!(holder.as_ref(), Some(&uid("c1")));
    assert!(d.unpreparable.is_none());

    node.unprepare(&uid("c1")).unwrap();
    node.unprepare(&uid("c1")).unwrap();
    assert_eq!(common::snapshot(&w.bus), w.initial, "drivers and overrides exactly as before");
    assert!(w.cdi_files().is_empty() && w.prepared().is_empty());
}

#[test]
fn the_iommu_device_is_named_once_spec_wide_only_when_configured() {
    let mut w = World::hgx(2);
    w.config.cdi_iommu_device = true;
    let (node, _) = w.open();
    let p = node.prepare(&uid("c1"), &[hgx_gpu(0), hgx_gpu(1)]).unwrap();
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(w.config.paths.cdi_dir.join(&p.cdi_spec)).unwrap()).unwrap();
    assert_eq!(spec["containerEdits"]["deviceNodes"], serde_json::json!([{ "path": "/dev/iommu" }]));
    for device in spec["devices"].as_array().unwrap() {
        let nodes = device["containerEdits"]["deviceNodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "only the device's own cdev: {device}");
        assert!(nodes[0]["path"].as_str().unwrap().starts_with("/dev/vfio/devices/vfio"), "{device}");
    }
}

#[test]
fn legacy_group_nodes_only_when_configured() {
    let w = World::hgx(1).legacy();
    let (node, _) = w.open();
    let p = node.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(w.config.paths.cdi_dir.join(&p.cdi_spec)).unwrap()).unwrap();
    assert_eq!(
        spec["devices"][0]["containerEdits"]["deviceNodes"],
        serde_json::json!([{ "path": "/dev/vfio/vfio" }, { "path": "/dev/vfio/10" }])
    );
}

#[test]
fn iommufd_without_cdevs_is_refused_and_rolled_back() {
    // A kernel without CONFIG_VFIO_DEVICE_CDEV.
    let bus = SimBus::new();
    bus.register_driver("nvidia", &[ccgpu_pci::sim::IdMatch::vendor_class(0x10de, 0x0302)]);
    bus.register_driver("vfio-pci", &[]);
    bus.add_function(SimFunction::new(addr("0000:18:00.0"), 0x10de, 0x2330, 0x030200).group(3));
    bus.probe_all();
    let w = World::new(bus);
    assert_eq!(w.config.vfio_nodes, VfioNodes::Iommufd);
    let (node, _) = w.open();
    let e = failure(node.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap_err());
    assert!(matches!(e, ClaimFailure::NoIommufdCdev { .. }), "{e}");
    w.check(true).unwrap();
    assert_eq!(common::snapshot(&w.bus), w.initial);
}

#[test]
fn kernel_faults_fail_the_claim_alone_and_roll_back() {
    for fault in [
        SimFault::UnbindBusy { address: addr("0000:18:00.1"), times: 1 },
        SimFault::ProbeFails { address: addr("0000:18:00.0"), times: 1 },
        SimFault::WriteFails { address: addr("0000:18:00.0"), op: SimOp::DriverOverride, errno: 5, times: 1 },
        SimFault::FunctionAppears {
            after_writes: 2,
            function: SimFunction::new(addr("0000:18:00.2"), 0x8086, 0x1572, 0x020000).group(10),
        },
    ] {
        let w = World::hgx(2);
        let (node, _) = w.open();
        w.bus.inject(fault.clone());
        let e = failure(node.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap_err());
        match &fault {
            SimFault::UnbindBusy { .. } => {
                assert!(error_chain(&e).contains("unbind of 0000:18:00.1"), "{}", error_chain(&e))
            }
            SimFault::ProbeFails { .. } => assert!(matches!(e, ClaimFailure::Bind(_)), "{e}"),
            SimFault::WriteFails { .. } => {
                assert!(error_chain(&e).contains("driver_override of 0000:18:00.0"), "{}", error_chain(&e));
            }
            SimFault::FunctionAppears { .. } => assert!(matches!(e, ClaimFailure::GroupChanged { .. }), "{e}"),
        }
        // Another claim on another GPU is unaffected, and the failed one left nothing behind.
        node.prepare(&uid("c2"), &[hgx_gpu(1)]).unwrap();
        w.check(true).unwrap_or_else(|err| panic!("{fault:?}: {err}"));
        assert_eq!(w.prepared().into_iter().collect::<Vec<_>>(), vec![uid("c2")]);
        assert_eq!(w.bus.driver(addr("0000:18:00.0")).unwrap(), Some(name("nvidia")), "{fault:?}");
        assert_eq!(w.bus.driver(addr("0000:18:00.1")).unwrap(), Some(name("snd_hda_intel")), "{fault:?}");
    }
}

#[test]
fn a_gpu_held_open_fails_after_a_bounded_wait_naming_the_holder() {
    let w = World::hgx(1);
    let (node, _) = w.open();
    w.usage.hold(addr("0000:18:00.0"), vec![Holder { pid: 4242, command: "nvidia-persistenced".into() }], u32::MAX);
    let e = failure(node.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap_err());
    assert!(matches!(e, ClaimFailure::InUse { .. }), "{e}");
    assert!(e.to_string().contains("nvidia-persistenced (pid 4242)"), "{e}");
    assert!(w.bus.writes().is_empty(), "nothing touched while in use");
    // Released during the wait: the prepare goes through.
    w.usage.hold(addr("0000:18:00.0"), vec![Holder { pid: 1, command: "dcgm".into() }], 3);
    node.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();
}

#[test]
fn foreign_devices_and_bad_requests_are_refused_before_any_write() {
    let w = World::hgx(2);
    w.bus.add_function(SimFunction::new(addr("0000:19:00.0"), 0x144d, 0xa80a, 0x010802).group(10));
    let (node, _) = w.open();
    let e = failure(node.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap_err());
    let text = error_chain(&e);
    assert!(text.contains("0000:19:00.0") && text.contains("refusing"), "{text}");
    let missing = DeviceName::new(DeviceKind::Gpu, addr("0000:99:00.0"));
    assert!(matches!(failure(node.prepare(&uid("c1"), &[missing]).unwrap_err()), ClaimFailure::UnknownDevice(_)));
    let hda = DeviceName::new(DeviceKind::Gpu, addr("0000:28:00.1"));
    assert!(matches!(failure(node.prepare(&uid("c1"), &[hda]).unwrap_err()), ClaimFailure::NotManaged { .. }));
    let as_switch = DeviceName::new(DeviceKind::Nvswitch, addr("0000:28:00.0"));
    assert!(matches!(failure(node.prepare(&uid("c1"), &[as_switch]).unwrap_err()), ClaimFailure::NotManaged { .. }));
    assert!(matches!(failure(node.prepare(&uid("c1"), &[]).unwrap_err()), ClaimFailure::EmptyRequest));
    let twice = [hgx_gpu(1), hgx_gpu(1)];
    assert!(matches!(failure(node.prepare(&uid("c1"), &twice).unwrap_err()), ClaimFailure::DuplicateDevice(_)));
    assert!(w.bus.writes().is_empty());
    // Names from outside never become paths unparsed.
    assert!("../../etc".parse::<ccgpu_host_shim::ClaimUid>().is_err());
    assert!("gpu-0000-28-00-0/../x".parse::<DeviceName>().is_err());
}

#[test]
fn two_claims_never_share_a_group_and_a_changed_claim_is_refused() {
    let w = World::hgx(2);
    let (node, _) = w.open();
    node.prepare(&uid("c1"), &[hgx_gpu(0)]).unwrap();
    let e = failure(node.prepare(&uid("c2"), &[hgx_gpu(0)]).unwrap_err());
    assert!(matches!(&e, ClaimFailure::GroupHeld { holder, .. } if *holder == uid("c1")), "{e}");
    let e = failure(node.prepare(&uid("c1"), &[hgx_gpu(1)]).unwrap_err());
    assert!(matches!(e, ClaimFailure::ClaimChanged { .. }), "{e}");
    w.check(true).unwrap();
}

#[test]
fn concurrent_prepares_serialize_per_device_and_run_in_parallel_across_devices() {
    let w = World::hgx(8);
    let (node, _) = w.open();
    let node = Arc::new(node);
    // Eight claims, eight GPUs: all succeed.
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let node = node.clone();
            thread::spawn(move || node.prepare(&uid(&format!("p{i}")), &[hgx_gpu(i)]).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    w.check(true).unwrap();
    for i in 0..8u8 {
        node.unprepare(&uid(&format!("p{i}"))).unwrap();
    }
    // Eight claims racing for one GPU: exactly one wins; the same claim from eight threads: one answer.
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let node = node.clone();
            thread::spawn(move || node.prepare(&uid(&format!("r{i}")), &[hgx_gpu(3)]).is_ok())
        })
        .collect();
    let wins = handles.into_iter().map(|h| h.join().unwrap()).filter(|ok| *ok).count();
    assert_eq!(wins, 1);
    w.check(true).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let node = node.clone();
            thread::spawn(move || node.prepare(&uid("same"), &[hgx_gpu(5)]).unwrap())
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.windows(2).all(|a| a[0] == a[1]));
    w.check(true).unwrap();
}

#[test]
fn pre_bound_devices_stay_on_vfio_and_dynids_never_steal_a_restore() {
    let bus = SimBus::hgx(2);
    // GPU 0 pre-bound to vfio-pci (vfio-pci.ids=), GPU 1's id also in vfio-pci's table afterwards.
    bus.add_dynid("vfio-pci", 0x10de, 0x2330);
    let g0 = addr("0000:18:00.0");
    bus.unbind(g0).unwrap();
    bus.set_driver_override(g0, Some(&DriverName::vfio_pci())).unwrap();
    bus.probe(g0).unwrap();
    bus.set_driver_override(g0, None).unwrap();
    let w = World::new(bus);
    let (node, report) = w.open();
    assert_eq!(report.unclaimed_vfio, vec![g0], "reported, not rebound");
    assert_eq!(w.bus.driver(g0).unwrap(), Some(DriverName::vfio_pci()));
    node.prepare(&uid("c1"), &[hgx_gpu(0), hgx_gpu(1)]).unwrap();
    node.unprepare(&uid("c1")).unwrap();
    assert_eq!(w.bus.driver(g0).unwrap(), Some(DriverName::vfio_pci()), "started on vfio-pci, stays there");
    assert_eq!(w.bus.driver(addr("0000:28:00.0")).unwrap(), Some(name("nvidia")), "override beats the dynid");
    assert_eq!(common::snapshot(&w.bus), w.initial);
}

#[test]
fn recovery_drops_stale_boots_sets_aside_corrupt_records_and_removes_orphan_specs() {
    let w = World::hgx(3);
    {
        let (node, _) = w.open();
        node.prepare(&uid("old"), &[hgx_gpu(0)]).unwrap();
        node.prepare(&uid("bad"), &[hgx_gpu(1)]).unwrap();
    }
    // "Reboot": the machine comes back with every function on its boot driver and a new boot id.
    let rebooted = World::hgx(3);
    fs::create_dir_all(&rebooted.config.paths.checkpoint_dir).unwrap();
    for f in fs::read_dir(&w.config.paths.checkpoint_dir).unwrap() {
        let f = f.unwrap();
        fs::copy(f.path(), rebooted.config.paths.checkpoint_dir.join(f.file_name())).unwrap();
    }
    fs::create_dir_all(&rebooted.config.paths.cdi_dir).unwrap();
    fs::write(rebooted.config.paths.cdi_dir.join("ccgpu.dev-gpu_orphan.json"), "{}").unwrap();
    fs::write(rebooted.config.paths.cdi_dir.join("nvidia.yaml"), "not ours").unwrap();
    let bad = rebooted.config.paths.checkpoint_dir.join("claim-bad.json");
    let mut bytes = fs::read(&bad).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    fs::write(&bad, bytes).unwrap();
    let (node, report) =
        Node::open(rebooted.config.clone(), rebooted.backends(), "99999999-0000-0000-0000-000000000000".into())
            .unwrap();
    assert_eq!(report.stale_boot, vec![uid("old")]);
    assert_eq!(report.corrupt.len(), 1);
    assert!(report.corrupt[0].0.to_string_lossy().ends_with("claim-bad.json.corrupt"));
    assert_eq!(report.orphan_cdi_removed, vec![uid("orphan")]);
    assert!(rebooted.config.paths.cdi_dir.join("nvidia.yaml").exists(), "other vendors' specs untouched");
    assert!(node.claims().unwrap().is_empty());
    // A second node on the same directories is refused while the first lives.
    assert!(Node::open(rebooted.config.clone(), rebooted.backends(), BOOT.into()).is_err());
}

#[test]
fn nvswitches_are_managed_and_discovered() {
    let bus = SimBus::hgx(1);
    bus.add_function(
        SimFunction::new(addr("0000:c5:00.0"), 0x10de, 0x22a3, 0x068000).group(40).numa(1).root("pci0000:c0"),
    );
    bus.probe_all();
    let w = World::new(bus);
    let (node, _) = w.open();
    let found = node.discover().unwrap();
    let sw = found.iter().find(|(d, _)| d.name.kind() == DeviceKind::Nvswitch).unwrap();
    assert_eq!(sw.0.name.to_string(), "nvswitch-0000-c5-00-0");
    assert_eq!((sw.0.pci.numa_node, sw.0.pci.pcie_root.as_deref()), (Some(1), Some("pci0000:c0")));
    node.prepare(&uid("c1"), &[hgx_gpu(0), sw.0.name]).unwrap();
    w.check(true).unwrap();
}
