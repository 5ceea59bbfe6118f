//! [`Node`]: prepare and unprepare claims on this node — the whole node layer behind one type.
//!
//! Prepare of one claim: validate the request → plan each device's whole IOMMU group → reserve the
//! groups (two claims never hold the same GPU or group) → wait, bounded, for open GPU handles to close →
//! checkpoint `PrepareStarted` (with every function's original driver and the CDI file name) → move each
//! function to vfio-pci → re-read the groups (did they change under us?) → open each requested device
//! through VFIO → write the CDI spec → checkpoint `PrepareCompleted`. Any failure rolls back what was
//! done; a failed rollback leaves the record in place for the next attempt or restart.
//!
//! Unprepare: checkpoint `UnprepareStarted` → remove the CDI spec → restore every function → remove the
//! record. It needs nothing but the checkpoint and is idempotent (an unknown claim is done already).
//!
//! Calls for one claim are serialized; calls for different claims run in parallel (no lock is held
//! across sysfs writes except the claim's own). Recovery after a crash runs in [`Node::open`]
//! (see [`recovery`]). Trusts the configured roots and the kernel; trusts claim and device names only
//! after parsing them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions, TryLockError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ccgpu_pci::{DriverName, IommuGroup, PciAddress, PciError};
use serde::Serialize;

use crate::Backends;
use crate::atomic_file::FileError;
use crate::binding::{self, BindError};
use crate::ccmode::CcMode;
use crate::cdi::{CdiError, CdiWriter};
use crate::checkpoint::{CheckpointError, CheckpointStore, ClaimRecord, CorruptRecord, DeviceRecord, Phase, Role};
use crate::config::{NodeConfig, VfioNodes};
use crate::deadline::Deadline;
use crate::discovery::{self, DiscoveredDevice, DiscoveryError};
use crate::effects::{Effects, Interrupted, Step};
use crate::group::{self, MemberRole, PlanError};
use crate::names::{ClaimUid, DeviceName};
use crate::usage::UsageError;
use crate::vfio::VfioError;

pub mod recovery;

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
}

/// A claim operation failed; the claim is named, the cause follows in the chain.
#[derive(Debug, thiserror::Error)]
#[error("claim {claim}")]
pub struct ClaimError {
    /// The claim.
    pub claim: ClaimUid,
    /// What went wrong.
    #[source]
    pub failure: Box<ClaimFailure>,
}

/// What went wrong with one claim.
#[derive(Debug, thiserror::Error)]
pub enum ClaimFailure {
    /// No devices were requested.
    #[error("no devices requested")]
    EmptyRequest,
    /// A device was requested twice.
    #[error("device {0} requested twice")]
    DuplicateDevice(DeviceName),
    /// The named device is not on this node.
    #[error("device {0} is not on this node")]
    UnknownDevice(DeviceName),
    /// The named device is not one we manage (or not of the kind its name says).
    #[error("device {name} is not a managed {kind:?} (vendor {vendor:04x}, class {class})")]
    NotManaged {
        /// The name.
        name: DeviceName,
        /// The kind its name claims.
        kind: crate::names::DeviceKind,
        /// Actual vendor.
        vendor: u16,
        /// Actual class.
        class: ccgpu_pci::ClassCode,
    },
    /// Its group cannot be taken.
    #[error("device {device}")]
    Plan {
        /// The device.
        device: DeviceName,
        /// Why.
        #[source]
        source: PlanError,
    },
    /// Its group is held by another claim.
    #[error("IOMMU group {group} (device {device}) is held by claim {holder}")]
    GroupHeld {
        /// The group.
        group: IommuGroup,
        /// The requested device.
        device: DeviceName,
        /// The claim holding it.
        holder: ClaimUid,
    },
    /// The claim is already prepared with other devices.
    #[error("already prepared with devices {prepared:?}, now asked for {requested:?}")]
    ClaimChanged {
        /// Devices now requested.
        requested: Vec<DeviceName>,
        /// Devices prepared.
        prepared: Vec<DeviceName>,
    },
    /// A prepared claim's device left vfio-pci behind our back.
    #[error("prepared device {address} is no longer on a VFIO driver (now {driver:?}); unprepare and retry")]
    Drifted {
        /// The function.
        address: PciAddress,
        /// Its driver now.
        driver: Option<DriverName>,
    },
    /// A GPU is still held open on the host.
    #[error("{address} is still in use after {waited_ms} ms by {holders}")]
    InUse {
        /// The function.
        address: PciAddress,
        /// Who holds it.
        holders: String,
        /// How long we waited.
        waited_ms: u128,
    },
    /// Could not tell whether a GPU is in use.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// vfio-pci is not loaded.
    #[error("the vfio-pci driver is not registered (modprobe vfio-pci)")]
    VfioPciMissing,
    /// Moving a function failed.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The group changed while we bound it.
    #[error("IOMMU group {group} changed while binding: planned {planned:?}, now {now:?}")]
    GroupChanged {
        /// The group.
        group: IommuGroup,
        /// Members we planned for (bridges excluded).
        planned: Vec<PciAddress>,
        /// Members now.
        now: Vec<PciAddress>,
    },
    /// The device is bound but not usable through VFIO.
    #[error(transparent)]
    Vfio(#[from] VfioError),
    /// iommufd hand-over is configured but the kernel made no VFIO cdev.
    #[error(
        "{address} has no VFIO cdev (vfio-dev/vfioN): the kernel lacks CONFIG_VFIO_DEVICE_CDEV (Linux >= 6.6); \
         confidential guests need /dev/vfio/devices/vfioN, the legacy group node is only for non-CC use"
    )]
    NoIommufdCdev {
        /// The function.
        address: PciAddress,
    },
    /// Reading the bus failed.
    #[error("reading {address}")]
    Pci {
        /// The function.
        address: PciAddress,
        /// Bus error.
        #[source]
        source: PciError,
    },
    /// The checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The claim's checkpoint record is corrupt.
    #[error("checkpoint record is corrupt: {0}")]
    CorruptRecord(CorruptRecord),
    /// The CDI spec could not be written or removed.
    #[error(transparent)]
    Cdi(#[from] CdiError),
    /// A step was stopped (crash simulation or injected fault).
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The operation failed and undoing it failed too; the record stays for a later attempt.
    #[error("{cause}; rolling back also failed")]
    RollbackFailed {
        /// The original failure.
        cause: Box<ClaimFailure>,
        /// The rollback failure.
        #[source]
        rollback: Box<ClaimFailure>,
    },
}

/// Opening the node layer failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A directory could not be created or the lock file opened.
    #[error(transparent)]
    File(#[from] FileError),
    /// Another process holds the node lock.
    #[error("another ccgpu node process holds {path}")]
    Locked {
        /// The lock file.
        path: std::path::PathBuf,
    },
    /// Recovery could not read the checkpoint or the bus.
    #[error("recovering after restart")]
    Recovery(#[source] Box<ClaimFailure>),
}

/// The node layer.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    backends: Backends,
    boot_id: String,
    checkpoints: CheckpointStore,
    cdi: CdiWriter,
    effects: Effects,
    /// Which claim holds which IOMMU group.
    reservations: Mutex<BTreeMap<IommuGroup, ClaimUid>>,
    /// One lock per claim in flight, so calls for the same claim are serialized.
    claim_locks: Mutex<HashMap<ClaimUid, Arc<Mutex<()>>>>,
    /// CC modes seen while GPUs were on the NVIDIA driver.
    remembered_cc: Mutex<HashMap<PciAddress, CcMode>>,
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
        let lock_path = config.paths.checkpoint_dir.join("node.lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| FileError { action: "opening lock file", path: lock_path.clone(), source })?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Locked { path: lock_path }),
            Err(TryLockError::Error(source)) => {
                return Err(FileError { action: "locking", path: lock_path, source }.into());
            }
        }
        let node = Self {
            config,
            backends,
            boot_id,
            checkpoints,
            cdi,
            effects,
            reservations: Mutex::default(),
            claim_locks: Mutex::default(),
            remembered_cc: Mutex::default(),
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

    /// The boot id records are tagged with.
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// The managed devices, with the claim holding each (if any).
    pub fn discover(&self) -> Result<Vec<(DiscoveredDevice, Option<ClaimUid>)>, DiscoveryError> {
        let remembered = lock(&self.remembered_cc).clone();
        let found =
            discovery::discover(self.backends.bus.as_ref(), &self.config.matching, self.backends.cc.as_ref(), |a| {
                remembered.get(&a).copied()
            })?;
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

    /// Every claim record in the checkpoint (prepared or in flight).
    pub fn claims(&self) -> Result<Vec<ClaimRecord>, CheckpointError> {
        Ok(self.checkpoints.load_all()?.records)
    }

    fn claim_lock(&self, claim: &ClaimUid) -> Arc<Mutex<()>> {
        lock(&self.claim_locks).entry(claim.clone()).or_default().clone()
    }

    fn forget_claim_lock(&self, claim: &ClaimUid) {
        let mut locks = lock(&self.claim_locks);
        // The map's copy plus the caller's: nobody else is waiting on it.
        if locks.get(claim).is_some_and(|l| Arc::strong_count(l) <= 2) {
            locks.remove(claim);
        }
    }

    fn release(&self, claim: &ClaimUid) {
        lock(&self.reservations).retain(|_, holder| holder != claim);
    }

    /// Prepares `devices` for `claim`: every function of their IOMMU groups on vfio-pci, usable through
    /// VFIO, a CDI spec written, the checkpoint completed. Returns the same answer for a claim already
    /// prepared with the same devices.
    pub fn prepare(&self, claim: &ClaimUid, devices: &[DeviceName]) -> Result<PreparedClaim, ClaimError> {
        let span = tracing::info_span!("prepare", claim_uid = %claim, devices = devices.len());
        let _enter = span.enter();
        let claim_lock = self.claim_lock(claim);
        let result = {
            let _serialized = lock(&claim_lock);
            self.prepare_locked(claim, devices)
        };
        drop(claim_lock);
        if result.is_err() {
            self.forget_claim_lock(claim);
        }
        match &result {
            Ok(p) => tracing::info!(cdi_spec = %p.cdi_spec, "prepared"),
            Err(e) => tracing::warn!(error = %e, "prepare failed"),
        }
        result.map_err(|failure| ClaimError { claim: claim.clone(), failure: Box::new(failure) })
    }

    /// Unprepares `claim` from its checkpoint alone: CDI spec removed, every function back on its
    /// original driver, record removed. Unknown claims are already done.
    pub fn unprepare(&self, claim: &ClaimUid) -> Result<(), ClaimError> {
        let span = tracing::info_span!("unprepare", claim_uid = %claim);
        let _enter = span.enter();
        let claim_lock = self.claim_lock(claim);
        let result = {
            let _serialized = lock(&claim_lock);
            self.unprepare_locked(claim)
        };
        drop(claim_lock);
        self.forget_claim_lock(claim);
        match &result {
            Ok(()) => tracing::info!("unprepared"),
            Err(e) => tracing::warn!(error = %e, "unprepare failed"),
        }
        result.map_err(|failure| ClaimError { claim: claim.clone(), failure: Box::new(failure) })
    }

    fn prepare_locked(&self, claim: &ClaimUid, devices: &[DeviceName]) -> Result<PreparedClaim, ClaimFailure> {
        if devices.is_empty() {
            return Err(ClaimFailure::EmptyRequest);
        }
        let mut seen = BTreeSet::new();
        for d in devices {
            if !seen.insert(d.address()) {
                return Err(ClaimFailure::DuplicateDevice(*d));
            }
        }
        let deadline = Deadline::after(self.config.budgets.total);
        match self.checkpoints.load(claim)? {
            None => {}
            Some(Err(corrupt)) => return Err(ClaimFailure::CorruptRecord(corrupt)),
            Some(Ok(record)) if record.phase == Phase::PrepareCompleted => {
                if record.requested != devices {
                    return Err(ClaimFailure::ClaimChanged {
                        requested: devices.to_vec(),
                        prepared: record.requested.clone(),
                    });
                }
                self.check_still_bound(&record)?;
                return Ok(self.answer(&record));
            }
            // A previous attempt that could not roll back: finish undoing it first.
            Some(Ok(record)) => self.undo(&record, deadline)?,
        }

        let record = self.plan(claim, devices)?;
        self.reserve(claim, &record)?;
        let result = self.wait_idle(&record, deadline).and_then(|()| self.checkpoint(&record));
        if let Err(e) = result {
            self.release(claim);
            return Err(e);
        }
        match self.bind_and_publish(record.clone(), deadline) {
            Ok(done) => {
                let mut cc = lock(&self.remembered_cc);
                for d in &done.devices {
                    if let Some(mode) = d.cc_mode {
                        cc.insert(d.address, mode);
                    }
                }
                Ok(self.answer(&done))
            }
            Err(cause) => match self.undo(&record, Deadline::after(self.config.budgets.total)) {
                Ok(()) => Err(cause),
                Err(rollback) => {
                    Err(ClaimFailure::RollbackFailed { cause: Box::new(cause), rollback: Box::new(rollback) })
                }
            },
        }
    }

    /// Reads the requested devices and plans their groups into a `PrepareStarted` record.
    fn plan(&self, claim: &ClaimUid, devices: &[DeviceName]) -> Result<ClaimRecord, ClaimFailure> {
        let bus = self.backends.bus.as_ref();
        let mut planned: BTreeMap<IommuGroup, ()> = BTreeMap::new();
        let mut records = Vec::new();
        for name in devices {
            let address = name.address();
            let pci = match bus.describe(address) {
                Ok(p) => p,
                Err(PciError::NoSuchDevice { .. }) => return Err(ClaimFailure::UnknownDevice(*name)),
                Err(source) => return Err(ClaimFailure::Pci { address, source }),
            };
            if self.config.matching.classify(&pci) != Some(name.kind()) {
                return Err(ClaimFailure::NotManaged {
                    name: *name,
                    kind: name.kind(),
                    vendor: pci.vendor,
                    class: pci.class,
                });
            }
            let plan = group::plan_group(bus, &self.config.matching, &pci)
                .map_err(|source| ClaimFailure::Plan { device: *name, source })?;
            if planned.insert(plan.group, ()).is_some() {
                // Another requested device shares this group: the group is in the plan already, with this
                // device marked as requested.
                continue;
            }
            for (member, role) in plan.members {
                let original_override = bus
                    .driver_override(member.address)
                    .map_err(|source| ClaimFailure::Pci { address: member.address, source })?;
                let requested = role == MemberRole::Requested || devices.iter().any(|d| d.address() == member.address);
                let on_nvidia = member.driver.as_ref().is_some_and(|d| d.as_str() == "nvidia");
                let cc_mode = if on_nvidia && requested {
                    self.backends.cc.cc_mode(&member).unwrap_or_else(|e| {
                        tracing::warn!(bdf = %member.address, error = %e, "CC mode unknown");
                        None
                    })
                } else {
                    lock(&self.remembered_cc).get(&member.address).copied()
                };
                records.push(DeviceRecord {
                    address: member.address,
                    group: plan.group,
                    role: if requested { Role::Requested } else { Role::Companion },
                    original_driver: member.driver,
                    original_override,
                    cc_mode,
                });
            }
        }
        Ok(ClaimRecord {
            claim_uid: claim.clone(),
            boot_id: self.boot_id.clone(),
            phase: Phase::PrepareStarted,
            requested: devices.to_vec(),
            devices: records,
            cdi: self.cdi.record(claim, devices),
        })
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

    /// Waits (bounded) until no process holds any function of the record open.
    fn wait_idle(&self, record: &ClaimRecord, deadline: Deadline) -> Result<(), ClaimFailure> {
        let budgets = self.config.budgets;
        for d in &record.devices {
            let pci = self
                .backends
                .bus
                .describe(d.address)
                .map_err(|source| ClaimFailure::Pci { address: d.address, source })?;
            let mut last = Vec::new();
            let waited = deadline.poll_until(budgets.in_use, budgets.poll, || {
                last = self.backends.usage.holders(&pci)?;
                Ok::<_, UsageError>(last.is_empty().then_some(()))
            })?;
            if let Err(t) = waited {
                let holders: Vec<String> = last.iter().map(ToString::to_string).collect();
                return Err(ClaimFailure::InUse {
                    address: d.address,
                    holders: holders.join(", "),
                    waited_ms: t.waited.as_millis(),
                });
            }
        }
        Ok(())
    }

    fn checkpoint(&self, record: &ClaimRecord) -> Result<(), ClaimFailure> {
        self.effects.step(Step::SaveCheckpoint(&record.claim_uid))?;
        self.checkpoints.save(record)?;
        Ok(())
    }

    /// Everything after `PrepareStarted` is on disk: bind, verify, open, CDI, `PrepareCompleted`.
    fn bind_and_publish(&self, mut record: ClaimRecord, deadline: Deadline) -> Result<ClaimRecord, ClaimFailure> {
        let bus = self.backends.bus.as_ref();
        let budgets = self.config.budgets;
        if !bus
            .driver_registered(&DriverName::vfio_pci())
            .map_err(|source| ClaimFailure::Pci { address: record.devices[0].address, source })?
        {
            return Err(ClaimFailure::VfioPciMissing);
        }
        for d in &record.devices {
            binding::move_to_vfio(bus, &self.effects, d.address, deadline, &budgets)?;
        }
        self.check_groups_unchanged(&record)?;
        let mut cdi_devices = Vec::new();
        for name in &record.requested {
            let address = name.address();
            let group = record
                .devices
                .iter()
                .find(|d| d.address == address)
                .map(|d| d.group)
                .unwrap_or_else(|| unreachable!("every requested device is in the plan"));
            let dev = &self.config.paths.cdi_dev_root;
            let nodes = match self.config.vfio_nodes {
                VfioNodes::Iommufd => {
                    let pci = bus.describe(address).map_err(|source| ClaimFailure::Pci { address, source })?;
                    let cdev = pci.vfio_cdev.ok_or(ClaimFailure::NoIommufdCdev { address })?;
                    let proof = self.backends.vfio.open_cdev(&cdev, address)?;
                    tracing::debug!(bdf = %address, %cdev, ?proof, "usable through iommufd");
                    vec![dev.join("vfio/devices").join(&cdev), dev.join("iommu")]
                }
                VfioNodes::LegacyGroup => {
                    let proof = self.backends.vfio.open_group(group, address)?;
                    tracing::debug!(bdf = %address, %group, ?proof, "usable through the VFIO group");
                    vec![dev.join("vfio/vfio"), dev.join("vfio").join(group.to_string())]
                }
            };
            cdi_devices.push((*name, nodes));
        }
        let spec = self.cdi.spec(&record.claim_uid, &cdi_devices)?;
        self.effects.step(Step::WriteCdi(&record.claim_uid))?;
        self.cdi.write(&record.claim_uid, &spec)?;
        record.phase = Phase::PrepareCompleted;
        self.checkpoint(&record)?;
        Ok(record)
    }

    fn check_groups_unchanged(&self, record: &ClaimRecord) -> Result<(), ClaimFailure> {
        let bus = self.backends.bus.as_ref();
        let groups: BTreeSet<IommuGroup> = record.devices.iter().map(|d| d.group).collect();
        for group in groups {
            let mut planned: Vec<PciAddress> =
                record.devices.iter().filter(|d| d.group == group).map(|d| d.address).collect();
            planned.sort();
            let any = planned[0];
            let pci = |source| ClaimFailure::Pci { address: any, source };
            let mut now = Vec::new();
            for m in bus.iommu_group_members(group).map_err(pci)? {
                if !bus.describe(m).map_err(pci)?.class.is_bridge() {
                    now.push(m);
                }
            }
            now.sort();
            if now != planned {
                return Err(ClaimFailure::GroupChanged { group, planned, now });
            }
        }
        Ok(())
    }

    fn check_still_bound(&self, record: &ClaimRecord) -> Result<(), ClaimFailure> {
        for d in &record.devices {
            let driver = self
                .backends
                .bus
                .driver(d.address)
                .map_err(|source| ClaimFailure::Pci { address: d.address, source })?;
            if !driver.as_ref().is_some_and(DriverName::is_vfio) {
                return Err(ClaimFailure::Drifted { address: d.address, driver });
            }
        }
        Ok(())
    }

    fn answer(&self, record: &ClaimRecord) -> PreparedClaim {
        PreparedClaim {
            claim_uid: record.claim_uid.clone(),
            devices: record
                .requested
                .iter()
                .zip(&record.cdi.device_ids)
                .map(|(name, id)| PreparedDevice { name: *name, cdi_device_id: id.clone() })
                .collect(),
            cdi_spec: record.cdi.file.clone(),
        }
    }

    fn unprepare_locked(&self, claim: &ClaimUid) -> Result<(), ClaimFailure> {
        let mut record = match self.checkpoints.load(claim)? {
            None => {
                tracing::debug!("no record: already unprepared");
                self.release(claim);
                return Ok(());
            }
            Some(Err(corrupt)) => return Err(ClaimFailure::CorruptRecord(corrupt)),
            Some(Ok(r)) => r,
        };
        if record.phase == Phase::PrepareCompleted {
            record.phase = Phase::UnprepareStarted;
            self.checkpoint(&record)?;
        }
        self.undo(&record, Deadline::after(self.config.budgets.total))
    }

    /// Undoes a record: CDI spec removed, functions restored in reverse order, record removed,
    /// reservations released. Stops at the first failure, leaving the record for the next attempt.
    fn undo(&self, record: &ClaimRecord, deadline: Deadline) -> Result<(), ClaimFailure> {
        let claim = &record.claim_uid;
        self.effects.step(Step::RemoveCdi(&record.cdi.file))?;
        self.cdi.remove(claim)?;
        let budgets = self.config.budgets;
        for d in record.devices.iter().rev() {
            binding::restore(self.backends.bus.as_ref(), &self.effects, d, deadline, &budgets)?;
        }
        self.effects.step(Step::RemoveCheckpoint(claim))?;
        self.checkpoints.remove(claim)?;
        self.release(claim);
        Ok(())
    }
}
