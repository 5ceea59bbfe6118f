//! Device health (KEP-4680): whether each device we publish still works, for the kubelet's
//! `DRAResourceHealth` stream ([`crate::dra::health`]), the device taints of the ResourceSlices and the
//! `ccgpu_device_health` metric.
//!
//! A device is [`DeviceHealth::Unhealthy`] when its PCI function disappeared ([`Cause::Gone`]), when it is
//! prepared but no longer on a VFIO driver ([`Cause::OffVfio`]), when the kernel counted fatal AER errors
//! for it ([`Cause::FatalAer`], `aer_dev_fatal` in sysfs), or when it failed pre-flight attestation
//! ([`Cause::PreflightFailed`]). A device whose health source cannot be read keeps its last health until
//! its last successful read is [`HEALTH_TIMEOUT`] old, and is [`DeviceHealth::Unknown`] after that.
//!
//! The facts come from a [`HealthSource`]: [`SysfsHealth`] on a real node (the function's directory
//! under `bus/pci/devices`, its `driver` link and its `aer_dev_fatal` counters), the simulated bus under
//! feature `sim`. [`HealthMonitor`] polls the source every [`HEALTH_POLL_INTERVAL`] on a blocking thread,
//! bounded by that interval (a sysfs read of a dying device can hang), and keeps the complete list of the
//! devices it was told to watch — a device that disappears stays in the list, Unhealthy.
//!
//! "Prepared" means a claim's checkpoint record is `PrepareCompleted` ([`PreparedDevices`]), read just
//! before and just after the sysfs reads of a round; a device counts as prepared only when both reads
//! say so. A GPU whose prepare or unprepare is under way moves between drivers legitimately (its group
//! reservation is held all along) and must not be reported off VFIO for it.
//!
//! Trusts: the kernel's sysfs under the configured root (what it says about presence, driver and AER
//! counters), the node layer's checkpoint (which devices are prepared), and pre-flight's verdicts.
//! Nothing here changes the machine.

mod sysfs;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ccgpu_pci::{DriverName, PciAddress};
use tokio::sync::{Mutex, Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use sysfs::SysfsHealth;

use crate::metrics::Metrics;
use crate::names::DeviceName;

/// How long a device's health source may stay unreadable (errors, or a read that does not finish within
/// a poll interval) before the device is reported [`DeviceHealth::Unknown`]: the device keeps its last
/// health until its last successful read is older than this. Below the kubelet's own
/// health timeout (30 s in Kubernetes 1.34), so the kubelet hears "Unknown" from us, not from its cache.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(20);
/// How often each device's health source is read; one round of reads must finish within it.
pub const HEALTH_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How often a health stream repeats the complete list when nothing changed. The kubelet reports a device
/// Unknown when its last report is older than 30 s, so an unchanged healthy node must still speak.
pub const HEALTH_RESEND_INTERVAL: Duration = Duration::from_secs(10);

/// The times of health monitoring (defaults: the constants above; tests shorten them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthTiming {
    /// [`HEALTH_POLL_INTERVAL`].
    pub poll: Duration,
    /// [`HEALTH_TIMEOUT`].
    pub timeout: Duration,
    /// [`HEALTH_RESEND_INTERVAL`].
    pub resend: Duration,
}

impl Default for HealthTiming {
    fn default() -> Self {
        Self { poll: HEALTH_POLL_INTERVAL, timeout: HEALTH_TIMEOUT, resend: HEALTH_RESEND_INTERVAL }
    }
}

/// Why a device is unhealthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Its PCI function is gone from the bus (surprise removal, fell off the bus).
    Gone,
    /// It is prepared for a claim but no longer on a VFIO driver.
    OffVfio {
        /// The driver it is on now, if any.
        driver: Option<DriverName>,
    },
    /// The kernel counted fatal uncorrectable errors (AER `ERR_FATAL`) for it.
    FatalAer {
        /// `TOTAL_ERR_FATAL` (or the sum of the counters when the kernel does not print a total).
        count: u64,
    },
    /// Pre-flight attestation failed.
    PreflightFailed {
        /// The first failing check.
        check: String,
    },
}

impl Cause {
    /// A short label (taint value, logs).
    pub fn label(&self) -> &'static str {
        match self {
            Cause::Gone => "gone",
            Cause::OffVfio { .. } => "off-vfio",
            Cause::FatalAer { .. } => "fatal-aer",
            Cause::PreflightFailed { .. } => "preflight-failed",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Gone => write!(f, "its PCI function is gone"),
            Cause::OffVfio { driver: Some(d) } => write!(f, "prepared, but now on driver {d} instead of vfio-pci"),
            Cause::OffVfio { driver: None } => write!(f, "prepared, but now on no driver instead of vfio-pci"),
            Cause::FatalAer { count } => write!(f, "{count} fatal AER error(s) counted by the kernel"),
            Cause::PreflightFailed { check } => write!(f, "pre-flight attestation failed ({check})"),
        }
    }
}

/// The health of one device, in the kubelet's three states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceHealth {
    /// Works, as far as we can tell.
    Healthy,
    /// Does not work.
    Unhealthy(Cause),
    /// Cannot be told: why.
    Unknown(String),
}

impl DeviceHealth {
    /// `Healthy`, `Unhealthy` or `Unknown` (the metric's label, the kubelet's words).
    pub fn state(&self) -> &'static str {
        match self {
            DeviceHealth::Healthy => "Healthy",
            DeviceHealth::Unhealthy(_) => "Unhealthy",
            DeviceHealth::Unknown(_) => "Unknown",
        }
    }
}

impl fmt::Display for DeviceHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceHealth::Healthy => write!(f, "healthy"),
            DeviceHealth::Unhealthy(cause) => write!(f, "unhealthy: {cause}"),
            DeviceHealth::Unknown(why) => write!(f, "unknown: {why}"),
        }
    }
}

/// What a health source saw of one PCI function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The function is not on the bus.
    Gone,
    /// The function is there.
    Present {
        /// Its driver now.
        driver: Option<DriverName>,
        /// Fatal AER errors counted for it (0 without AER reporting).
        fatal_aer: u64,
    },
}

/// A health source could not be read for one device.
#[derive(Debug, thiserror::Error)]
#[error("reading the health of PCI function {address} from {}", path.display())]
pub struct HealthReadError {
    /// The function.
    pub address: PciAddress,
    /// What could not be read.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Where the facts about a device's health come from.
pub trait HealthSource: Send + Sync + fmt::Debug {
    /// What the machine says about the function at `address` now. May block (sysfs); called on a
    /// blocking thread.
    fn observe(&self, address: PciAddress) -> Result<Observation, HealthReadError>;
}

/// Which devices are prepared now: the requested devices of every claim whose prepare completed (and
/// whose unprepare has not started). The node layer's checkpoint on a node.
pub trait PreparedDevices: Send + Sync + fmt::Debug {
    /// The prepared devices, or why they cannot be told. May block (reads the checkpoint).
    fn prepared(&self) -> Result<BTreeSet<DeviceName>, String>;
}

/// What the monitor knows about a device besides the source: from discovery and pre-flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// Its PCI function.
    pub address: PciAddress,
    /// The first failing check of a failed pre-flight attestation.
    pub preflight_failed: Option<String>,
}

/// The health an observation means for a watched device, `prepared` or not (a prepared one must be on
/// a VFIO driver); the most severe cause wins (gone, fatal AER, off VFIO, pre-flight).
pub fn assess(observation: &Observation, watched: &Watched, prepared: bool) -> DeviceHealth {
    match observation {
        Observation::Gone => DeviceHealth::Unhealthy(Cause::Gone),
        Observation::Present { fatal_aer, .. } if *fatal_aer > 0 => {
            DeviceHealth::Unhealthy(Cause::FatalAer { count: *fatal_aer })
        }
        Observation::Present { driver, .. } if prepared && !driver.as_ref().is_some_and(DriverName::is_vfio) => {
            DeviceHealth::Unhealthy(Cause::OffVfio { driver: driver.clone() })
        }
        Observation::Present { .. } => match &watched.preflight_failed {
            Some(check) => DeviceHealth::Unhealthy(Cause::PreflightFailed { check: check.clone() }),
            None => DeviceHealth::Healthy,
        },
    }
}

/// One device in the health list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEntry {
    /// Its PCI function.
    pub address: PciAddress,
    /// Its health.
    pub health: DeviceHealth,
    /// When we last determined it.
    pub last_updated: SystemTime,
}

/// The complete list: every device watched since the start, by published name.
pub type HealthList = BTreeMap<DeviceName, HealthEntry>;

#[derive(Debug)]
struct State {
    /// Each watched device and when its source was last read successfully.
    watched: BTreeMap<DeviceName, (Watched, Instant)>,
    /// A round of reads that did not finish within its poll interval; no new round starts before it ends.
    pending: Option<JoinHandle<Round>>,
}

/// One round of reads: each device's observation, and the devices prepared both before and after.
type Round = (Vec<Result<Observation, HealthReadError>>, Result<BTreeSet<DeviceName>, String>);

/// Keeps the health of every device it is told to watch, polling a [`HealthSource`].
#[derive(Debug)]
pub struct HealthMonitor {
    source: Arc<dyn HealthSource>,
    prepared: Arc<dyn PreparedDevices>,
    timing: HealthTiming,
    state: Mutex<State>,
    list: watch::Sender<HealthList>,
    metrics: Arc<Metrics>,
}

impl HealthMonitor {
    /// A monitor over `source`, with `prepared` telling which devices must be on VFIO, watching nothing
    /// yet.
    pub fn new(
        source: Arc<dyn HealthSource>,
        prepared: Arc<dyn PreparedDevices>,
        timing: HealthTiming,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            source,
            prepared,
            timing,
            state: Mutex::new(State { watched: BTreeMap::new(), pending: None }),
            list: watch::Sender::new(HealthList::new()),
            metrics,
        }
    }

    /// Its timing.
    pub fn timing(&self) -> HealthTiming {
        self.timing
    }

    /// Follows the complete list; a change of any device's health marks it changed.
    pub fn subscribe(&self) -> watch::Receiver<HealthList> {
        self.list.subscribe()
    }

    /// The complete list now.
    pub fn list(&self) -> HealthList {
        self.list.borrow().clone()
    }

    /// The unhealthy devices by address, with why.
    pub fn unhealthy(&self) -> BTreeMap<PciAddress, Cause> {
        self.list
            .borrow()
            .values()
            .filter_map(|e| match &e.health {
                DeviceHealth::Unhealthy(cause) => Some((e.address, cause.clone())),
                _ => None,
            })
            .collect()
    }

    /// Watches `devices` (what discovery found, with their pre-flight verdicts) from now on. A device
    /// watched before and missing now stays watched: if its function is gone, the next read says so.
    pub async fn watch(&self, devices: BTreeMap<DeviceName, Watched>) {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut added = false;
        for (name, w) in devices {
            match state.watched.get_mut(&name) {
                Some((old, _)) => *old = w,
                None => {
                    // Without waking the streams: the read that follows (the caller's, or the next poll)
                    // does, so the kubelet does not see every new device Unknown for an instant.
                    self.list.send_if_modified(|list| {
                        let entry = HealthEntry {
                            address: w.address,
                            health: DeviceHealth::Unknown("not read yet".to_owned()),
                            last_updated: wall,
                        };
                        list.insert(name, entry);
                        false
                    });
                    state.watched.insert(name, (w, now));
                    added = true;
                }
            }
        }
        if added {
            self.metrics.set_device_health(self.list.borrow().iter().map(|(name, e)| (name, e.health.state())));
        }
    }

    /// Reads every watched device's source once and updates the list; `true` when any device's health
    /// changed.
    pub async fn poll(&self) -> bool {
        let mut state = self.state.lock().await;
        let devices: Vec<(DeviceName, PciAddress)> = state.watched.iter().map(|(n, (w, _))| (*n, w.address)).collect();
        if devices.is_empty() {
            return false;
        }
        let reads = match state.pending.take() {
            Some(pending) if !pending.is_finished() => {
                state.pending = Some(pending);
                None
            }
            _ => {
                let (source, prepared) = (self.source.clone(), self.prepared.clone());
                let addresses: Vec<PciAddress> = devices.iter().map(|(_, a)| *a).collect();
                let mut task = tokio::task::spawn_blocking(move || -> Round {
                    let before = prepared.prepared();
                    let reads = addresses.iter().map(|a| source.observe(*a)).collect();
                    let both = match (before, prepared.prepared()) {
                        (Ok(before), Ok(after)) => Ok(before.intersection(&after).copied().collect()),
                        (Err(e), _) | (_, Err(e)) => Err(e),
                    };
                    (reads, both)
                });
                match tokio::time::timeout(self.timing.poll, &mut task).await {
                    Ok(Ok(round)) => Some(round),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "health read task died");
                        None
                    }
                    Err(_) => {
                        state.pending = Some(task);
                        None
                    }
                }
            }
        };
        let (reads, prepared) = match reads {
            Some((reads, Ok(prepared))) => (Some(reads), prepared),
            Some((reads, Err(e))) => {
                tracing::warn!(error = %e, "cannot tell which devices are prepared; none is checked for being on VFIO");
                (Some(reads), BTreeSet::new())
            }
            None => (None, BTreeSet::new()),
        };
        let now = Instant::now();
        let wall = SystemTime::now();
        let timeout = self.timing.timeout;
        let mut transitions = Vec::new();
        let changed = self.list.send_if_modified(|list| {
            let mut changed = false;
            for (i, (name, address)) in devices.iter().enumerate() {
                let Some((watched, last_read)) = state.watched.get_mut(name) else { continue };
                let unread_for = now.saturating_duration_since(*last_read);
                let fresh = match reads.as_ref().map(|r| &r[i]) {
                    Some(Ok(observation)) => {
                        *last_read = now;
                        Some(assess(observation, watched, prepared.contains(name)))
                    }
                    Some(Err(e)) => {
                        tracing::warn!(device = %name, error = %crate::error_chain(e), "device health unreadable");
                        (unread_for > timeout).then(|| {
                            DeviceHealth::Unknown(format!(
                                "its health could not be read for {} s: {}",
                                unread_for.as_secs(),
                                crate::error_chain(e)
                            ))
                        })
                    }
                    None => (unread_for > timeout).then(|| {
                        DeviceHealth::Unknown(format!(
                            "reading its health did not finish within {} ms for {} s",
                            self.timing.poll.as_millis(),
                            unread_for.as_secs()
                        ))
                    }),
                };
                let entry = list.entry(*name).or_insert_with(|| HealthEntry {
                    address: *address,
                    health: DeviceHealth::Unknown("not read yet".to_owned()),
                    last_updated: wall,
                });
                let Some(fresh) = fresh else { continue };
                let still_unknown =
                    matches!((&fresh, &entry.health), (DeviceHealth::Unknown(_), DeviceHealth::Unknown(_)));
                if still_unknown {
                    continue;
                }
                entry.last_updated = wall;
                if fresh != entry.health {
                    transitions.push((*name, entry.health.state(), fresh.clone()));
                    entry.health = fresh;
                    changed = true;
                }
            }
            changed
        });
        for (name, from, to) in transitions {
            match &to {
                DeviceHealth::Healthy => tracing::info!(device = %name, from, "device healthy"),
                _ => tracing::warn!(device = %name, from, health = %to, "device health changed"),
            }
        }
        if changed {
            self.metrics.set_device_health(self.list.borrow().iter().map(|(name, e)| (name, e.health.state())));
        }
        changed
    }

    /// Polls every poll interval until `stop`, waking `changed` (the slice publisher) when a device's
    /// health changed.
    pub async fn run(self: Arc<Self>, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        loop {
            if self.poll().await {
                changed.notify_one();
            }
            tokio::select! {
                () = tokio::time::sleep(self.timing.poll) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vfio() -> Option<DriverName> {
        Some(DriverName::vfio_pci())
    }

    fn watched(preflight: Option<&str>) -> Watched {
        Watched {
            address: PciAddress::new(0, 0x18, 0, 0).expect("an address"),
            preflight_failed: preflight.map(str::to_owned),
        }
    }

    #[test]
    fn each_cause_and_its_precedence() {
        let ok = Observation::Present { driver: vfio(), fatal_aer: 0 };
        assert_eq!(assess(&ok, &watched(None), true), DeviceHealth::Healthy);
        assert_eq!(assess(&Observation::Gone, &watched(None), true), DeviceHealth::Unhealthy(Cause::Gone));
        let nvidia: Option<DriverName> = Some("nvidia".parse().expect("a driver name"));
        let off = Observation::Present { driver: nvidia.clone(), fatal_aer: 0 };
        assert_eq!(
            assess(&off, &watched(None), true),
            DeviceHealth::Unhealthy(Cause::OffVfio { driver: nvidia.clone() })
        );
        assert_eq!(assess(&off, &watched(None), false), DeviceHealth::Healthy, "only a prepared GPU must be on VFIO");
        let unbound = Observation::Present { driver: None, fatal_aer: 0 };
        assert_eq!(assess(&unbound, &watched(None), true), DeviceHealth::Unhealthy(Cause::OffVfio { driver: None }));
        let aer = Observation::Present { driver: None, fatal_aer: 3 };
        assert_eq!(assess(&aer, &watched(Some("x")), true), DeviceHealth::Unhealthy(Cause::FatalAer { count: 3 }));
        assert_eq!(
            assess(&off, &watched(Some("gpu-cert-chain")), false),
            DeviceHealth::Unhealthy(Cause::PreflightFailed { check: "gpu-cert-chain".into() })
        );
    }

    /// A GPU on no driver; "prepared" answers in turn from `answers` (then the last one forever).
    #[derive(Debug)]
    struct Script {
        answers: std::sync::Mutex<Vec<BTreeSet<DeviceName>>>,
    }

    impl PreparedDevices for Script {
        fn prepared(&self) -> Result<BTreeSet<DeviceName>, String> {
            let mut a = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Ok(if a.len() > 1 { a.remove(0) } else { a[0].clone() })
        }
    }

    #[derive(Debug)]
    struct Unbound;

    impl HealthSource for Unbound {
        fn observe(&self, _: PciAddress) -> Result<Observation, HealthReadError> {
            Ok(Observation::Present { driver: None, fatal_aer: 0 })
        }
    }

    async fn first_health(answers: Vec<BTreeSet<DeviceName>>) -> DeviceHealth {
        let w = watched(None);
        let name = DeviceName::new(crate::names::DeviceKind::Gpu, w.address);
        let monitor = HealthMonitor::new(
            Arc::new(Unbound),
            Arc::new(Script { answers: std::sync::Mutex::new(answers) }),
            HealthTiming::default(),
            Arc::new(Metrics::new()),
        );
        monitor.watch(BTreeMap::from([(name, w)])).await;
        monitor.poll().await;
        monitor.list()[&name].health.clone()
    }

    #[tokio::test]
    async fn off_vfio_only_when_prepared_before_and_after_the_read() {
        let name = DeviceName::new(crate::names::DeviceKind::Gpu, watched(None).address);
        let yes = BTreeSet::from([name]);
        let no = BTreeSet::new();
        assert!(matches!(
            first_health(vec![yes.clone(), yes.clone()]).await,
            DeviceHealth::Unhealthy(Cause::OffVfio { driver: None })
        ));
        // An unprepare started during the read (moving it back), or a prepare finished during it: no verdict.
        assert_eq!(first_health(vec![yes.clone(), no.clone()]).await, DeviceHealth::Healthy);
        assert_eq!(first_health(vec![no, yes]).await, DeviceHealth::Healthy);
    }
}
