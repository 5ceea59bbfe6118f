//! Shared fixture of the node-layer tests: a simulated HGX-like machine, temp CDI and checkpoint
//! directories (on tmpfs when there is one, so thousands of fsyncs stay cheap), step hooks that crash
//! or fail, and the consistency invariants every test checks.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ccgpu_host_shim::sim::{Effects, Interrupted, Step, StepHook};
use ccgpu_host_shim::sim::{SimPpcieMode, SimUsage};
use ccgpu_host_shim::{
    Backends, Budgets, ClaimUid, DeviceKind, DeviceName, Node, NodeConfig, NodePaths, RecoveryReport, VfioNodes,
};
use ccgpu_host_shim::{CheckpointPhase as Phase, CheckpointStore};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::{DriverName, PciAddress, PciBus};

pub const BOOT: &str = "11111111-2222-3333-4444-555555555555";

/// A simulated node and its directories.
pub struct World {
    pub bus: Arc<SimBus>,
    pub usage: Arc<SimUsage>,
    /// PPCIe modes (none by default; `World::ppcie` turns a whole board on).
    pub ppcie: Arc<SimPpcieMode>,
    pub dir: tempfile::TempDir,
    pub config: NodeConfig,
    /// Driver and override of every function at the start.
    pub initial: BTreeMap<PciAddress, (Option<DriverName>, Option<DriverName>)>,
}

pub fn fast_budgets() -> Budgets {
    Budgets {
        total: Duration::from_secs(5),
        rollback: Duration::from_secs(2),
        in_use: Duration::from_millis(30),
        driver_switch: Duration::from_millis(10),
        sysfs_write: Duration::from_secs(1),
        poll: Duration::from_millis(1),
    }
}

pub fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new().prefix("ccgpu-test").tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().unwrap()
}

impl World {
    pub fn new(bus: SimBus) -> Self {
        let dir = temp_dir();
        let paths = NodePaths {
            cdi_dir: dir.path().join("cdi"),
            checkpoint_dir: dir.path().join("checkpoint"),
            ..NodePaths::default()
        };
        let config = NodeConfig { paths, budgets: fast_budgets(), ..NodeConfig::default() };
        let bus = Arc::new(bus);
        let initial = snapshot(&bus);
        Self { bus, usage: Arc::new(SimUsage::default()), ppcie: Arc::default(), dir, config, initial }
    }

    pub fn hgx(gpus: u8) -> Self {
        Self::new(SimBus::hgx(gpus))
    }

    /// An HGX board of 8 GPUs and 4 NVSwitches, every one in PPCIe mode.
    pub fn ppcie() -> Self {
        let w = Self::new(SimBus::hgx_ppcie());
        w.ppcie.set_all(Some(ccgpu_host_shim::PpcieMode::On));
        w
    }

    pub fn legacy(mut self) -> Self {
        self.config.vfio_nodes = VfioNodes::LegacyGroup;
        self
    }

    pub fn backends(&self) -> Backends {
        Backends { ppcie: self.ppcie.clone(), ..Backends::simulated(self.bus.clone(), self.usage.clone(), None) }
    }

    pub fn open(&self) -> (Node, RecoveryReport) {
        Node::open(self.config.clone(), self.backends(), BOOT.into()).unwrap()
    }

    pub fn open_with(&self, hook: Arc<dyn StepHook>) -> Result<(Node, RecoveryReport), ccgpu_host_shim::OpenError> {
        Node::open_with_effects(self.config.clone(), self.backends(), BOOT.into(), Effects::new(hook))
    }

    pub fn cdi_files(&self) -> BTreeSet<String> {
        std::fs::read_dir(&self.config.paths.cdi_dir)
            .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    /// The consistency invariants. `strong`: after a clean recovery, so no claim may be in flight.
    pub fn check(&self, strong: bool) -> Result<(), String> {
        let store = CheckpointStore::open(&self.config.paths.checkpoint_dir).unwrap();
        let loaded = store.load_all().unwrap();
        if !loaded.corrupt.is_empty() {
            return Err(format!("corrupt records: {:?}", loaded.corrupt));
        }
        let mut in_records: BTreeMap<PciAddress, ClaimUid> = BTreeMap::new();
        let mut groups = BTreeMap::new();
        let mut cdi_expected = BTreeSet::new();
        for r in &loaded.records {
            if strong && r.phase != Phase::PrepareCompleted {
                return Err(format!("claim {} left in {:?} after recovery", r.claim_uid, r.phase));
            }
            cdi_expected.insert(r.cdi.file.clone());
            for d in &r.devices {
                if let Some(other) = in_records.insert(d.address, r.claim_uid.clone()) {
                    return Err(format!("{} held by claims {other} and {}", d.address, r.claim_uid));
                }
                if let Some(other) = groups.insert(d.group, r.claim_uid.clone())
                    && other != r.claim_uid
                {
                    return Err(format!("group {} held by claims {other} and {}", d.group, r.claim_uid));
                }
            }
            if r.phase == Phase::PrepareCompleted {
                for d in &r.devices {
                    let drv = self.bus.driver(d.address).unwrap();
                    if !drv.as_ref().is_some_and(DriverName::is_vfio) {
                        return Err(format!("completed claim {} has {} on {drv:?}", r.claim_uid, d.address));
                    }
                }
                if !self.config.paths.cdi_dir.join(&r.cdi.file).is_file() {
                    return Err(format!("completed claim {} has no CDI spec", r.claim_uid));
                }
            }
        }
        for file in self.cdi_files() {
            if !cdi_expected.contains(&file) {
                return Err(format!("CDI spec {file} without a claim"));
            }
        }
        for (address, (driver, over)) in &self.initial {
            if in_records.contains_key(address) {
                continue;
            }
            let now = (self.bus.driver(*address).unwrap(), self.bus.driver_override(*address).unwrap());
            if now != (driver.clone(), over.clone()) {
                return Err(format!("{address} without a claim is {now:?}, was {:?}", (driver, over)));
            }
        }
        Ok(())
    }

    /// Claims with a completed record.
    pub fn prepared(&self) -> BTreeSet<ClaimUid> {
        let store = CheckpointStore::open(&self.config.paths.checkpoint_dir).unwrap();
        store
            .load_all()
            .unwrap()
            .records
            .into_iter()
            .filter(|r| r.phase == Phase::PrepareCompleted)
            .map(|r| r.claim_uid)
            .collect()
    }
}

pub fn snapshot(bus: &SimBus) -> BTreeMap<PciAddress, (Option<DriverName>, Option<DriverName>)> {
    bus.devices().unwrap().into_iter().map(|a| (a, (bus.driver(a).unwrap(), bus.driver_override(a).unwrap()))).collect()
}

pub fn gpu(bus_no: u8) -> DeviceName {
    DeviceName::new(DeviceKind::Gpu, PciAddress::new(0, bus_no, 0, 0).unwrap())
}

/// The i-th GPU of `SimBus::hgx`.
pub fn hgx_gpu(i: u8) -> DeviceName {
    gpu(0x18 + i * 0x10)
}

/// The `i`-th NVSwitch of [`SimBus::hgx_ppcie`].
pub fn hgx_switch(i: u8) -> DeviceName {
    DeviceName::new(DeviceKind::Nvswitch, PciAddress::new(0, 0xc5 + i, 0, 0).unwrap())
}

/// The PPCIe unit of [`SimBus::hgx_ppcie`], named after its first GPU.
pub fn hgx_unit() -> DeviceName {
    "ppcie-0000-18-00-0".parse().unwrap()
}

pub fn uid(s: &str) -> ClaimUid {
    s.parse().unwrap()
}

/// Counts steps; after `limit` of them, refuses every later one, as if the process died there.
#[derive(Debug)]
pub struct CrashAfter {
    limit: u64,
    seen: AtomicU64,
    crashed: AtomicBool,
}

impl CrashAfter {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self { limit, seen: AtomicU64::new(0), crashed: AtomicBool::new(false) })
    }

    pub fn never() -> Arc<Self> {
        Self::new(u64::MAX)
    }

    pub fn steps(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }
}

impl StepHook for CrashAfter {
    fn before(&self, step: &Step<'_>) -> Result<(), Interrupted> {
        if self.crashed.load(Ordering::SeqCst) {
            return Err(Interrupted { step: step.to_string() });
        }
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(Interrupted { step: step.to_string() });
        }
        Ok(())
    }
}

/// Refuses exactly the step numbered `at` (0-based) and lets the process go on: an I/O fault.
#[derive(Debug)]
pub struct FailOnce {
    at: u64,
    seen: AtomicU64,
}

impl FailOnce {
    pub fn new(at: u64) -> Arc<Self> {
        Arc::new(Self { at, seen: AtomicU64::new(0) })
    }

    pub fn fired(&self) -> bool {
        self.seen.load(Ordering::SeqCst) > self.at
    }
}

impl StepHook for FailOnce {
    fn before(&self, step: &Step<'_>) -> Result<(), Interrupted> {
        if self.seen.fetch_add(1, Ordering::SeqCst) == self.at {
            return Err(Interrupted { step: step.to_string() });
        }
        Ok(())
    }
}
