//! Building this node's ResourceSlices (`resource.k8s.io/v1`) from discovery: pure, no I/O.
//!
//! One pool per node, named after the node; ≤128 devices per slice, ≤64 in a slice where any device has
//! a taint or consumes counters (the API server's limits, [`split`]); device names from the PCI address
//! (`gpu-0000-3b-00-0`, stable across restarts and reboots). Attributes (≤32 with capacities): the
//! standard `resource.kubernetes.io/pciBusID` and `resource.kubernetes.io/pcieRoot`, and, qualified by
//! our driver name, `type`, `vendorID`, `deviceID`, `productName`, `iommuGroup`, `numaNode`, `ccMode`,
//! `ppcieMode`, `ccCapable`; capacity `memory` when the model is known.
//!
//! A whole HGX board in protected-PCIe mode is one device, `ppcie-<first GPU's address>` (`type`
//! `ppcie-set`, `ccMode` `ppcie`, `ppcieMode` `on`, `gpuCount`, `nvswitchCount`, `numaNodes`,
//! `productName`, capacity `memory` of all its GPUs, the union of its members' taints), and its members
//! are not offered alone; a board in a mixed state (some device in PPCIe mode, some not or unreadable, not
//! 8 + 4) offers none of its GPUs and switches, each withheld with the reason. A device whose PPCIe mode
//! cannot be read is withheld, never guessed to be off.
//!
//! A device that cannot be prepared (no IOMMU group, a foreign device in its group) is withheld, with
//! the reason logged: offering it would only produce failing pods. A device that failed pre-flight
//! attestation gets a `NoSchedule` device taint whose value names the failing check. A device the health
//! monitor ([`crate::health`]) finds unhealthy for another cause gets the `<driver>/unhealthy` taint whose
//! value is the cause's label: `NoSchedule` while it is free, `NoExecute` while it is prepared for a
//! claim (the pods using it should go). A device of Unknown health is not tainted. Unless the API server
//! is known to keep device taints (feature gate `DRADeviceTaints`; the plugin asks with a dry-run write
//! of [`taint_probe`]), a device that would be tainted is withheld instead.

use std::collections::{BTreeMap, BTreeSet};

use ccgpu_pci::PciAddress;
use k8s_openapi::api::resource::v1::{
    Device, DeviceAttribute, DeviceCapacity, DeviceTaint, ResourcePool, ResourceSlice, ResourceSliceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::product::product;
use crate::ccmode::CcMode;
use crate::discovery::DiscoveredDevice;
use crate::health::Cause;
use crate::names::{ClaimUid, DeviceKind};
use crate::ppcie::{Layout, PpcieMode, PpcieState, Unit, classify};

/// Most devices in one ResourceSlice (`ResourceSliceMaxDevices`).
pub const MAX_DEVICES_PER_SLICE: usize = 128;
/// Most devices in one ResourceSlice when any of them has a taint or consumes counters
/// (`ResourceSliceMaxDevicesWithTaintsOrConsumesCounters`).
pub const MAX_DEVICES_PER_SLICE_WITH_TAINTS: usize = 64;
/// Longest string attribute value the API accepts.
pub const MAX_STRING_ATTRIBUTE: usize = 64;
/// The standard PCI bus id attribute.
pub const PCI_BUS_ID: &str = "resource.kubernetes.io/pciBusID";
/// The standard PCIe root attribute.
pub const PCIE_ROOT: &str = "resource.kubernetes.io/pcieRoot";
/// The PPCIe-mode attribute (`on`, `off`; absent where the model has none), qualified by the driver.
pub const PPCIE_MODE: &str = "ppcieMode";
/// The label set on our slices, naming the driver (for operators' `kubectl get -l`).
pub const DRIVER_LABEL: &str = "resource.ccgpu.dev/driver";

/// The outcome of a pre-flight attestation of one GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preflight {
    /// The evidence verified.
    Passed,
    /// It did not; the first failing check's name (a label value).
    Failed(String),
}

/// Devices to publish and how many are in each state (for `ccgpu_devices`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Built {
    /// The slice devices.
    pub devices: Vec<Device>,
    /// State → count.
    pub states: BTreeMap<&'static str, i64>,
    /// Devices left out of the slices, with why (also logged).
    pub withheld: Vec<Withheld>,
}

/// A device discovery found but the slices leave out.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Withheld {
    /// Its published name.
    pub device: String,
    /// Why it is left out.
    pub reason: String,
}

/// The taint key of an unhealthy device for `driver`.
pub fn unhealthy_taint_key(driver: &str) -> String {
    format!("{driver}/unhealthy")
}

/// The taint key of a failed pre-flight attestation for `driver`.
pub fn preflight_taint_key(driver: &str) -> String {
    format!("{driver}/preflight-attestation")
}

/// A string attribute, cut to the API's limit (bytes, as the API server counts) on a character boundary.
fn string(s: impl Into<String>) -> DeviceAttribute {
    let mut s: String = s.into();
    if s.len() > MAX_STRING_ATTRIBUTE {
        let end = (0..=MAX_STRING_ATTRIBUTE).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(end);
    }
    DeviceAttribute { string: Some(s), ..DeviceAttribute::default() }
}

fn int(i: impl Into<i64>) -> DeviceAttribute {
    DeviceAttribute { int: Some(i.into()), ..DeviceAttribute::default() }
}

fn boolean(b: bool) -> DeviceAttribute {
    DeviceAttribute { bool: Some(b), ..DeviceAttribute::default() }
}

/// The slice devices for `found` (discovery with holders), with pre-flight outcomes and unhealthy
/// devices' causes by address. The node's PPCIe layout ([`crate::ppcie::classify`]) decides the shape: no
/// device in PPCIe mode, one device per GPU and switch; a whole 8 + 4 board in PPCIe mode, one
/// `ppcie-…` device instead of its members; a mixed board, none of its GPUs and switches.
pub fn build_devices(
    driver: &str,
    found: &[(DiscoveredDevice, Option<ClaimUid>)],
    preflight: &BTreeMap<PciAddress, Preflight>,
    unhealthy: &BTreeMap<PciAddress, Cause>,
    taints_supported: bool,
) -> Built {
    let mut built = Built::default();
    let layout = classify(found.iter().map(|(d, _)| (d.name, &d.ppcie)));
    let mut count = |state| *built.states.entry(state).or_insert(0) += 1;
    let mut devices = Vec::new();
    let mut withheld = Vec::new();
    let mut unit = UnitParts::default();
    for (d, holder) in found {
        if let Some(reason) = &d.unpreparable {
            tracing::warn!(device = %d.name, bdf = %d.pci.address, %reason, "device withheld: it cannot be prepared");
            count("unpreparable");
            withheld.push(Withheld { device: d.name.to_string(), reason: format!("cannot be prepared: {reason}") });
            unit.unpreparable.push(d.name.to_string());
            continue;
        }
        let ppcie_withheld = match (&layout, &d.ppcie) {
            (Layout::Mixed(reason), _) => Some(reason.clone()),
            (_, PpcieState::Unreadable(why)) => Some(format!("PPCIe mode unreadable: {why}")),
            _ => None,
        };
        if let Some(reason) = ppcie_withheld {
            tracing::warn!(device = %d.name, bdf = %d.pci.address, %reason, "device withheld");
            count("withheld");
            withheld.push(Withheld { device: d.name.to_string(), reason });
            continue;
        }
        let (taints, why) = taints_of(driver, d, holder.is_some(), preflight, unhealthy);
        if let Layout::Unit(_) = layout {
            // A member: its facts go to the unit's one device.
            unit.add(d, holder.is_some(), taints, why);
            continue;
        }
        if !taints.is_empty() {
            let why = why.join("; ");
            if !taints_supported {
                tracing::warn!(device = %d.name, bdf = %d.pci.address, %why,
                    "device withheld: it would be tainted and the API server drops device taints");
                count("withheld");
                withheld.push(Withheld {
                    device: d.name.to_string(),
                    reason: format!("{why} and device taints are not supported"),
                });
                continue;
            }
            count("tainted");
        }
        count(if holder.is_some() { "prepared" } else { "available" });
        devices.push(single_device(d, taints));
    }
    if let Layout::Unit(u) = &layout {
        let name = u.name.to_string();
        let reason = if !unit.unpreparable.is_empty() {
            Some(format!("members cannot be prepared: {}", unit.unpreparable.join(", ")))
        } else if !unit.taints.is_empty() && !taints_supported {
            Some(format!("{} and device taints are not supported", unit.why.join("; ")))
        } else {
            None
        };
        if let Some(reason) = reason {
            tracing::warn!(device = %name, %reason, "PPCIe unit withheld");
            count("withheld");
            withheld.push(Withheld { device: name, reason });
        } else {
            if !unit.taints.is_empty() {
                count("tainted");
            }
            count(if unit.held { "prepared" } else { "available" });
            devices.push(unit.device(u));
        }
    }
    built.devices = devices;
    built.withheld = withheld;
    built
}

/// A device's taints (pre-flight, health) and their reasons.
fn taints_of(
    driver: &str,
    d: &DiscoveredDevice,
    held: bool,
    preflight: &BTreeMap<PciAddress, Preflight>,
    unhealthy: &BTreeMap<PciAddress, Cause>,
) -> (Vec<DeviceTaint>, Vec<String>) {
    let mut taints = Vec::new();
    let mut why = Vec::new();
    if let Some(Preflight::Failed(check)) = preflight.get(&d.pci.address) {
        taints.push(DeviceTaint {
            key: preflight_taint_key(driver),
            value: Some(check.chars().take(63).collect()),
            effect: "NoSchedule".to_owned(),
            time_added: None,
        });
        why.push(format!("pre-flight attestation failed ({check})"));
    }
    match unhealthy.get(&d.pci.address) {
        // Pre-flight has its own taint, above.
        None | Some(Cause::PreflightFailed { .. }) => {}
        Some(cause) => {
            taints.push(DeviceTaint {
                key: unhealthy_taint_key(driver),
                value: Some(cause.label().to_owned()),
                effect: if held { "NoExecute" } else { "NoSchedule" }.to_owned(),
                time_added: None,
            });
            why.push(format!("unhealthy: {cause}"));
        }
    }
    (taints, why)
}

/// One GPU's or NVSwitch's slice device.
fn single_device(d: &DiscoveredDevice, taints: Vec<DeviceTaint>) -> Device {
    let pci = &d.pci;
    let mut attributes = BTreeMap::new();
    let kind = match d.name.kind() {
        DeviceKind::Gpu => "gpu",
        DeviceKind::Nvswitch => "nvswitch",
        DeviceKind::PpcieSet => "ppcie-set",
    };
    attributes.insert("type".to_owned(), string(kind));
    attributes.insert(PCI_BUS_ID.to_owned(), string(pci.address.to_string()));
    if let Some(root) = &pci.pcie_root {
        attributes.insert(PCIE_ROOT.to_owned(), string(root.clone()));
    }
    attributes.insert("vendorID".to_owned(), string(format!("0x{:04x}", pci.vendor)));
    attributes.insert("deviceID".to_owned(), string(format!("0x{:04x}", pci.device)));
    if let Some(group) = pci.iommu_group {
        attributes.insert("iommuGroup".to_owned(), int(group.0));
    }
    if let Some(numa) = pci.numa_node {
        attributes.insert("numaNode".to_owned(), int(numa));
    }
    if let Some(mode) = d.cc_mode {
        attributes.insert("ccMode".to_owned(), string(mode.to_string()));
    }
    if let PpcieState::Mode(mode) = d.ppcie {
        attributes.insert(PPCIE_MODE.to_owned(), string(mode.to_string()));
    }
    let mut capacity = BTreeMap::new();
    if let Some(p) = product(pci.vendor, pci.device) {
        attributes.insert("productName".to_owned(), string(p.name));
        attributes.insert("ccCapable".to_owned(), boolean(p.cc_capable));
        capacity.insert(
            "memory".to_owned(),
            DeviceCapacity { value: Quantity(format!("{}Gi", p.memory_gib)), request_policy: None },
        );
    }
    Device {
        name: d.name.to_string(),
        attributes: Some(attributes),
        capacity: (!capacity.is_empty()).then_some(capacity),
        taints: (!taints.is_empty()).then_some(taints),
        ..Device::default()
    }
}

/// What a PPCIe unit's one device gathers from its members.
#[derive(Default)]
struct UnitParts {
    held: bool,
    taints: Vec<DeviceTaint>,
    why: Vec<String>,
    unpreparable: Vec<String>,
    product: Option<&'static str>,
    memory_gib: u32,
    numa: BTreeSet<u32>,
}

impl UnitParts {
    fn add(&mut self, d: &DiscoveredDevice, held: bool, taints: Vec<DeviceTaint>, why: Vec<String>) {
        self.held |= held;
        for t in taints {
            // One taint per key: NoExecute wins over NoSchedule; the first member's value names it.
            match self.taints.iter_mut().find(|have| have.key == t.key) {
                Some(have) if t.effect == "NoExecute" => have.effect = t.effect,
                Some(_) => {}
                None => self.taints.push(t),
            }
        }
        self.why.extend(why.into_iter().map(|w| format!("{}: {w}", d.name)));
        if d.name.kind() == DeviceKind::Gpu
            && let Some(p) = product(d.pci.vendor, d.pci.device)
        {
            self.product.get_or_insert(p.name);
            self.memory_gib += p.memory_gib;
        }
        self.numa.extend(d.pci.numa_node);
    }

    fn device(self, unit: &Unit) -> Device {
        let mut attributes = BTreeMap::from([
            ("type".to_owned(), string("ppcie-set")),
            ("ccMode".to_owned(), string(CcMode::Ppcie.to_string())),
            (PPCIE_MODE.to_owned(), string(PpcieMode::On.to_string())),
            ("gpuCount".to_owned(), int(i64::try_from(unit.gpus.len()).unwrap_or(i64::MAX))),
            ("nvswitchCount".to_owned(), int(i64::try_from(unit.switches.len()).unwrap_or(i64::MAX))),
            ("numaNodes".to_owned(), int(i64::try_from(self.numa.len()).unwrap_or(i64::MAX))),
        ]);
        if let Some(p) = self.product {
            attributes.insert("productName".to_owned(), string(p));
        }
        let capacity = (self.memory_gib > 0).then(|| {
            BTreeMap::from([(
                "memory".to_owned(),
                DeviceCapacity { value: Quantity(format!("{}Gi", self.memory_gib)), request_policy: None },
            )])
        });
        Device {
            name: unit.name.to_string(),
            attributes: Some(attributes),
            capacity,
            taints: (!self.taints.is_empty()).then_some(self.taints),
            ..Device::default()
        }
    }
}

/// The name of slice `index` of `driver` on `node`: deterministic, so a restarted plugin finds its
/// slices, and a DNS subdomain (long node names are shortened with a checksum).
pub fn slice_name(node: &str, driver: &str, index: usize) -> String {
    format!("{}-{index}", name_base(node, driver))
}

/// The name of the device-taint probe of `driver` on `node` ([`taint_probe`]); never one of
/// [`slice_name`]'s, so the dry-run create cannot collide with a stored slice.
pub fn probe_slice_name(node: &str, driver: &str) -> String {
    format!("{}-taint-probe", name_base(node, driver))
}

/// A slice written only as a server-side dry run (`dryRun=All`, nothing stored) to learn whether the
/// API server keeps device taints: one device, `taint-probe`, with a `NoSchedule` taint
/// `<driver>/taint-probe`. The server drops the field before answering where `DRADeviceTaints` is off.
pub fn taint_probe(driver: &str, node: &str, owner: Option<&OwnerReference>) -> ResourceSlice {
    let mut slice = resource_slices(driver, node, owner, 1, &[]).remove(0);
    slice.metadata.name = Some(probe_slice_name(node, driver));
    slice.spec.devices = Some(vec![Device {
        name: "taint-probe".to_owned(),
        taints: Some(vec![DeviceTaint {
            key: format!("{driver}/taint-probe"),
            value: Some("dry-run".to_owned()),
            effect: "NoSchedule".to_owned(),
            time_added: None,
        }]),
        ..Device::default()
    }]);
    slice
}

fn name_base(node: &str, driver: &str) -> String {
    let base = format!("{node}-{driver}");
    if base.len() > 240 {
        format!(
            "{}-{:08x}",
            &node[..node.len().min(200)].trim_end_matches(['-', '.']),
            crate::crc32::crc32(base.as_bytes())
        )
    } else {
        base
    }
}

/// The owner of our slices: the Node, so the cluster deletes them with it.
pub fn node_owner(node: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Node".to_owned(),
        name: node.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// Whether `d` puts its slice under the lower limit, [`MAX_DEVICES_PER_SLICE_WITH_TAINTS`].
fn needs_small_slice(d: &Device) -> bool {
    d.taints.as_ref().is_some_and(|t| !t.is_empty()) || d.consumes_counters.as_ref().is_some_and(|c| !c.is_empty())
}

/// `devices` in order, split into the contents of consecutive slices: each as full as the API server
/// allows for the devices it holds ([`MAX_DEVICES_PER_SLICE`], or [`MAX_DEVICES_PER_SLICE_WITH_TAINTS`]
/// once it holds a tainted or counter-consuming device). Always at least one, so an empty pool is
/// published as one empty slice.
pub fn split(devices: &[Device]) -> Vec<&[Device]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut small = false;
    for (i, d) in devices.iter().enumerate() {
        let with = small || needs_small_slice(d);
        let max = if with { MAX_DEVICES_PER_SLICE_WITH_TAINTS } else { MAX_DEVICES_PER_SLICE };
        if i - start < max {
            small = with;
        } else {
            out.push(&devices[start..i]);
            start = i;
            small = needs_small_slice(d);
        }
    }
    out.push(&devices[start..]);
    out
}

/// The slices of one pool generation: devices [`split`] into slices within the API server's limits.
pub fn resource_slices(
    driver: &str,
    node: &str,
    owner: Option<&OwnerReference>,
    generation: i64,
    devices: &[Device],
) -> Vec<ResourceSlice> {
    let chunks = split(devices);
    let count = i64::try_from(chunks.len()).unwrap_or(i64::MAX);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| ResourceSlice {
            metadata: ObjectMeta {
                name: Some(slice_name(node, driver, i)),
                owner_references: owner.map(|o| vec![o.clone()]),
                labels: Some(BTreeMap::from([(DRIVER_LABEL.to_owned(), driver.to_owned())])),
                ..ObjectMeta::default()
            },
            spec: ResourceSliceSpec {
                driver: driver.to_owned(),
                node_name: Some(node.to_owned()),
                pool: ResourcePool { name: node.to_owned(), generation, resource_slice_count: count },
                devices: Some(chunk.to_vec()),
                ..ResourceSliceSpec::default()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value from the host (a product name read from NVML or sysfs) may hold multi-byte characters: it
    /// is cut to the API's byte limit on a character boundary, never in the middle of one (a panic).
    #[test]
    fn a_long_string_attribute_is_cut_on_a_character_boundary() {
        let name = format!("{}é{}", "x".repeat(MAX_STRING_ATTRIBUTE - 1), "y".repeat(10));
        let cut = string(name).string.expect("a string");
        assert_eq!(cut, "x".repeat(MAX_STRING_ATTRIBUTE - 1));
        assert_eq!(string("z".repeat(100)).string.expect("a string").len(), MAX_STRING_ATTRIBUTE);
        assert_eq!(string("short").string.as_deref(), Some("short"));
    }

    fn device(i: usize, taint: bool, counters: bool) -> Device {
        Device {
            name: format!("gpu-{i}"),
            taints: taint.then(|| {
                vec![DeviceTaint {
                    key: preflight_taint_key("gpu.ccgpu.dev"),
                    value: Some("report-signature".into()),
                    effect: "NoSchedule".into(),
                    time_added: None,
                }]
            }),
            consumes_counters: counters.then(|| {
                vec![k8s_openapi::api::resource::v1::DeviceCounterConsumption {
                    counter_set: "memory".into(),
                    counters: BTreeMap::new(),
                }]
            }),
            ..Device::default()
        }
    }

    /// The slices of `devices`, checked against the API server's per-slice limits; their sizes.
    fn split_checked(devices: &[Device]) -> Vec<usize> {
        let slices = resource_slices("gpu.ccgpu.dev", "node-a", None, 1, devices);
        let mut names = Vec::new();
        for s in &slices {
            let held = s.spec.devices.as_deref().unwrap_or_default();
            let limited = held.iter().any(|d| {
                d.taints.as_ref().is_some_and(|t| !t.is_empty())
                    || d.consumes_counters.as_ref().is_some_and(|c| !c.is_empty())
            });
            let max = if limited { 64 } else { 128 };
            assert!(held.len() <= max, "slice {:?} holds {} devices, limit {max}", s.metadata.name, held.len());
            assert_eq!(s.spec.pool.resource_slice_count, i64::try_from(slices.len()).unwrap_or(i64::MAX));
            names.extend(held.iter().map(|d| d.name.clone()));
        }
        let all: Vec<String> = devices.iter().map(|d| d.name.clone()).collect();
        assert_eq!(names, all, "every device once, in order");
        slices.iter().map(|s| s.spec.devices.as_ref().map_or(0, Vec::len)).collect()
    }

    #[test]
    fn slices_without_taints_or_counters_hold_128_devices() {
        let devices: Vec<Device> = (0..300).map(|i| device(i, false, false)).collect();
        assert_eq!(split_checked(&devices), vec![128, 128, 44]);
        assert_eq!(split_checked(&[]), vec![0], "an empty pool is one empty slice");
    }

    #[test]
    fn a_slice_with_a_tainted_device_holds_at_most_64() {
        // 100 devices, the tenth tainted: one slice of 100 would be refused by the API server.
        let devices: Vec<Device> = (0..100).map(|i| device(i, i == 9, false)).collect();
        assert_eq!(split_checked(&devices), vec![64, 36]);
        // A taint after 64 untainted devices starts a new slice.
        let devices: Vec<Device> = (0..200).map(|i| device(i, i == 100, false)).collect();
        assert_eq!(split_checked(&devices), vec![100, 64, 36]);
        // All tainted.
        let devices: Vec<Device> = (0..130).map(|i| device(i, true, false)).collect();
        assert_eq!(split_checked(&devices), vec![64, 64, 2]);
    }

    #[test]
    fn a_slice_with_a_device_consuming_counters_holds_at_most_64() {
        let devices: Vec<Device> = (0..65).map(|i| device(i, false, i == 0)).collect();
        assert_eq!(split_checked(&devices), vec![64, 1]);
    }
}
