//! [`SimBus`]: the simulated driver core (see the module documentation of [`crate::sim`]).

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::fault::{SimFault, SimOp, SimWrite};
use super::function::{IdMatch, SimFunction};
use crate::address::PciAddress;
use crate::bus::{PciBus, PciDevice, PciError, Sriov};
use crate::ids::{
    CLASS_3D_CONTROLLER, CLASS_NVSWITCH, CLASS_PCI_BRIDGE, CLASS_VGA, DriverName, IommuGroup, NVIDIA_VENDOR,
};

const EBUSY: i32 = 16;
const ENODEV: i32 = 19;
const ENOENT: i32 = 2;

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
        bus.register_driver("pcieport", &[IdMatch::any_vendor_class(CLASS_PCI_BRIDGE)]);
        bus.register_driver(
            "nvidia",
            &[
                IdMatch::vendor_class(NVIDIA_VENDOR, CLASS_3D_CONTROLLER),
                IdMatch::vendor_class(NVIDIA_VENDOR, CLASS_VGA),
                IdMatch::vendor_class(NVIDIA_VENDOR, CLASS_NVSWITCH),
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
                SimFunction::new(at(bus_no, 0), NVIDIA_VENDOR, 0x2335, 0x030200).group(group).numa(node).root(&root),
            );
            bus.add_function(
                SimFunction::new(at(bus_no, 1), NVIDIA_VENDOR, 0x22a3, 0x040300).group(group).numa(node).root(&root),
            );
        }
        bus.probe_all();
        bus
    }

    /// An HGX H100/H200 baseboard as protected PCIe (PPCIe) passes it: [`SimBus::hgx`]`(8)` plus its
    /// four NVSwitches (`0x10de:0x22a3`, class `0x068000`, the LS10 switch of the HGX H100 board) at
    /// `0000:c5:00.0`–`0000:c8:00.0`, each alone in its IOMMU group (40–43), on the `nvidia` driver.
    pub fn hgx_ppcie() -> Self {
        Self::hgx_with_switches(8, 4)
    }

    /// [`SimBus::hgx`]`(gpus)` plus `switches` NVSwitches laid out as in [`SimBus::hgx_ppcie`] (for the
    /// incomplete boards a plugin must refuse).
    pub fn hgx_with_switches(gpus: u8, switches: u8) -> Self {
        let bus = Self::hgx(gpus);
        for i in 0..switches {
            let b = 0xc5u8.wrapping_add(i);
            let at = PciAddress::new(0, b, 0, 0).unwrap_or_else(|| unreachable!("device 0, function 0"));
            bus.add_function(
                SimFunction::new(at, NVIDIA_VENDOR, 0x22a3, 0x068000)
                    .group(40 + u32::from(i))
                    .numa(u32::from(i / 2))
                    .root(&format!("pci0000:{:02x}", b & 0xf0)),
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
                    || driver.id_table.iter().any(|m| m.matches(&dev.spec))
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
