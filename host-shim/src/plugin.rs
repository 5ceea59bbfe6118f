//! The kubelet plugin as a whole: sockets, the two gRPC servers, the ResourceSlice publisher, graceful
//! shutdown. [`run`] is what the `ccgpu-kubelet-plugin` binary runs, and what the in-process tests run.
//!
//! Start: the node layer is already open (node lock held, crash recovery done) → bind
//! `plugins/<driver>/dra.sock` (0600, in a 0700 directory; a stale socket from a previous process is
//! removed, anything else at that path is an error) and serve DRA v1 + v1beta1 and the device-health
//! stream (`v1beta1.` and `v1alpha1.DRAResourceHealth`, [`crate::dra::health`]) there → bind and serve
//! `plugins_registry/<driver>-reg.sock` (so the kubelet only learns of us once the DRA socket answers) →
//! publish ResourceSlices, then again every rediscovery interval, after every prepare/unprepare call and
//! when a device's health changes. Each round tells the health monitor ([`crate::health`]) which devices
//! there are, reads their health, and taints the unhealthy ones; the monitor also polls on its own.
//!
//! Device taints need the API server's `DRADeviceTaints` feature; without it the server silently drops
//! them, and a failed GPU would be offered untainted. So before a round publishes a tainted device, the
//! plugin asks the server with a dry-run create of a probe slice ([`SlicePublisher::taints_kept`]) unless
//! its last answer is younger than [`PluginOptions::taint_recheck`] (5 min by default). Until the server
//! has said it keeps taints, a device that would be tainted is withheld instead, also right after a
//! start; an answer of "dropped" is asked again after the interval, so turning the feature on later is
//! noticed, and so is turning it off. Should a write still come back without its taints, support counts as
//! gone and the round is redone at once.
//!
//! Shutdown (SIGTERM in the binary), all of it within one deadline (`shutdown_grace`, which must fit in the
//! DaemonSet's `terminationGracePeriodSeconds`): stop registration and remove its socket (the kubelet's
//! watcher sees the plugin go) → stop the DRA server gracefully, letting in-flight calls finish → stop
//! publishing → remove the DRA socket.
//!
//! An ordinary stop (a restart, a rolling update) leaves the ResourceSlices in place, so the node's GPUs do
//! not vanish from the scheduler while the next process starts; that process adopts them (the publisher
//! compares what is on the server with what it would write and writes only what differs, the pool
//! generation going up only when the content changes). Only a stop with
//! [`PluginOptions::withdraw_on_exit`] (`--withdraw-on-exit`: uninstalling, taking the node out of DRA)
//! deletes them. Left alone, the kubelet deletes a node's slices itself 30 s after its plugin unregistered
//! and did not come back.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ccgpu_pci::{PciAddress, PciDevice};
use tokio::net::UnixListener;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use crate::dra::claims::ClaimReader;
use crate::dra::health::HealthService;
use crate::dra::proto::health_v1alpha1::dra_resource_health_server::DraResourceHealthServer;
use crate::dra::proto::health_v1beta1::dra_resource_health_server::DraResourceHealthServer as DraResourceHealthServerV1beta1;
use crate::dra::proto::registration::registration_server::RegistrationServer;
use crate::dra::proto::{v1, v1beta1};
use crate::dra::service::DraService;
use crate::health::{HealthMonitor, Watched};
use crate::metrics::{Health, Metrics};
use crate::names::DeviceKind;
use crate::node::Node;
use crate::publish::{Preflight, SlicePublisher, build_devices};
use crate::registration::{RegistrationService, RegistrationState};

/// The binary's defaults, shared with the deploy/ manifest test so they cannot drift apart.
pub mod defaults {
    /// DRA driver name (the DeviceClass selects it).
    pub const DRIVER_NAME: &str = "gpu.ccgpu.dev";
    /// The kubelet's root directory.
    pub const KUBELET_ROOT: &str = "/var/lib/kubelet";
    /// CDI spec directory.
    pub const CDI_DIR: &str = "/var/run/cdi";
    /// Checkpoint directory.
    pub const CHECKPOINT_DIR: &str = "/var/lib/ccgpu";
    /// sysfs root.
    pub const SYSFS_ROOT: &str = "/sys";
    /// Device-node root.
    pub const DEV_ROOT: &str = "/dev";
    /// procfs root.
    pub const PROC_ROOT: &str = "/proc";
    /// Metrics and /healthz address.
    pub const METRICS_ADDRESS: &str = "0.0.0.0:9464";
    /// Managed devices.
    pub const MATCH: &str = "10de:0302,10de:0300,10de:0680";
    /// CDI kind.
    pub const CDI_KIND: &str = "ccgpu.dev/gpu";
    /// Bound on each API server call.
    pub const API_TIMEOUT: &str = "10s";
    /// Rediscovery interval.
    pub const REDISCOVER_INTERVAL: &str = "30s";
    /// The one deadline of shutdown; the DaemonSet's `terminationGracePeriodSeconds` (60) must exceed it.
    pub const SHUTDOWN_GRACE: &str = "50s";
    /// How often device-taint support is asked again ([`super::TAINT_RECHECK_INTERVAL`]).
    pub const TAINT_RECHECK_INTERVAL: &str = "5m";
    /// With a pod UID (rolling updates): how long a new instance waits for the old one to drain and
    /// hand over the node lock. Above the DaemonSet's `terminationGracePeriodSeconds` (60), so an old
    /// instance that uses all of its grace still hands over.
    pub const HANDOVER_WAIT: &str = "120s";
}

/// Longest path a unix socket address can hold (`sun_path` minus the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// How the plugin is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginConfig {
    /// The DRA driver name (a DNS subdomain, e.g. `gpu.ccgpu.dev`).
    pub driver: String,
    /// This node's name (the pool name).
    pub node_name: String,
    /// The kubelet's root directory (`/var/lib/kubelet`).
    pub kubelet_root: PathBuf,
    /// Bound on each API server call.
    pub api_timeout: Duration,
    /// How often devices are rediscovered and the slices checked.
    pub rediscover_interval: Duration,
    /// The one deadline of shutdown: in-flight calls and the slice withdrawal, together.
    pub shutdown_grace: Duration,
}

/// How often, at most, the API server's device-taint support is asked again (the binary's
/// `--taint-recheck-interval`, [`defaults::TAINT_RECHECK_INTERVAL`]).
pub const TAINT_RECHECK_INTERVAL: Duration = Duration::from_secs(300);

/// How the plugin behaves beyond [`PluginConfig`]; [`Default`] is the binary's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginOptions {
    /// Delete this node's ResourceSlices when stopping (uninstall). Without it (the default) an ordinary
    /// stop leaves them for the next process to adopt.
    pub withdraw_on_exit: bool,
    /// How old the last answer about device-taint support may be when a device is to be tainted before
    /// the API server is asked again ([`TAINT_RECHECK_INTERVAL`]). Asked at the first publication round
    /// after that (rounds run every `rediscover_interval` and on changes).
    pub taint_recheck: Duration,
    /// This instance's pod UID (downward API) for the kubelet's rolling-update socket names
    /// (`<driver>-<uid>-reg.sock`, `dra-<uid>.sock`, [`SocketPaths::for_instance`]); `None`: the plain
    /// names. Checked with [`crate::valid_instance_id`].
    pub pod_uid: Option<String>,
}

impl Default for PluginOptions {
    fn default() -> Self {
        Self { withdraw_on_exit: false, taint_recheck: TAINT_RECHECK_INTERVAL, pod_uid: None }
    }
}

/// The two sockets under the kubelet root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketPaths {
    /// `plugins_registry/<driver>-reg.sock`, or `<driver>-<pod uid>-reg.sock` for a rolling update.
    pub registration: PathBuf,
    /// `plugins/<driver>/dra.sock`, or `dra-<pod uid>.sock` for a rolling update.
    pub dra: PathBuf,
}

impl SocketPaths {
    /// The sockets of `driver` under `kubelet_root`, with the plain names.
    pub fn new(kubelet_root: &Path, driver: &str) -> Self {
        Self::for_instance(kubelet_root, driver, None)
    }

    /// The sockets of `driver` under `kubelet_root` for the instance `pod_uid` (`None`: the plain names).
    /// The kubelet (1.33+) tells instances apart by these names, so the old and the new pod of a
    /// rolling update never remove each other's sockets; the caller has checked `pod_uid` with
    /// [`crate::valid_instance_id`].
    pub fn for_instance(kubelet_root: &Path, driver: &str, pod_uid: Option<&str>) -> Self {
        let uid = pod_uid.map(|u| format!("-{u}")).unwrap_or_default();
        Self {
            registration: kubelet_root.join("plugins_registry").join(format!("{driver}{uid}-reg.sock")),
            dra: kubelet_root.join("plugins").join(driver).join(format!("dra{uid}.sock")),
        }
    }
}

/// Decides pre-flight attestation of a GPU still on the NVIDIA host driver (see [`crate::preflight`]).
pub trait PreflightCheck: Send + Sync + std::fmt::Debug {
    /// The outcome for `device`; `None` when it cannot be checked here (no NVML, not CC-capable).
    fn check(&self, device: &PciDevice) -> Option<Preflight>;
}

/// The plugin could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A socket path is too long for a unix socket.
    #[error("socket path {path} is longer than {MAX_SOCKET_PATH} bytes")]
    PathTooLong {
        /// The path.
        path: PathBuf,
    },
    /// Something that is not a socket is in the way.
    #[error("{path} exists and is not a socket; refusing to remove it")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A socket could not be prepared or bound.
    #[error("{action} {path}")]
    Socket {
        /// What failed.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// A gRPC server stopped with an error.
    #[error("{which} gRPC server")]
    Serve {
        /// Which one.
        which: &'static str,
        /// tonic's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// A server task died.
    #[error("{which} task: {message}")]
    Task {
        /// Which one.
        which: &'static str,
        /// Why.
        message: String,
    },
}

fn socket_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PluginError + 'a {
    move |source| PluginError::Socket { action, path: path.to_owned(), source }
}

/// Binds a unix socket at `path`: parent created (0700) if missing, a stale socket removed, mode 0600.
pub fn bind_socket(path: &Path) -> Result<UnixListener, PluginError> {
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(PluginError::PathTooLong { path: path.to_owned() });
    }
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(socket_error("creating", dir))?;
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            tracing::info!(path = %path.display(), "removing stale socket");
            fs::remove_file(path).map_err(socket_error("removing stale socket", path))?;
        }
        Ok(_) => return Err(PluginError::NotASocket { path: path.to_owned() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(socket_error("inspecting", path)(e)),
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(socket_error("binding", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(socket_error("restricting", path))?;
    listener.set_nonblocking(true).map_err(socket_error("configuring", path))?;
    UnixListener::from_std(listener).map_err(socket_error("registering", path))
}

/// Removes the sockets of the instance that held the node lock before us, unless that was us: it no
/// longer holds the lock, so it has exited (and removed them already) or died and left them, and the
/// kubelet would keep dialling them.
fn remove_predecessor_sockets(config: &PluginConfig, ours: Option<&str>, previous: Option<&str>) {
    let Some(previous) = previous.filter(|p| Some(*p) != ours) else { return };
    let left = SocketPaths::for_instance(&config.kubelet_root, &config.driver, Some(previous));
    for path in [&left.registration, &left.dra] {
        if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            tracing::info!(path = %path.display(), previous, "removing the socket a previous instance left");
            remove_socket(path);
        }
    }
}

fn remove_socket(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not remove socket"),
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Everything [`run`] needs besides its configuration.
#[derive(Clone)]
pub struct PluginParts {
    /// The opened node layer.
    pub node: Arc<Node>,
    /// API server client.
    pub client: kube::Client,
    /// Pre-flight attestation, when enabled.
    pub preflight: Option<Arc<dyn PreflightCheck>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Health flag.
    pub health: Arc<Health>,
}

impl std::fmt::Debug for PluginParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginParts")
            .field("node", &self.node)
            .field("preflight", &self.preflight)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// Runs the plugin with `options` until `shutdown` resolves, then shuts down gracefully.
pub async fn run(
    config: PluginConfig,
    options: PluginOptions,
    parts: PluginParts,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PluginError> {
    let sockets = SocketPaths::for_instance(&config.kubelet_root, &config.driver, options.pod_uid.as_deref());
    let changed = Arc::new(Notify::new());
    let dra = DraService::new(
        parts.node.clone(),
        ClaimReader::new(parts.client.clone(), config.api_timeout),
        config.driver.clone(),
        config.node_name.clone(),
        parts.metrics.clone(),
        changed.clone(),
    );

    let monitor = Arc::new(HealthMonitor::new(
        parts.node.backends().health.clone(),
        parts.node.clone(),
        parts.node.config().health,
        parts.metrics.clone(),
    ));

    let dra_listener = bind_socket(&sockets.dra)?;
    let (stop_dra, stop_dra_rx) = watch::channel(false);
    let health =
        HealthService::new(config.node_name.clone(), monitor.subscribe(), monitor.timing().resend, stop_dra_rx.clone());
    let mut dra_server = tokio::spawn(
        Server::builder()
            .add_service(v1::dra_plugin_server::DraPluginServer::new(dra.clone()))
            .add_service(v1beta1::dra_plugin_server::DraPluginServer::new(dra))
            .add_service(DraResourceHealthServerV1beta1::new(health.clone()))
            .add_service(DraResourceHealthServer::new(health))
            .serve_with_incoming_shutdown(UnixListenerStream::new(dra_listener), stopped(stop_dra_rx)),
    );

    let registration = RegistrationService::new(config.driver.clone(), sockets.dra.clone(), parts.metrics.clone());
    let mut registration_state = registration.state();
    let reg_listener = bind_socket(&sockets.registration)?;
    let (stop_reg, stop_reg_rx) = watch::channel(false);
    let mut reg_server = tokio::spawn(
        Server::builder()
            .add_service(RegistrationServer::new(registration))
            .serve_with_incoming_shutdown(UnixListenerStream::new(reg_listener), stopped(stop_reg_rx)),
    );
    remove_predecessor_sockets(&config, options.pod_uid.as_deref(), parts.node.previous_holder());
    parts.health.set_serving(true);
    tracing::info!(driver = %config.driver, node = %config.node_name, dra = %sockets.dra.display(),
        registration = %sockets.registration.display(), "kubelet plugin serving");

    let (stop_publish, stop_publish_rx) = watch::channel(false);
    let withdraw = options.withdraw_on_exit;
    let publisher =
        tokio::spawn(publish_loop(config.clone(), options, parts.clone(), monitor, changed, stop_publish_rx));

    tokio::pin!(shutdown);
    let mut failure = None;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            r = &mut dra_server => { failure = Some(server_outcome("DRA", r)); break; }
            r = &mut reg_server => { failure = Some(server_outcome("registration", r)); break; }
            changed = registration_state.changed() => {
                if changed.is_ok()
                    && let RegistrationState::Refused(reason) = &*registration_state.borrow() {
                    tracing::error!(%reason, "the kubelet refused our registration; it will retry when the socket changes");
                }
            }
        }
    }
    tracing::info!(withdraw, "shutting down: registration first, then in-flight calls, then the slices");
    parts.health.set_serving(false);
    let stopped = shut_down(
        config.shutdown_grace,
        &sockets,
        Phase { stop: stop_reg, task: reg_server },
        Phase { stop: stop_dra, task: dra_server },
        Phase { stop: stop_publish, task: publisher },
    )
    .await;
    tracing::info!("kubelet plugin stopped");
    match (failure, stopped) {
        (Some(Err(e)), _) | (_, Err(e)) => Err(e),
        _ => Ok(()),
    }
}

type ServeResult = Result<(), tonic::transport::Error>;

/// A task that shutdown stops: the signal to stop, and the task.
#[derive(Debug)]
struct Phase<T> {
    stop: watch::Sender<bool>,
    task: JoinHandle<T>,
}

impl<T> Phase<T> {
    /// Asks the task to stop and waits for it until `end`; aborts it if it is still running then
    /// (`None`). A task that had finished before (its result taken already) gives `Some(None)`.
    async fn stop_by(mut self, end: Instant) -> Option<Option<Result<T, JoinError>>> {
        // The receiver may be gone with a task that ended on its own.
        let _ = self.stop.send(true);
        if self.task.is_finished() {
            return Some(None);
        }
        match tokio::time::timeout_at(end, &mut self.task).await {
            Ok(joined) => Some(Some(joined)),
            Err(_) => {
                self.task.abort();
                None
            }
        }
    }
}

/// Stops the plugin, every phase within ONE deadline `grace` from now (what is left of it after the
/// earlier phases, possibly nothing): registration stopped and its socket removed (the kubelet's watcher
/// sees the plugin go) → the DRA server stopped, in-flight calls allowed to finish → the publisher
/// stopped (withdrawing the slices where asked) → the DRA socket removed. A phase still running at the deadline is aborted.
async fn shut_down(
    grace: Duration,
    sockets: &SocketPaths,
    registration: Phase<ServeResult>,
    dra: Phase<ServeResult>,
    publisher: Phase<()>,
) -> Result<(), PluginError> {
    let end = Instant::now() + grace;
    remove_socket(&sockets.registration);
    if registration.stop_by(end).await.is_none() {
        tracing::warn!("the registration server did not stop in time");
    }
    let outcome = match dra.stop_by(end).await {
        Some(Some(joined)) => server_outcome("DRA", joined),
        // Ended before shutdown; the loop reported its outcome.
        Some(None) => Ok(()),
        None => {
            tracing::warn!(grace_ms = grace.as_millis(), "in-flight calls did not finish in time");
            Ok(())
        }
    };
    if publisher.stop_by(end).await.is_none() {
        tracing::warn!("withdrawing the slices did not finish in time");
    }
    remove_socket(&sockets.dra);
    outcome
}

fn server_outcome(which: &'static str, joined: Result<ServeResult, JoinError>) -> Result<(), PluginError> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(PluginError::Serve { which, source }),
        Err(e) => Err(PluginError::Task { which, message: e.to_string() }),
    }
}

/// Rediscovers and publishes until told to stop, then withdraws the slices if `options` say so (else
/// leaves them for the next process). Runs the health monitor's own polling beside it for as long.
async fn publish_loop(
    config: PluginConfig,
    options: PluginOptions,
    parts: PluginParts,
    monitor: Arc<HealthMonitor>,
    changed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let polling = tokio::spawn(monitor.clone().run(changed.clone(), stop.clone()));
    let mut publisher =
        SlicePublisher::new(parts.client.clone(), config.driver.clone(), config.node_name.clone(), config.api_timeout);
    let mut verdicts: BTreeMap<PciAddress, Preflight> = BTreeMap::new();
    let mut taints = TaintSupport::default();

    loop {
        let mut again = true;
        while again {
            again = round(&config, &options, &parts, &monitor, &mut publisher, &mut verdicts, &mut taints).await;
        }
        tokio::select! {
            () = tokio::time::sleep(config.rediscover_interval) => {}
            () = changed.notified() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    polling.abort();
    if !options.withdraw_on_exit {
        tracing::info!(driver = %config.driver, node = %config.node_name,
            "ResourceSlices left in place for the next start (ordinary stop; --withdraw-on-exit deletes them)");
        return;
    }
    if let Err(e) = publisher.withdraw().await {
        tracing::warn!(driver = %config.driver, node = %config.node_name, error = %crate::error_chain(&e),
            "could not withdraw the ResourceSlices; the kubelet wipes them 30 s after we are gone");
    }
}

/// What the plugin has learned of the API server's device-taint support.
#[derive(Debug, Default)]
struct TaintSupport {
    /// The server's last answer: whether it keeps device taints; `None` before the first.
    kept: Option<bool>,
    /// When that answer came.
    at: Option<Instant>,
}

impl TaintSupport {
    /// Whether the server should be asked (again): never asked, or the answer is `every` old.
    fn due(&self, every: Duration) -> bool {
        self.at.is_none_or(|at| at.elapsed() >= every)
    }

    /// Whether the server has said it keeps taints.
    fn confirmed(&self) -> bool {
        self.kept == Some(true)
    }

    fn learn(&mut self, kept: bool, config: &PluginConfig) {
        if self.kept != Some(kept) {
            if kept {
                tracing::info!(driver = %config.driver, node = %config.node_name,
                    "the API server keeps device taints: unhealthy and failed devices are published tainted");
            } else {
                tracing::warn!(driver = %config.driver, node = %config.node_name,
                    "the API server drops device taints (DRADeviceTaints off): withholding devices that would be tainted");
            }
        }
        self.kept = Some(kept);
        self.at = Some(Instant::now());
    }
}

/// One rediscovery and publication; `true` asks for an immediate second round (taints turned out to be
/// dropped by a write).
async fn round(
    config: &PluginConfig,
    options: &PluginOptions,
    parts: &PluginParts,
    monitor: &HealthMonitor,
    publisher: &mut SlicePublisher,
    verdicts: &mut BTreeMap<PciAddress, Preflight>,
    taints: &mut TaintSupport,
) -> bool {
    let node = parts.node.clone();
    let found = match tokio::task::spawn_blocking(move || node.discover()).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::error!(error = %crate::error_chain(&e), "discovery failed; slices left as they are");
            parts.metrics.publish_error();
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "discovery task died");
            return false;
        }
    };
    let on_nvidia: BTreeSet<PciAddress> = found
        .iter()
        .filter(|(d, _)| {
            d.name.kind() == DeviceKind::Gpu && d.pci.driver.as_ref().is_some_and(|n| n.as_str() == "nvidia")
        })
        .map(|(d, _)| d.pci.address)
        .collect();
    if let Some(check) = &parts.preflight {
        for (d, _) in &found {
            if !on_nvidia.contains(&d.pci.address) || verdicts.contains_key(&d.pci.address) {
                continue;
            }
            let (check, pci) = (check.clone(), d.pci.clone());
            match tokio::task::spawn_blocking(move || check.check(&pci)).await {
                Ok(Some(outcome)) => {
                    match &outcome {
                        Preflight::Passed => {
                            tracing::info!(device = %d.name, bdf = %d.pci.address, "pre-flight attestation passed")
                        }
                        Preflight::Failed(check) => tracing::warn!(device = %d.name, bdf = %d.pci.address, %check,
                            "pre-flight attestation failed; the device is tainted NoSchedule"),
                    }
                    verdicts.insert(d.pci.address, outcome);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "pre-flight task died"),
            }
        }
    }
    let watched = found
        .iter()
        .filter(|(d, _)| d.unpreparable.is_none())
        .map(|(d, _)| {
            let preflight_failed = match verdicts.get(&d.pci.address) {
                Some(Preflight::Failed(check)) => Some(check.clone()),
                _ => None,
            };
            (d.name, Watched { address: d.pci.address, preflight_failed })
        })
        .collect();
    monitor.watch(watched).await;
    monitor.poll().await;
    let unhealthy = monitor.unhealthy();
    let mut built = build_devices(&config.driver, &found, verdicts, &unhealthy, true);
    if built.states.get("tainted").is_some_and(|n| *n > 0) {
        if taints.due(options.taint_recheck) {
            match publisher.taints_kept().await {
                Ok(kept) => taints.learn(kept, config),
                Err(e) => tracing::warn!(error = %crate::error_chain(&e),
                    "could not ask the API server about device taints; asking again next round"),
            }
        }
        if !taints.confirmed() {
            built = build_devices(&config.driver, &found, verdicts, &unhealthy, false);
        }
    }
    parts.metrics.set_devices(&built.states);
    match publisher.publish(&built.devices).await {
        Ok(p) if p.taints_dropped && taints.confirmed() => {
            tracing::warn!("a slice write came back without its device taints; redoing the round without them");
            taints.learn(false, config);
            true
        }
        Ok(_) => false,
        Err(e) => {
            parts.metrics.publish_error();
            tracing::warn!(error = %crate::error_chain(&e), "publishing ResourceSlices failed; retrying next round");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::*;

    fn stuck<T: Send + 'static>() -> Phase<T> {
        let (stop, _ignored) = watch::channel(false);
        Phase { stop, task: tokio::spawn(pending::<T>()) }
    }

    fn obedient<T: Send + 'static>(outcome: T) -> Phase<T> {
        let (stop, rx) = watch::channel(false);
        Phase {
            stop,
            task: tokio::spawn(async move {
                stopped(rx).await;
                outcome
            }),
        }
    }

    fn sockets() -> (tempfile::TempDir, SocketPaths) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sockets = SocketPaths::new(dir.path(), defaults::DRIVER_NAME);
        (dir, sockets)
    }

    #[test]
    fn the_binary_default_taint_recheck_is_the_library_default() {
        let parsed = crate::cli::parse_duration(defaults::TAINT_RECHECK_INTERVAL);
        assert_eq!(parsed, Ok(PluginOptions::default().taint_recheck));
    }

    #[test]
    fn rolling_update_socket_names_fit_a_unix_socket_under_the_default_root() {
        let uid = "0f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b";
        assert!(crate::valid_instance_id(uid));
        let root = Path::new(defaults::KUBELET_ROOT);
        let s = SocketPaths::for_instance(root, defaults::DRIVER_NAME, Some(uid));
        assert_eq!(
            s.registration,
            Path::new("/var/lib/kubelet/plugins_registry/gpu.ccgpu.dev-0f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b-reg.sock")
        );
        assert_eq!(
            s.dra,
            Path::new("/var/lib/kubelet/plugins/gpu.ccgpu.dev/dra-0f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b.sock")
        );
        assert!(s.registration.as_os_str().len() <= MAX_SOCKET_PATH && s.dra.as_os_str().len() <= MAX_SOCKET_PATH);
        assert_eq!(
            SocketPaths::for_instance(root, defaults::DRIVER_NAME, None),
            SocketPaths::new(root, defaults::DRIVER_NAME)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn taint_support_is_asked_again_once_its_answer_is_old() {
        let config = PluginConfig {
            driver: defaults::DRIVER_NAME.into(),
            node_name: "node-a".into(),
            kubelet_root: PathBuf::from("/nonexistent"),
            api_timeout: Duration::from_secs(1),
            rediscover_interval: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(1),
        };
        let every = Duration::from_secs(300);
        let mut t = TaintSupport::default();
        assert!(t.due(every) && !t.confirmed(), "never asked: ask, and withhold meanwhile");
        t.learn(false, &config);
        assert!(!t.due(every) && !t.confirmed());
        tokio::time::advance(every).await;
        assert!(t.due(every), "a \"dropped\" answer is asked again after the interval");
        t.learn(true, &config);
        assert!(t.confirmed() && !t.due(every));
        tokio::time::advance(every).await;
        assert!(t.due(every) && t.confirmed(), "a \"kept\" answer too, still trusted until then");
    }

    // Virtual time (the clock only moves when every task waits): the elapsed time is exact.
    #[tokio::test(start_paused = true)]
    async fn every_shutdown_phase_shares_one_deadline() {
        let (_dir, sockets) = sockets();
        let grace = Duration::from_secs(50);
        let start = Instant::now();
        let r = shut_down(grace, &sockets, stuck(), stuck(), stuck()).await;
        assert!(r.is_ok());
        assert_eq!(start.elapsed(), grace, "three stuck phases together take the grace period once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_phase_gets_what_the_earlier_ones_left() {
        let (_dir, sockets) = sockets();
        let start = Instant::now();
        // Registration stops at once, the DRA server never does, the publisher would: it gets nothing left.
        let r = shut_down(Duration::from_secs(10), &sockets, obedient(Ok(())), stuck(), obedient(())).await;
        assert!(r.is_ok());
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        let r = shut_down(Duration::from_secs(10), &sockets, obedient(Ok(())), obedient(Ok(())), obedient(())).await;
        assert!(r.is_ok());
        assert_eq!(start.elapsed(), Duration::from_secs(10), "phases that stop at once take no time");
    }
}
