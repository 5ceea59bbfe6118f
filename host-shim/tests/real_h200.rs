//! The node layer on the machine a real H200 was recorded on (tests/data/real-h200-2026-12-04): a VM
//! with the GPU passed through at 0000:00:06.0 on the root bus, driver `nvidia`, NUMA node -1, no IOMMU
//! (no group), CC mode off. The simulated bus is given exactly that machine, and discovery and the slice
//! builder must say what the real binaries said there: the same device description, and the GPU withheld
//! from the ResourceSlice because it cannot be prepared without an IOMMU group.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ccgpu_host_shim::CcMode;
use ccgpu_host_shim::build_devices;
use ccgpu_host_shim::sim::SimUsage;
use ccgpu_host_shim::{Backends, Node};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::sim::{IdMatch, SimFunction};
use serde_json::Value;

fn recorded(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real-h200-2026-12-04").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the recording is JSON")
}

/// The recorded VM: one H200 on the root bus, no IOMMU, no NUMA information, probed by `nvidia`.
fn recorded_machine() -> SimBus {
    let bus = SimBus::new();
    bus.register_driver("nvidia", &[IdMatch::vendor_class(0x10de, 0x0302)]);
    let gpu = "0000:00:06.0".parse().expect("address");
    bus.add_function(SimFunction::new(gpu, 0x10de, 0x2335, 0x030200).root("pci0000:00"));
    bus.probe_all();
    bus
}

#[test]
fn discovery_and_slices_match_what_the_real_binaries_printed() {
    let world = common::World::new(recorded_machine());
    let backends = Backends::simulated(world.bus.clone(), Arc::new(SimUsage::default()), Some(CcMode::Off));
    let (node, _) = Node::open(world.config.clone(), backends, common::BOOT.into()).expect("open");
    let found = node.discover().expect("discover");
    let ours: Vec<Value> = found.iter().map(|(d, c)| serde_json::json!({ "device": d, "claim": c })).collect();
    assert_eq!(Value::Array(ours), recorded("node-discover.json"));

    let built = build_devices("gpu.ccgpu.dev", &found, &BTreeMap::new(), &BTreeMap::new(), true);
    let real = recorded("node-slices.json");
    assert!(built.devices.is_empty(), "a GPU without an IOMMU group is not offered");
    assert_eq!(serde_json::to_value(&built.states).expect("json"), real["states"]);
    let withheld = serde_json::to_value(&built.withheld).expect("json");
    assert_eq!(withheld[0]["device"], "gpu-0000-00-06-0");
    assert!(withheld[0]["reason"].as_str().is_some_and(|r| r.contains("has no IOMMU group")), "{withheld}");
}
