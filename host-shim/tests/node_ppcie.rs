//! Protected PCIe on the simulated HGX board (8 H200 GPUs + 4 NVSwitches): the unit is prepared as 12
//! devices with one checkpoint and one CDI spec, a unit and a member GPU are never both taken, mixed
//! boards are refused and withheld with the reason, and what is published passes the API server's
//! validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use ccgpu_host_shim::sim::validate_resource_slice;
use ccgpu_host_shim::{ClaimFailure, PpcieMode, build_devices, error_chain, resource_slices};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::{DriverName, PciAddress, PciBus};
use common::{World, hgx_gpu, hgx_switch, hgx_unit, uid};

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn on_vfio(w: &World, a: PciAddress) -> bool {
    w.bus.driver(a).unwrap() == Some(DriverName::vfio_pci())
}

#[test]
fn a_unit_claim_binds_all_twelve_devices_in_one_checkpoint_and_one_cdi_spec() {
    let w = World::ppcie();
    let (node, _) = w.open();
    let started = Instant::now();
    let p = node.prepare(&uid("c1"), &[hgx_unit()]).unwrap();
    let took = started.elapsed();
    assert_eq!(p.devices.len(), 12);
    assert!(p.devices.iter().all(|d| d.unit == Some(hgx_unit())), "{p:?}");
    let members: Vec<_> = p.devices.iter().map(|d| d.name).collect();
    let want: Vec<_> = (0..8).map(hgx_gpu).chain((0..4).map(hgx_switch)).collect();
    assert_eq!(members, want);
    for i in 0..8u8 {
        let gpu = hgx_gpu(i).address();
        assert!(on_vfio(&w, gpu), "GPU {gpu}");
        assert!(on_vfio(&w, PciAddress::new(0, gpu.bus(), 0, 1).unwrap()), "HDA companion of {gpu}");
    }
    for i in 0..4u8 {
        assert!(on_vfio(&w, hgx_switch(i).address()), "switch {i}");
    }
    assert_eq!(
        w.bus.driver(addr("0000:27:00.0")).unwrap(),
        Some("pcieport".parse::<DriverName>().unwrap()),
        "bridge left alone"
    );

    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(w.config.paths.cdi_dir.join(&p.cdi_spec)).unwrap()).unwrap();
    let names: Vec<&str> = spec["devices"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 12, "{spec}");
    assert!(names.iter().any(|n| n.ends_with("nvswitch-0000-c8-00-0")), "{names:?}");
    let records = node.claims().unwrap();
    assert_eq!(records.len(), 1, "one checkpoint record");
    assert_eq!(records[0].requested.len(), 12);
    w.check(true).unwrap();
    eprintln!("12-device prepare on the simulated bus: {took:?}");

    // Idempotent.
    assert_eq!(node.prepare(&uid("c1"), &[hgx_unit()]).unwrap(), p);
    // Discovery while held: the unit is still one device, now prepared.
    let found = node.discover().unwrap();
    let built = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &BTreeMap::new(), true);
    assert_eq!(built.devices.len(), 1);
    assert_eq!(built.states.get("prepared"), Some(&1));

    // A restarted plugin still knows the held devices' mode (from the checkpoint) and answers the same.
    drop(node);
    let (node, _) = w.open();
    assert_eq!(node.prepare(&uid("c1"), &[hgx_unit()]).unwrap(), p);
    let found = node.discover().unwrap();
    let built = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &BTreeMap::new(), true);
    assert_eq!(built.devices.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["ppcie-0000-18-00-0"]);

    node.unprepare(&uid("c1")).unwrap();
    w.check(true).unwrap();
    assert_eq!(common::snapshot(&w.bus), w.initial, "every function back on its driver");
}

#[test]
fn a_unit_and_a_member_gpu_cannot_both_be_taken() {
    let w = World::ppcie();
    let (node, _) = w.open();
    // A GPU of the unit alone: refused before anything is touched, whether or not the unit is taken.
    let e = node.prepare(&uid("c0"), &[hgx_gpu(3)]).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::PpcieMember { .. }), "{}", error_chain(&e));
    assert!(error_chain(&e).contains("member of PPCIe unit ppcie-0000-18-00-0"), "{}", error_chain(&e));
    let e = node.prepare(&uid("c0"), &[hgx_switch(1)]).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::PpcieMember { .. }), "{}", error_chain(&e));
    // The unit and one of its GPUs in one claim.
    let e = node.prepare(&uid("c0"), &[hgx_unit(), hgx_gpu(0)]).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::PpcieMember { .. }), "{}", error_chain(&e));
    assert!(node.claims().unwrap().is_empty());
    assert_eq!(common::snapshot(&w.bus), w.initial, "nothing touched");

    node.prepare(&uid("c1"), &[hgx_unit()]).unwrap();
    let e = node.prepare(&uid("c2"), &[hgx_gpu(7)]).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::PpcieMember { .. }), "{}", error_chain(&e));
    let e = node.prepare(&uid("c2"), &[hgx_unit()]).unwrap_err();
    assert!(matches!(*e.failure, ClaimFailure::GroupHeld { .. }), "{}", error_chain(&e));
    // A unit name that is not this node's.
    let other = "ppcie-0000-28-00-0".parse().unwrap();
    let e = node.prepare(&uid("c3"), &[other]).unwrap_err();
    assert!(error_chain(&e).contains("this node's PPCIe unit is ppcie-0000-18-00-0"), "{}", error_chain(&e));
    w.check(true).unwrap();
}

#[test]
fn mixed_boards_refuse_the_unit_and_publish_none_of_its_devices() {
    type Setup = fn(&World);
    let cases: [(&str, SimBus, Setup, &str); 4] = [
        (
            "one GPU off",
            SimBus::hgx_ppcie(),
            |w| w.ppcie.set(hgx_gpu(5).address(), Ok(Some(PpcieMode::Off))),
            "gpu-0000-68-00-0 is off",
        ),
        (
            "a switch unreadable",
            SimBus::hgx_ppcie(),
            |w| w.ppcie.set(hgx_switch(2).address(), Err("BAR0 mmap refused".into())),
            "nvswitch-0000-c7-00-0 is unreadable",
        ),
        ("a switch missing", SimBus::hgx_with_switches(8, 3), |_| {}, "8 GPUs and 3 NVSwitches"),
        ("four GPUs", SimBus::hgx_with_switches(4, 4), |_| {}, "4 GPUs and 4 NVSwitches"),
    ];
    for (case, bus, setup, reason) in cases {
        let w = World::new(bus);
        w.ppcie.set_all(Some(PpcieMode::On));
        setup(&w);
        let (node, _) = w.open();
        let e = node.prepare(&uid("c1"), &[hgx_unit()]).unwrap_err();
        assert!(matches!(*e.failure, ClaimFailure::PpcieUnit { .. }), "{case}: {}", error_chain(&e));
        assert!(error_chain(&e).contains(reason), "{case}: {}", error_chain(&e));
        let found = node.discover().unwrap();
        let built = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &BTreeMap::new(), true);
        assert!(built.devices.is_empty(), "{case}: {:?}", built.devices);
        assert_eq!(built.withheld.len(), found.len(), "{case}");
        assert!(built.withheld.iter().all(|x| x.reason.contains(reason)), "{case}: {:?}", built.withheld);
        assert_eq!(built.states.get("withheld").copied(), i64::try_from(found.len()).ok(), "{case}");
        assert_eq!(common::snapshot(&w.bus), w.initial, "{case}: nothing touched");
    }
}

#[test]
fn a_single_gpu_board_keeps_per_gpu_devices_and_refuses_a_unit() {
    let w = World::new(SimBus::hgx_ppcie());
    w.ppcie.set_all(Some(PpcieMode::Off));
    let (node, _) = w.open();
    let found = node.discover().unwrap();
    let built = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &BTreeMap::new(), true);
    assert_eq!(built.devices.len(), 12);
    assert!(built.devices.iter().all(|d| d.attributes.as_ref().unwrap()["ppcieMode"].string.as_deref() == Some("off")));
    let e = node.prepare(&uid("c1"), &[hgx_unit()]).unwrap_err();
    assert!(error_chain(&e).contains("no device of this node is in PPCIe mode"), "{}", error_chain(&e));
    node.prepare(&uid("c1"), &[hgx_gpu(2)]).unwrap();
    node.unprepare(&uid("c1")).unwrap();
    // A device whose mode cannot be read is withheld, saying so; the others are offered.
    w.ppcie.set(hgx_gpu(4).address(), Err("BAR0 mmap refused".into()));
    let found = node.discover().unwrap();
    let built = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &BTreeMap::new(), true);
    assert_eq!(built.devices.len(), 11);
    assert_eq!(built.withheld.len(), 1);
    assert!(built.withheld[0].reason.contains("PPCIe mode unreadable"), "{:?}", built.withheld);
}

#[test]
fn the_unit_is_published_as_one_valid_device() {
    let w = World::ppcie();
    let (node, _) = w.open();
    let found = node.discover().unwrap();
    let built = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &BTreeMap::new(), true);
    assert_eq!(built.devices.len(), 1, "{:?}", built.devices);
    let unit = &built.devices[0];
    assert_eq!(unit.name, "ppcie-0000-18-00-0");
    let attrs = unit.attributes.as_ref().unwrap();
    assert_eq!(attrs["type"].string.as_deref(), Some("ppcie-set"));
    assert_eq!(attrs["ccMode"].string.as_deref(), Some("ppcie"));
    assert_eq!(attrs["ppcieMode"].string.as_deref(), Some("on"));
    assert_eq!(attrs["gpuCount"].int, Some(8));
    assert_eq!(attrs["nvswitchCount"].int, Some(4));
    assert_eq!(unit.capacity.as_ref().unwrap()["memory"].value.0, "1128Gi", "8 x 141 GiB");
    assert_eq!(built.states.get("available"), Some(&1));
    let slices = resource_slices("gpu.ccgpu.dev", "node-a", None, 1, &built.devices);
    for s in &slices {
        assert_eq!(validate_resource_slice(s, None), vec![], "{s:?}");
    }
    // A tainted member taints the unit.
    let health = BTreeMap::from([(hgx_switch(3).address(), ccgpu_host_shim::HealthCause::FatalAer { count: 1 })]);
    let tainted = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &health, true);
    assert_eq!(tainted.devices[0].taints.as_ref().map(Vec::len), Some(1));
    let without = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &health, false);
    assert!(without.devices.is_empty());
    assert!(without.withheld[0].reason.contains("nvswitch-0000-c8-00-0: unhealthy"), "{:?}", without.withheld);
}

#[test]
fn a_unit_claim_fits_the_default_thirty_second_budget_and_fails_cleanly_past_its_deadline() {
    // The default budgets (30 s total), not the tests' fast ones.
    let mut w = World::ppcie();
    w.config.budgets = ccgpu_host_shim::Budgets::default();
    assert_eq!(w.config.budgets.total, Duration::from_secs(30));
    let (node, _) = w.open();
    let started = Instant::now();
    node.prepare(&uid("c1"), &[hgx_unit()]).unwrap();
    node.unprepare(&uid("c1")).unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));

    // The last switch's vfio-pci probe keeps failing: the forward wait runs out of its budget and the
    // rollback, in its reserve, puts all eleven devices before it back.
    let mut w = World::ppcie();
    w.config.budgets.total = Duration::from_millis(1500);
    w.config.budgets.rollback = Duration::from_secs(1);
    w.config.budgets.driver_switch = Duration::from_secs(60);
    w.bus.inject(ccgpu_pci::sim::SimFault::ProbeFails { address: hgx_switch(3).address(), times: 1 });
    let (node, _) = w.open();
    let started = Instant::now();
    let e = node.prepare(&uid("c1"), &[hgx_unit()]).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
    assert!(!matches!(*e.failure, ClaimFailure::RollbackFailed { .. }), "{}", error_chain(&e));
    assert!(node.claims().unwrap().is_empty());
    w.check(true).unwrap();
    assert_eq!(common::snapshot(&w.bus), w.initial);
}
