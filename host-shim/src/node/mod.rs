//! [`Node`]: prepare and unprepare claims on this node — the whole node layer behind one type.
//!
//! Prepare of one claim (`prepare.rs`): validate the request → plan each device's whole IOMMU group →
//! reserve the groups (two claims never hold the same GPU or group) → wait, bounded, for open GPU handles
//! to close → checkpoint `PrepareStarted` (with every function's original driver and the CDI file name) →
//! move each function to vfio-pci → re-read the groups (did they change under us?) → open each requested
//! device through VFIO → write the CDI spec → checkpoint `PrepareCompleted`. Any failure rolls back what
//! was done; a failed rollback leaves the record in place for the next attempt or restart.
//!
//! Unprepare (`unprepare.rs`): checkpoint `UnprepareStarted` → remove the CDI spec → restore every function
//! → remove the record. It needs nothing but the checkpoint and is idempotent (an unknown claim is done
//! already).
//!
//! Time: one [`Deadline`] per call bounds all of it — waiting for the claim's lock, every wait and every
//! sysfs write (each on a helper thread, see [`crate::sysfs_write`]), and the rollback, which keeps
//! [`crate::Budgets::rollback`] of it. The DRA service passes the deadline it started when the kubelet's
//! call arrived, so reading the claim from the API server counts too.
//!
//! Calls for one claim are serialized ([`claim_lock`]); calls for different claims run in parallel (no lock
//! is held across sysfs writes except the claim's own). One process at a time works on the node:
//! [`Node::open`] takes the node lock ([`node_lock`]; a rolling update's new instance waits for it,
//! bounded), then recovers after a crash (see [`recovery`]). Trusts the configured roots and the kernel;
//! trusts claim and device names only after parsing them. Errors are in [`error`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ccgpu_pci::{IommuGroup, PciAddress, PciDevice, PciError};
use serde::Serialize;

use crate::Backends;
use crate::ccmode::CcMode;
use crate::cdi::CdiWriter;
use crate::checkpoint::{CheckpointError, CheckpointStore, ClaimRecord, Phase};
use crate::config::NodeConfig;
use crate::deadline::Deadline;
use crate::discovery::{self, DiscoveredDevice, DiscoveryError};
use crate::effects::{Effects, Step};
use crate::names::{ClaimUid, DeviceKind, DeviceName};
use crate::ppcie::{self, Layout, PpcieMode, PpcieState};
use crate::sysfs_write::{BoundedWrites, Write};

pub mod claim_lock;
pub mod error;
pub mod node_lock;
mod prepare;
pub mod recovery;
mod unprepare;

use claim_lock::ClaimLocks;
pub use error::{ClaimError, ClaimFailure, OpenError};
pub use recovery::RecoveryReport;

/// A prepared claim: what the kubelet gets back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreparedClaim {
    /// The claim.
    pub claim_uid: ClaimUid,
    /// One entry per requested device, in request order.
    pub devices: Vec<PreparedDevice>,
    /// The CDI spec file.
    pub cdi_spec: String,
}

/// One prepared device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreparedDevice {
    /// Its name.
    pub name: DeviceName,
    /// The fully qualified CDI device id.
    pub cdi_device_id: String,
    /// The PPCIe unit it was prepared as a member of, when the claim asked for a unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<DeviceName>,
}

/// The node layer.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    backends: Backends,
    /// The bus's driver-moving writes, bounded.
    writes: BoundedWrites,
    boot_id: String,
    checkpoints: CheckpointStore,
    cdi: CdiWriter,
    effects: Effects,
    /// Which claim holds which IOMMU group.
    reservations: Mutex<BTreeMap<IommuGroup, ClaimUid>>,
    /// One lock per claim in flight, so calls for the same claim are serialized.
    claim_locks: ClaimLocks,
    /// CC modes seen while GPUs were on the NVIDIA driver.
    remembered_cc: Mutex<HashMap<PciAddress, CcMode>>,
    /// PPCIe modes read while the devices were free (a held device's BAR belongs to its VM).
    remembered_ppcie: Mutex<HashMap<PciAddress, Option<PpcieMode>>>,
    /// The instance id the node lock file named when we took the lock (see [`node_lock`]).
    previous_holder: Option<String>,
    _lock: File,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Node {
    /// Opens the node layer: takes the node lock (one process per checkpoint directory), then recovers
    /// from whatever a previous process left (see [`recovery`]).
    pub fn open(config: NodeConfig, backends: Backends, boot_id: String) -> Result<(Self, RecoveryReport), OpenError> {
        Self::open_with_effects(config, backends, boot_id, Effects::default())
    }

    /// [`Node::open`] with a step hook (crash-consistency tests).
    pub fn open_with_effects(
        config: NodeConfig,
        backends: Backends,
        boot_id: String,
        effects: Effects,
    ) -> Result<(Self, RecoveryReport), OpenError> {
        let checkpoints = CheckpointStore::open(&config.paths.checkpoint_dir)?;
        let cdi = CdiWriter::open(&config.paths.cdi_dir, config.cdi_kind.clone())?;
        let (lock_file, previous_holder) =
            node_lock::acquire(&config.paths.checkpoint_dir, config.lock_wait, config.instance.as_deref())?;
        let node = Self {
            writes: BoundedWrites::new(backends.bus.clone()),
            config,
            backends,
            boot_id,
            checkpoints,
            cdi,
            effects,
            reservations: Mutex::default(),
            claim_locks: ClaimLocks::default(),
            remembered_cc: Mutex::default(),
            remembered_ppcie: Mutex::default(),
            previous_holder,
            _lock: lock_file,
        };
        let report = node.recover().map_err(|f| OpenError::Recovery(Box::new(f)))?;
        Ok((node, report))
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The backends.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// The instance id the previous holder of the node lock recorded (a plugin pod's UID), if any: that
    /// process no longer holds the lock, so it has exited or died.
    pub fn previous_holder(&self) -> Option<&str> {
        self.previous_holder.as_deref()
    }

    /// The boot id records are tagged with.
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// The managed devices, with the claim holding each (if any).
    pub fn discover(&self) -> Result<Vec<(DiscoveredDevice, Option<ClaimUid>)>, DiscoveryError> {
        let remembered = lock(&self.remembered_cc).clone();
        let found = discovery::discover(
            self.backends.bus.as_ref(),
            &self.config.matching,
            self.backends.cc.as_ref(),
            |a| remembered.get(&a).copied(),
            |pci, kind| self.ppcie_state(pci, kind),
        )?;
        let mut cc = lock(&self.remembered_cc);
        for d in &found {
            if let Some(mode) = d.cc_mode {
                cc.insert(d.pci.address, mode);
            }
        }
        drop(cc);
        let reservations = lock(&self.reservations);
        Ok(found
            .into_iter()
            .map(|d| {
                let holder = d.pci.iommu_group.and_then(|g| reservations.get(&g).cloned());
                (d, holder)
            })
            .collect())
    }

    /// The CC mode of `device` as far as the host can know: asked through the CC-mode source while the
    /// GPU is on the NVIDIA host driver, else remembered from when it was (`None`: unknown).
    pub fn cc_mode(&self, device: DeviceName) -> Result<Option<CcMode>, ClaimFailure> {
        let address = device.address();
        let pci = match self.backends.bus.describe(address) {
            Ok(p) => p,
            Err(PciError::NoSuchDevice { .. }) => return Err(ClaimFailure::UnknownDevice(device)),
            Err(source) => return Err(ClaimFailure::Pci { address, source }),
        };
        if pci.driver.as_ref().is_some_and(|d| d.as_str() == "nvidia") {
            match self.backends.cc.cc_mode(&pci) {
                Ok(Some(mode)) => {
                    lock(&self.remembered_cc).insert(address, mode);
                    return Ok(Some(mode));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(bdf = %address, error = %e, "CC mode unknown"),
            }
        }
        Ok(lock(&self.remembered_cc).get(&address).copied())
    }

    /// The PPCIe state of `pci`: read through the PPCIe source while no claim holds its group (and
    /// remembered), else as remembered — from a read before the claim, or from the claim's checkpoint
    /// (`ccMode: ppcie`) after a restart. A held device with neither was prepared alone, which a device
    /// in PPCIe mode never is: off (or no mode, for a model without one).
    fn ppcie_state(&self, pci: &PciDevice, kind: DeviceKind) -> PpcieState {
        let known = |mode: Option<PpcieMode>| mode.map_or(PpcieState::Unsupported, PpcieState::Mode);
        let held = pci.iommu_group.is_some_and(|g| lock(&self.reservations).contains_key(&g));
        if held {
            if let Some(mode) = lock(&self.remembered_ppcie).get(&pci.address) {
                return known(*mode);
            }
            if lock(&self.remembered_cc).get(&pci.address) == Some(&CcMode::Ppcie) {
                return PpcieState::Mode(PpcieMode::On);
            }
            return known(ppcie::has_ppcie(pci.vendor, pci.device, kind).then_some(PpcieMode::Off));
        }
        match self.backends.ppcie.ppcie_mode(pci, kind) {
            Ok(mode) => {
                lock(&self.remembered_ppcie).insert(pci.address, mode);
                known(mode)
            }
            Err(e) => {
                tracing::warn!(bdf = %pci.address, error = %crate::error_chain(&e), "PPCIe mode unreadable");
                PpcieState::Unreadable(crate::error_chain(&e))
            }
        }
    }

    /// Every managed device's name and PPCIe state (no group planning, no NVML): what a prepare needs to
    /// expand a PPCIe unit and to refuse a unit's member asked for alone.
    fn ppcie_states(&self) -> Result<Vec<(DeviceName, PpcieState)>, ClaimFailure> {
        let bus = self.backends.bus.as_ref();
        let listed = bus.devices().map_err(|source| ClaimFailure::Discovery(DiscoveryError(source)))?;
        let mut out = Vec::new();
        for address in listed {
            let pci = match bus.describe(address) {
                Ok(p) => p,
                Err(PciError::NoSuchDevice { .. }) => continue,
                Err(source) => return Err(ClaimFailure::Pci { address, source }),
            };
            let Some(kind) = self.config.matching.classify(&pci) else { continue };
            let state = self.ppcie_state(&pci, kind);
            out.push((DeviceName::new(kind, address), state));
        }
        Ok(out)
    }

    /// The devices a prepare of `devices` binds: a PPCIe unit becomes its GPUs and NVSwitches (each
    /// mapped back to the unit), any other device stays itself. Refuses a unit that is not this node's
    /// whole unit now, and a GPU or NVSwitch in PPCIe mode asked for alone (it can only go with its unit).
    fn expand(
        &self,
        devices: &[DeviceName],
    ) -> Result<(Vec<DeviceName>, BTreeMap<DeviceName, DeviceName>), ClaimFailure> {
        let states = self.ppcie_states()?;
        let layout = ppcie::classify(states.iter().map(|(n, s)| (*n, s)));
        let mut flat = Vec::new();
        let mut units = BTreeMap::new();
        for name in devices {
            if name.kind() == DeviceKind::PpcieSet {
                match &layout {
                    Layout::Unit(u) if u.name == *name => {
                        for m in u.members() {
                            units.insert(m, *name);
                            flat.push(m);
                        }
                    }
                    Layout::Unit(u) => {
                        return Err(ClaimFailure::PpcieUnit {
                            unit: *name,
                            reason: format!("this node's PPCIe unit is {}", u.name),
                        });
                    }
                    Layout::Mixed(reason) => {
                        return Err(ClaimFailure::PpcieUnit { unit: *name, reason: reason.clone() });
                    }
                    Layout::Single => {
                        return Err(ClaimFailure::PpcieUnit {
                            unit: *name,
                            reason: "no device of this node is in PPCIe mode".to_owned(),
                        });
                    }
                }
            } else {
                if states.iter().any(|(n, s)| n == name && s.is_on()) {
                    let reason = match &layout {
                        Layout::Unit(u) => format!("it is a member of PPCIe unit {}: claim the unit", u.name),
                        Layout::Mixed(r) => r.clone(),
                        Layout::Single => unreachable!("a device in PPCIe mode makes the layout a unit or mixed"),
                    };
                    return Err(ClaimFailure::PpcieMember { device: *name, reason });
                }
                flat.push(*name);
            }
        }
        Ok((flat, units))
    }

    /// Every claim record in the checkpoint (prepared or in flight). Removes leftover temp files first
    /// ([`CheckpointStore::load_all`]): not for use while claims are being prepared.
    pub fn claims(&self) -> Result<Vec<ClaimRecord>, CheckpointError> {
        Ok(self.checkpoints.load_all()?.records)
    }

    /// The requested devices of every claim whose prepare completed (and whose unprepare has not started),
    /// read without disturbing claims in flight.
    pub fn prepared_devices(&self) -> Result<BTreeSet<DeviceName>, CheckpointError> {
        Ok(self
            .checkpoints
            .records_now()?
            .into_iter()
            .filter(|r| r.phase == Phase::PrepareCompleted)
            .flat_map(|r| r.requested)
            .collect())
    }

    /// Functions with a sysfs write that did not return in time and is still pending in the kernel.
    pub fn pending_writes(&self) -> Vec<(PciAddress, Write)> {
        self.writes.pending()
    }

    /// Prepares `devices` for `claim` (a PPCIe unit as all its GPUs and NVSwitches, one checkpoint, one
    /// CDI spec listing each): every function of their IOMMU groups on vfio-pci, usable through
    /// VFIO, a CDI spec written, the checkpoint completed. Returns the same answer for a claim already
    /// prepared with the same devices. Bounded by [`crate::Budgets::total`] from now.
    pub fn prepare(&self, claim: &ClaimUid, devices: &[DeviceName]) -> Result<PreparedClaim, ClaimError> {
        self.prepare_within(claim, devices, Deadline::after(self.config.budgets.total))
    }

    /// [`Node::prepare`] within `deadline`, the claim's one deadline (its caller may have spent part of it
    /// already). The forward work, waiting for the claim's lock included, stops
    /// [`crate::Budgets::rollback`] before it; a rollback has the rest.
    pub fn prepare_within(
        &self,
        claim: &ClaimUid,
        devices: &[DeviceName],
        deadline: Deadline,
    ) -> Result<PreparedClaim, ClaimError> {
        let span = tracing::info_span!("prepare", claim_uid = %claim, devices = devices.len());
        let _enter = span.enter();
        let work = deadline.before(self.config.budgets.rollback);
        let result = self.expand(devices).and_then(|(flat, units)| {
            let mut prepared = self.serialized(claim, work, || self.prepare_locked(claim, &flat, work, deadline))?;
            for d in &mut prepared.devices {
                d.unit = units.get(&d.name).copied();
            }
            Ok(prepared)
        });
        match &result {
            Ok(p) => tracing::info!(cdi_spec = %p.cdi_spec, "prepared"),
            Err(e) => tracing::warn!(error = %e, "prepare failed"),
        }
        result.map_err(|failure| ClaimError { claim: claim.clone(), failure: Box::new(failure) })
    }

    /// Unprepares `claim` from its checkpoint alone: CDI spec removed, every function back on its
    /// original driver, record removed. Unknown claims are already done. Bounded by
    /// [`crate::Budgets::total`] from now.
    pub fn unprepare(&self, claim: &ClaimUid) -> Result<(), ClaimError> {
        self.unprepare_within(claim, Deadline::after(self.config.budgets.total))
    }

    /// [`Node::unprepare`] within `deadline`, waiting for the claim's lock included.
    pub fn unprepare_within(&self, claim: &ClaimUid, deadline: Deadline) -> Result<(), ClaimError> {
        let span = tracing::info_span!("unprepare", claim_uid = %claim);
        let _enter = span.enter();
        let result = self.serialized(claim, deadline, || self.unprepare_locked(claim, deadline));
        match &result {
            Ok(()) => tracing::info!("unprepared"),
            Err(e) => tracing::warn!(error = %e, "unprepare failed"),
        }
        result.map_err(|failure| ClaimError { claim: claim.clone(), failure: Box::new(failure) })
    }

    /// Runs `f` holding `claim`'s lock, waiting for it until `wait` at most.
    fn serialized<T>(
        &self,
        claim: &ClaimUid,
        wait: Deadline,
        f: impl FnOnce() -> Result<T, ClaimFailure>,
    ) -> Result<T, ClaimFailure> {
        let _serialized = self
            .claim_locks
            .acquire(claim, wait)
            .map_err(|busy| ClaimFailure::Busy { waited_ms: busy.waited.as_millis() })?;
        f()
    }

    /// Reserves every group of the record for `claim`, all or nothing.
    fn reserve(&self, claim: &ClaimUid, record: &ClaimRecord) -> Result<(), ClaimFailure> {
        let mut reservations = lock(&self.reservations);
        for d in &record.devices {
            if let Some(holder) = reservations.get(&d.group)
                && holder != claim
            {
                let device = record
                    .requested
                    .iter()
                    .copied()
                    .find(|n| record.devices.iter().any(|r| r.address == n.address() && r.group == d.group))
                    .unwrap_or(record.requested[0]);
                return Err(ClaimFailure::GroupHeld { group: d.group, device, holder: holder.clone() });
            }
        }
        for d in &record.devices {
            reservations.insert(d.group, claim.clone());
        }
        Ok(())
    }

    fn release(&self, claim: &ClaimUid) {
        lock(&self.reservations).retain(|_, holder| holder != claim);
    }

    fn checkpoint(&self, record: &ClaimRecord) -> Result<(), ClaimFailure> {
        self.effects.step(Step::SaveCheckpoint(&record.claim_uid))?;
        self.checkpoints.save(record)?;
        Ok(())
    }
}

impl crate::health::PreparedDevices for Node {
    fn prepared(&self) -> Result<BTreeSet<DeviceName>, String> {
        self.prepared_devices().map_err(|e| crate::error_chain(&e))
    }
}
