//! [`SimBus`]: a simulated PCI driver core that reacts to writes the way the Linux kernel does.
//!
//! It keeps a model of functions, registered drivers (with their static id tables and dynamic ids) and
//! IOMMU groups, and applies the kernel's rules on every write:
//!
//! - `driver_override` only records the override; binding is unchanged until a probe.
//! - `unbind` detaches the driver (`ENOENT` when none is bound, as the `driver/unbind` file is absent).
//! - `drivers_probe` attaches the first matching driver in registration order; with an override, only
//!   the named driver matches, whatever its id table says. A failing probe leaves the function unbound
//!   and the write still succeeds, as in the kernel.
//! - `bind` attaches one named driver (`EBUSY` when bound, `ENODEV` when it does not match or its probe
//!   fails).
//! - `remove_id` drops a dynamic id (`ENODEV` when the driver has no such id).
//! - a function bound to a VFIO driver gets a `vfioN` cdev when the model has cdev support.
//!
//! Faults can be injected ([`SimFault`]): `EBUSY` on unbind, a probe that leaves the function unbound, a
//! write that fails with any errno, a new function that appears in an IOMMU group after some writes.
//! Every write is logged ([`SimBus::writes`]) so tests can assert what was touched.
//!
//! This is a model, not a mock: it is used by tests, benchmarks and an explicit `--simulate` mode, never
//! chosen implicitly.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::address::PciAddress;
use crate::bus::{PciBus, PciDevice, PciError, Sriov};
use crate::ids::{ClassCode, DriverName, IommuGroup};

const EBUSY: i32 = 16;
const ENODEV: i32 = 19;
const ENOENT: i32 = 2;

/// One function of the simulated machine, as it is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFunction {
    /// Address.
    pub address: PciAddress,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Class code.
    pub class: ClassCode,
    /// IOMMU group (`None`: no IOMMU).
    pub iommu_group: Option<IommuGroup>,
    /// NUMA node.
    pub numa_node: Option<u32>,
    /// Root complex name (`pci0000:00`).
    pub pcie_root: Option<String>,
    /// SR-IOV total VFs (physical functions only).
    pub sriov_total_vfs: Option<u32>,
    /// The physical function of a virtual function.
    pub physfn: Option<PciAddress>,
}

impl SimFunction {
    /// A function with no IOMMU group, NUMA node or root; set them with the builder methods.
    pub fn new(address: PciAddress, vendor: u16, device: u16, class: u32) -> Self {
        Self {
            address,
            vendor,
            device,
            class: ClassCode(class),
            iommu_group: None,
            numa_node: None,
            pcie_root: None,
            sriov_total_vfs: None,
            physfn: None,
        }
    }

    /// Places the function in an IOMMU group.
    pub fn group(mut self, group: u32) -> Self {
        self.iommu_group = Some(IommuGroup(group));
        self
    }

    /// Sets the NUMA node.
    pub fn numa(mut self, node: u32) -> Self {
        self.numa_node = Some(node);
        self
    }

    /// Sets the root complex (`pci0000:00`).
    pub fn root(mut self, root: &str) -> Self {
        self.pcie_root = Some(root.to_owned());
        self
    }
}

/// A driver's static match entry: vendor plus optional device id and optional 16-bit class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMatch {
    /// Vendor id.
    pub vendor: u16,
    /// Device id, any when `None`.
    pub device: Option<u16>,
    /// Base class + subclass, any when `None`.
    pub class16: Option<u16>,
}

impl IdMatch {
    /// Matches every function of `vendor` with class `class16`.
    pub fn vendor_class(vendor: u16, class16: u16) -> Self {
        Self { vendor, device: None, class16: Some(class16) }
    }

    /// Matches every function of class `class16`, any vendor.
    pub fn any_vendor_class(class16: u16) -> Self {
        Self { vendor: 0xffff, device: None, class16: Some(class16) }
    }

    fn matches(&self, f: &SimState, address: PciAddress) -> bool {
        let Some(dev) = f.functions.get(&address) else {
            return false;
        };
        (self.vendor == 0xffff || self.vendor == dev.spec.vendor)
            && self.device.is_none_or(|d| d == dev.spec.device)
            && self.class16.is_none_or(|c| c == dev.spec.class.class16())
    }
}

/// A fault to inject into the simulated kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// The next `times` unbinds of `address` fail with `EBUSY`.
    UnbindBusy {
        /// Function.
        address: PciAddress,
        /// How many unbinds fail.
        times: u32,
    },
    /// The next `times` probes of `address` (by any driver) fail, leaving it unbound.
    ProbeFails {
        /// Function.
        address: PciAddress,
        /// How many probes fail.
        times: u32,
    },
    /// The next `times` writes of kind `op` concerning `address` fail with `errno`.
    WriteFails {
        /// Function.
        address: PciAddress,
        /// Which write.
        op: SimOp,
        /// The error number returned.
        errno: i32,
        /// How many writes fail.
        times: u32,
    },
    /// After `after_writes` more writes (of any kind), `function` appears (hot-plug) — typically in an
    /// IOMMU group someone is binding: the group changes under them.
    FunctionAppears {
        /// Writes to let through first.
        after_writes: u32,
        /// The new function.
        function: SimFunction,
    },
}

/// The kinds of write the bus accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimOp {
    /// `driver_override`.
    DriverOverride,
    /// `driver/unbind`.
    Unbind,
    /// `drivers_probe`.
    Probe,
    /// `drivers/<d>/bind`.
    Bind,
    /// `drivers/<d>/remove_id`.
    RemoveId,
}

/// One write the simulated kernel received (whether or not it succeeded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimWrite {
    /// Which write.
    pub op: SimOp,
    /// The function concerned (`None` for `remove_id`).
    pub address: Option<PciAddress>,
    /// The value written (driver name, or `vendor device` for `remove_id`).
    pub value: String,
    /// The errno it failed with, if it did.
    pub errno: Option<i32>,
}

#[derive(Debug)]
struct SimDevice {
    spec: SimFunction,
    driver: Option<DriverName>,
    driver_override: Option<DriverName>,
    cdev: Option<u32>,
    num_vfs: u32,
}

#[derive(Debug)]
struct SimDriver {
    name: DriverName,
    id_table: Vec<IdMatch>,
    dynids: Vec<(u16, u16)>,
}

#[derive(Debug, Default)]
struct SimState {
    functions: BTreeMap<PciAddress, SimDevice>,
    drivers: Vec<SimDriver>,
    cdev_support: bool,
    next_cdev: u32,
    faults: Vec<SimFault>,
    writes: Vec<SimWrite>,
}

/// A simulated PCI bus (see the module documentation).
#[derive(Debug, Default)]
pub struct SimBus {
    state: Mutex<SimState>,
}

impl SimBus {
    /// An empty machine without VFIO cdev support.
    pub fn new() -> Self {
        Self::default()
    }

    /// A machine whose kernel creates `vfio-dev/vfioN` cdevs for VFIO-bound functions (Linux ≥ 6.6 with
    /// `CONFIG_VFIO_DEVICE_CDEV`).
    pub fn with_cdev_support() -> Self {
        let bus = Self::default();
        bus.lock().cdev_support = true;
        bus
    }

    /// A typical HGX-like node: `gpus` NVIDIA H200 GPUs (`0x10de:0x2335`, class `0x030200`, the id a real
    /// H200 showed in sysfs on 2026-12-04), each in its
    /// own IOMMU group together with its HDA audio function (`.1`, class `0x040300`) and, for every other
    /// GPU, the PCIe switch port above it (a bridge), spread over 2 NUMA nodes; drivers `nvidia`,
    /// `snd_hda_intel`, `pcieport` and `vfio-pci` registered and every function probed as at boot.
    pub fn hgx(gpus: u8) -> Self {
        let bus = Self::with_cdev_support();
        bus.register_driver("pcieport", &[IdMatch::any_vendor_class(0x0604)]);
        bus.register_driver(
            "nvidia",
            &[
                IdMatch::vendor_class(0x10de, 0x0302),
                IdMatch::vendor_class(0x10de, 0x0300),
                IdMatch::vendor_class(0x10de, 0x0680),
            ],
        );
        bus.register_driver("snd_hda_intel", &[IdMatch::any_vendor_class(0x0403)]);
        bus.register_driver("vfio-pci", &[]);
        for i in 0..gpus {
            let bus_no = 0x18u8.wrapping_add(i.wrapping_mul(0x10));
            let node = u32::from(i % 2);
            let root = format!("pci0000:{:02x}", bus_no & 0xf0);
            let group = 10 + u32::from(i);
            let at =
                |b: u8, f: u8| PciAddress::new(0, b, 0, f).unwrap_or_else(|| unreachable!("device 0, function ≤ 1"));
            if i % 2 == 1 {
                bus.add_function(
                    SimFunction::new(at(bus_no.wrapping_sub(1), 0), 0x10b5, 0xc010, 0x060400)
                        .group(group)
                        .numa(node)
                        .root(&root),
                );
            }
            bus.add_function(
                SimFunction::new(at(bus_no, 0), 0x10de, 0x2335, 0x030200).group(group).numa(node).root(&root),
            );
            bus.add_function(
                SimFunction::new(at(bus_no, 1), 0x10de, 0x22a3, 0x040300).group(group).numa(node).root(&root),
            );
        }
        bus.probe_all();
        bus
    }

    /// Registers a driver with a static id table (the order of registration is the probe order).
    ///
    /// # Panics
    /// When `name` is not a valid driver name (a programming error in the model's setup).
    pub fn register_driver(&self, name: &str, id_table: &[IdMatch]) {
        let name: DriverName = name.parse().unwrap_or_else(|e| panic!("simulated driver: {e}"));
        self.lock().drivers.push(SimDriver { name, id_table: id_table.to_vec(), dynids: Vec::new() });
    }

    /// Adds a dynamic id to a registered driver (what `new_id` or `vfio-pci.ids=` do).
    pub fn add_dynid(&self, driver: &str, vendor: u16, device: u16) {
        let mut s = self.lock();
        if let Some(d) = s.drivers.iter_mut().find(|d| d.name.as_str() == driver) {
            d.dynids.push((vendor, device));
        }
    }

    /// Adds a function, unbound (call [`SimBus::probe_all`] to model boot-time probing).
    pub fn add_function(&self, function: SimFunction) {
        self.lock().insert(function);
    }

    /// Removes a function (hot-unplug).
    pub fn remove_function(&self, address: PciAddress) {
        self.lock().functions.remove(&address);
    }

    /// Probes every unbound function, as the kernel does at boot and at module load.
    pub fn probe_all(&self) {
        let mut s = self.lock();
        let unbound: Vec<_> = s.functions.iter().filter(|(_, d)| d.driver.is_none()).map(|(a, _)| *a).collect();
        for address in unbound {
            // A function no driver matches stays unbound, as at boot.
            let _unmatched = s.attach_first(address, None);
        }
    }

    /// Sets the number of enabled VFs of a physical function (creating them as unbound functions in
    /// groups of their own, on the next bus number), like a write to `sriov_numvfs`. At most 255 VFs.
    pub fn set_sriov(&self, pf: PciAddress, total: u32, enabled: u8, first_group: u32) {
        let mut s = self.lock();
        let Some(spec) = s.functions.get(&pf).map(|d| d.spec.clone()) else {
            return;
        };
        if let Some(d) = s.functions.get_mut(&pf) {
            d.spec.sriov_total_vfs = Some(total);
            d.num_vfs = u32::from(enabled);
        }
        for i in 0..enabled {
            // VFs sit on the next bus number, eight functions per device, like a real SR-IOV layout.
            let Some(address) = PciAddress::new(pf.domain(), pf.bus().wrapping_add(1), i / 8, i % 8) else {
                continue;
            };
            let mut vf = SimFunction::new(address, spec.vendor, spec.device.wrapping_add(1), spec.class.0)
                .group(first_group + u32::from(i));
            vf.physfn = Some(pf);
            vf.pcie_root.clone_from(&spec.pcie_root);
            s.insert(vf);
        }
    }

    /// Injects a fault.
    pub fn inject(&self, fault: SimFault) {
        self.lock().faults.push(fault);
    }

    /// Drops every pending fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every write received so far.
    pub fn writes(&self) -> Vec<SimWrite> {
        self.lock().writes.clone()
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SimState {
    fn insert(&mut self, spec: SimFunction) {
        let address = spec.address;
        self.functions.insert(address, SimDevice { spec, driver: None, driver_override: None, cdev: None, num_vfs: 0 });
    }

    fn driver_matches(&self, driver: &SimDriver, address: PciAddress) -> bool {
        let Some(dev) = self.functions.get(&address) else {
            return false;
        };
        match &dev.driver_override {
            // The kernel's pci_match_device(): an override matches its driver and only its driver.
            Some(o) => *o == driver.name,
            None => {
                driver.dynids.iter().any(|&(v, d)| v == dev.spec.vendor && d == dev.spec.device)
                    || driver.id_table.iter().any(|m| m.matches(self, address))
            }
        }
    }

    /// Consumes one pending "probe fails" fault for `address`, if any.
    fn probe_fails(&mut self, address: PciAddress) -> bool {
        take_fault(&mut self.faults, |f| matches!(f, SimFault::ProbeFails { address: a, .. } if *a == address))
    }

    /// Attaches the first matching driver (or only `only`); returns whether one was attached, or the
    /// errno `bind` reports.
    fn attach_first(&mut self, address: PciAddress, only: Option<&DriverName>) -> Result<(), i32> {
        let candidates: Vec<usize> = (0..self.drivers.len())
            .filter(|&i| only.is_none_or(|o| *o == self.drivers[i].name))
            .filter(|&i| self.driver_matches(&self.drivers[i], address))
            .collect();
        let Some(&first) = candidates.first() else {
            return Err(ENODEV);
        };
        if self.probe_fails(address) {
            return Err(ENODEV);
        }
        let name = self.drivers[first].name.clone();
        let cdev = if name.is_vfio() && self.cdev_support {
            self.next_cdev += 1;
            Some(self.next_cdev - 1)
        } else {
            None
        };
        if let Some(dev) = self.functions.get_mut(&address) {
            dev.driver = Some(name);
            dev.cdev = cdev;
        }
        Ok(())
    }

    /// Runs the write through the fault list and the kernel's rules, and logs it.
    fn write(
        &mut self,
        op: SimOp,
        address: Option<PciAddress>,
        value: String,
        apply: impl FnOnce(&mut SimState) -> Result<(), i32>,
    ) -> Result<(), i32> {
        self.hotplug_tick();
        let injected = address.and_then(|a| {
            let mut errno = None;
            take_fault_with(&mut self.faults, |f| match f {
                SimFault::WriteFails { address: fa, op: fo, errno: e, .. } if *fa == a && *fo == op => {
                    errno = Some(*e);
                    true
                }
                SimFault::UnbindBusy { address: fa, .. } if *fa == a && op == SimOp::Unbind => {
                    errno = Some(EBUSY);
                    true
                }
                _ => false,
            });
            errno
        });
        let result = match injected {
            Some(errno) => Err(errno),
            None => apply(self),
        };
        self.writes.push(SimWrite { op, address, value, errno: result.err() });
        result
    }

    fn hotplug_tick(&mut self) {
        let mut appearing = Vec::new();
        self.faults.retain_mut(|f| match f {
            SimFault::FunctionAppears { after_writes, function } => {
                if *after_writes == 0 {
                    appearing.push(function.clone());
                    false
                } else {
                    *after_writes -= 1;
                    true
                }
            }
            _ => true,
        });
        for f in appearing {
            self.insert(f);
        }
    }
}

/// Consumes one use of the first fault `pick` selects; true when there was one.
fn take_fault(faults: &mut Vec<SimFault>, pick: impl FnMut(&SimFault) -> bool) -> bool {
    take_fault_with(faults, pick)
}

fn take_fault_with(faults: &mut Vec<SimFault>, mut pick: impl FnMut(&SimFault) -> bool) -> bool {
    let Some(i) = faults.iter().position(&mut pick) else {
        return false;
    };
    let exhausted = match &mut faults[i] {
        SimFault::UnbindBusy { times, .. }
        | SimFault::ProbeFails { times, .. }
        | SimFault::WriteFails { times, .. } => {
            *times = times.saturating_sub(1);
            *times == 0
        }
        SimFault::FunctionAppears { .. } => true,
    };
    if exhausted {
        faults.remove(i);
    }
    true
}

fn sim_path(address: Option<PciAddress>, attr: &str) -> PathBuf {
    match address {
        Some(a) => PathBuf::from(format!("sim:/bus/pci/devices/{a}/{attr}")),
        None => PathBuf::from(format!("sim:/bus/pci/{attr}")),
    }
}

fn write_error(address: Option<PciAddress>, attr: &str, value: &str, errno: i32) -> PciError {
    PciError::Write {
        path: sim_path(address, attr),
        value: value.to_owned(),
        source: io::Error::from_raw_os_error(errno),
    }
}

impl PciBus for SimBus {
    fn devices(&self) -> Result<Vec<PciAddress>, PciError> {
        Ok(self.lock().functions.keys().copied().collect())
    }

    fn describe(&self, address: PciAddress) -> Result<PciDevice, PciError> {
        let s = self.lock();
        let dev = s.functions.get(&address).ok_or(PciError::NoSuchDevice { address })?;
        let sriov = dev.spec.sriov_total_vfs.map(|total_vfs| Sriov {
            total_vfs,
            num_vfs: dev.num_vfs,
            vfs: s.functions.values().filter(|d| d.spec.physfn == Some(address)).map(|d| d.spec.address).collect(),
        });
        Ok(PciDevice {
            address,
            vendor: dev.spec.vendor,
            device: dev.spec.device,
            class: dev.spec.class,
            driver: dev.driver.clone(),
            iommu_group: dev.spec.iommu_group,
            numa_node: dev.spec.numa_node,
            pcie_root: dev.spec.pcie_root.clone(),
            vfio_cdev: dev.cdev.map(|n| format!("vfio{n}")),
            sriov,
            physfn: dev.spec.physfn,
        })
    }

    fn driver(&self, address: PciAddress) -> Result<Option<DriverName>, PciError> {
        let s = self.lock();
        Ok(s.functions.get(&address).ok_or(PciError::NoSuchDevice { address })?.driver.clone())
    }

    fn driver_override(&self, address: PciAddress) -> Result<Option<DriverName>, PciError> {
        let s = self.lock();
        Ok(s.functions.get(&address).ok_or(PciError::NoSuchDevice { address })?.driver_override.clone())
    }

    fn iommu_group_members(&self, group: IommuGroup) -> Result<Vec<PciAddress>, PciError> {
        let s = self.lock();
        let members: Vec<_> =
            s.functions.values().filter(|d| d.spec.iommu_group == Some(group)).map(|d| d.spec.address).collect();
        if members.is_empty() {
            let path = PathBuf::from(format!("sim:/kernel/iommu_groups/{group}/devices"));
            return Err(PciError::Read { path, source: io::Error::from_raw_os_error(ENOENT) });
        }
        Ok(members)
    }

    fn driver_registered(&self, driver: &DriverName) -> Result<bool, PciError> {
        Ok(self.lock().drivers.iter().any(|d| d.name == *driver))
    }

    fn set_driver_override(&self, address: PciAddress, driver: Option<&DriverName>) -> Result<(), PciError> {
        let value = driver.map(|d| d.to_string()).unwrap_or_default();
        let new = driver.cloned();
        self.lock()
            .write(SimOp::DriverOverride, Some(address), value.clone(), |s| {
                let dev = s.functions.get_mut(&address).ok_or(ENOENT)?;
                dev.driver_override = new;
                Ok(())
            })
            .map_err(|errno| write_error(Some(address), "driver_override", &value, errno))
    }

    fn unbind(&self, address: PciAddress) -> Result<(), PciError> {
        let value = address.to_string();
        self.lock()
            .write(SimOp::Unbind, Some(address), value.clone(), |s| {
                let dev = s.functions.get_mut(&address).ok_or(ENOENT)?;
                if dev.driver.take().is_none() {
                    return Err(ENOENT);
                }
                dev.cdev = None;
                Ok(())
            })
            .map_err(|errno| write_error(Some(address), "driver/unbind", &value, errno))
    }

    fn probe(&self, address: PciAddress) -> Result<(), PciError> {
        let value = address.to_string();
        self.lock()
            .write(SimOp::Probe, Some(address), value.clone(), |s| {
                let dev = s.functions.get(&address).ok_or(ENODEV)?;
                if dev.driver.is_none() {
                    // The kernel ignores the probe's outcome: a failing probe leaves the device unbound.
                    let _attached = s.attach_first(address, None);
                }
                Ok(())
            })
            .map_err(|errno| write_error(None, "drivers_probe", &value, errno))
    }

    fn bind(&self, driver: &DriverName, address: PciAddress) -> Result<(), PciError> {
        let value = address.to_string();
        self.lock()
            .write(SimOp::Bind, Some(address), value.clone(), |s| {
                let dev = s.functions.get(&address).ok_or(ENODEV)?;
                if dev.driver.is_some() {
                    return Err(EBUSY);
                }
                if !s.drivers.iter().any(|d| d.name == *driver) {
                    return Err(ENOENT);
                }
                s.attach_first(address, Some(driver))
            })
            .map_err(|errno| write_error(None, &format!("drivers/{driver}/bind"), &value, errno))
    }

    fn remove_id(&self, driver: &DriverName, vendor: u16, device: u16) -> Result<(), PciError> {
        let value = format!("{vendor:04x} {device:04x}");
        self.lock()
            .write(SimOp::RemoveId, None, value.clone(), |s| {
                let d = s.drivers.iter_mut().find(|d| d.name == *driver).ok_or(ENOENT)?;
                let before = d.dynids.len();
                d.dynids.retain(|&id| id != (vendor, device));
                if d.dynids.len() == before { Err(ENODEV) } else { Ok(()) }
            })
            .map_err(|errno| write_error(None, &format!("drivers/{driver}/remove_id"), &value, errno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> PciAddress {
        s.parse().expect("valid address")
    }

    fn vfio() -> DriverName {
        DriverName::vfio_pci()
    }

    fn name(s: &str) -> DriverName {
        s.parse().expect("valid driver name")
    }

    #[test]
    fn boot_probe_binds_by_id_table() {
        let bus = SimBus::hgx(2);
        assert_eq!(bus.driver(addr("0000:18:00.0")).expect("read"), Some(name("nvidia")));
        assert_eq!(bus.driver(addr("0000:18:00.1")).expect("read"), Some(name("snd_hda_intel")));
        assert_eq!(bus.driver(addr("0000:27:00.0")).expect("read"), Some(name("pcieport")));
        let group = bus.describe(addr("0000:28:00.0")).expect("read").iommu_group.expect("has group");
        assert_eq!(bus.iommu_group_members(group).expect("read").len(), 3, "bridge, GPU, HDA");
    }

    #[test]
    fn override_unbind_probe_moves_to_vfio_and_creates_cdev() {
        let bus = SimBus::hgx(1);
        let gpu = addr("0000:18:00.0");
        bus.set_driver_override(gpu, Some(&vfio())).expect("override");
        assert_eq!(bus.driver(gpu).expect("read"), Some(name("nvidia")), "override alone changes nothing");
        bus.unbind(gpu).expect("unbind");
        assert_eq!(bus.driver(gpu).expect("read"), None);
        bus.probe(gpu).expect("probe");
        let d = bus.describe(gpu).expect("read");
        assert_eq!(d.driver, Some(vfio()));
        assert_eq!(d.vfio_cdev.as_deref(), Some("vfio0"));
        // Unbinding from vfio-pci removes the cdev; with the override gone, the probe returns nvidia.
        bus.unbind(gpu).expect("unbind");
        bus.set_driver_override(gpu, None).expect("clear");
        bus.probe(gpu).expect("probe");
        let d = bus.describe(gpu).expect("read");
        assert_eq!((d.driver, d.vfio_cdev), (Some(name("nvidia")), None));
    }

    #[test]
    fn kernel_errors_on_bad_writes() {
        let bus = SimBus::hgx(1);
        let gpu = addr("0000:18:00.0");
        let errno = |r: Result<(), PciError>| r.expect_err("must fail").raw_os_error();
        assert_eq!(errno(bus.bind(&vfio(), gpu)), Some(EBUSY), "bound already");
        bus.unbind(gpu).expect("unbind");
        assert_eq!(errno(bus.unbind(gpu)), Some(ENOENT), "no driver/unbind file when unbound");
        assert_eq!(errno(bus.bind(&vfio(), gpu)), Some(ENODEV), "vfio-pci has no id for it");
        bus.set_driver_override(gpu, Some(&name("snd_hda_intel"))).expect("override");
        assert_eq!(errno(bus.bind(&name("nvidia"), gpu)), Some(ENODEV), "override excludes other drivers");
        assert_eq!(errno(bus.remove_id(&vfio(), 0x10de, 0x2330)), Some(ENODEV), "no such dynid");
        assert_eq!(bus.writes().iter().filter(|w| w.errno.is_some()).count(), 5);
    }

    #[test]
    fn dynids_and_remove_id() {
        let bus = SimBus::hgx(1);
        bus.add_dynid("vfio-pci", 0x10de, 0x2330);
        let gpu = addr("0000:18:00.0");
        bus.unbind(gpu).expect("unbind");
        bus.probe(gpu).expect("probe");
        assert_eq!(bus.driver(gpu).expect("read"), Some(name("nvidia")), "nvidia registered first");
        // With nvidia's claim gone, the dynid decides; after remove_id, nothing matches vfio-pci.
        bus.unbind(gpu).expect("unbind");
        bus.set_driver_override(gpu, Some(&vfio())).expect("override");
        bus.probe(gpu).expect("probe");
        assert_eq!(bus.driver(gpu).expect("read"), Some(vfio()));
        bus.remove_id(&vfio(), 0x10de, 0x2330).expect("remove_id");
        bus.unbind(gpu).expect("unbind");
        bus.set_driver_override(gpu, None).expect("clear");
        assert!(bus.bind(&vfio(), gpu).is_err(), "vfio-pci no longer matches");
    }

    #[test]
    fn injected_faults_fire_the_given_number_of_times() {
        let bus = SimBus::hgx(1);
        let gpu = addr("0000:18:00.0");
        bus.inject(SimFault::UnbindBusy { address: gpu, times: 2 });
        assert_eq!(bus.unbind(gpu).expect_err("busy").raw_os_error(), Some(EBUSY));
        assert_eq!(bus.unbind(gpu).expect_err("busy").raw_os_error(), Some(EBUSY));
        bus.unbind(gpu).expect("third time works");
        bus.inject(SimFault::ProbeFails { address: gpu, times: 1 });
        bus.probe(gpu).expect("drivers_probe write succeeds even when the probe fails");
        assert_eq!(bus.driver(gpu).expect("read"), None);
        bus.probe(gpu).expect("probe");
        assert_eq!(bus.driver(gpu).expect("read"), Some(name("nvidia")));
    }

    #[test]
    fn function_appears_in_group_after_writes() {
        let bus = SimBus::hgx(1);
        let intruder = SimFunction::new(addr("0000:18:00.2"), 0x8086, 0x1234, 0x020000).group(10);
        bus.inject(SimFault::FunctionAppears { after_writes: 1, function: intruder });
        bus.set_driver_override(addr("0000:18:00.0"), Some(&vfio())).expect("write 1");
        assert_eq!(bus.iommu_group_members(IommuGroup(10)).expect("read").len(), 2);
        bus.set_driver_override(addr("0000:18:00.0"), None).expect("write 2");
        assert_eq!(bus.iommu_group_members(IommuGroup(10)).expect("read").len(), 3);
    }

    #[test]
    fn sriov_vfs_are_listed() {
        let bus = SimBus::hgx(1);
        let pf = addr("0000:18:00.0");
        bus.set_sriov(pf, 16, 2, 100);
        let d = bus.describe(pf).expect("read");
        let sriov = d.sriov.expect("sr-iov");
        assert_eq!((sriov.total_vfs, sriov.num_vfs, sriov.vfs.len()), (16, 2, 2));
        assert_eq!(bus.describe(sriov.vfs[0]).expect("read").physfn, Some(pf));
    }
}
