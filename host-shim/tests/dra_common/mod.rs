//! Shared fixture of the DRA plugin tests: the library's stand-ins (`ccgpu_host_shim::sim`: the fake
//! API server, the kubelet stand-in, the in-process plugin) set up for a simulated node.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ccgpu_host_shim::CcMode;
use ccgpu_host_shim::CheckpointStore;
#[allow(unused_imports)]
pub use ccgpu_host_shim::sim::{
    DraVersion as Version, FakeApiServer, InProcessPlugin, KubeletStandIn as Kubelet, PreparedDevice, client_for,
};
use ccgpu_host_shim::sim::{SimHealth, SimUsage};
use ccgpu_host_shim::{Backends, Budgets, HealthTiming, Node, NodeConfig, NodePaths};
use ccgpu_host_shim::{Health, Metrics, PluginConfig, PluginOptions, PluginParts, PreflightCheck, SocketPaths};
use ccgpu_pci::sim::SimBus;

pub const DRIVER: &str = "gpu.ccgpu.dev";
pub const NODE: &str = "node-a";
pub const BOOT: &str = "11111111-2222-3333-4444-555555555555";

pub fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new().prefix("ccgpu-dra").tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().unwrap()
}

/// Device health, fast: read every 50 ms, Unknown after 400 ms unreadable, resent every 200 ms.
pub const HEALTH_TIMING: HealthTiming = HealthTiming {
    poll: Duration::from_millis(50),
    timeout: Duration::from_millis(400),
    resend: Duration::from_millis(200),
};

/// The device name of the i-th GPU of `SimBus::hgx`.
pub fn hgx_device(i: u8) -> String {
    format!("gpu-0000-{:02x}-00-0", 0x18 + i * 0x10)
}

pub fn node_config(dir: &Path) -> NodeConfig {
    NodeConfig {
        paths: NodePaths { cdi_dir: dir.join("cdi"), checkpoint_dir: dir.join("checkpoint"), ..NodePaths::default() },
        budgets: Budgets {
            total: Duration::from_secs(5),
            rollback: Duration::from_secs(2),
            in_use: Duration::from_millis(30),
            driver_switch: Duration::from_millis(50),
            sysfs_write: Duration::from_secs(1),
            poll: Duration::from_millis(1),
        },
        health: HEALTH_TIMING,
        ..NodeConfig::default()
    }
}

pub fn plugin_config(dir: &Path) -> PluginConfig {
    PluginConfig {
        driver: DRIVER.into(),
        node_name: NODE.into(),
        kubelet_root: dir.join("kubelet"),
        api_timeout: Duration::from_millis(2000),
        rediscover_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(10),
    }
}

/// A plugin running in process.
pub struct Running {
    pub sockets: SocketPaths,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The simulated machine's device-health source (inject AER errors, unreadable sources).
    pub device_health: Arc<SimHealth>,
    plugin: InProcessPlugin,
}

impl Running {
    /// Starts the plugin on `bus` with `client`, and waits until its registration socket is there;
    /// [`Running::stop`] withdraws the slices (as `--withdraw-on-exit` does).
    pub async fn start(
        dir: &Path,
        bus: Arc<SimBus>,
        client: kube::Client,
        config: PluginConfig,
        preflight: Option<Arc<dyn PreflightCheck>>,
    ) -> Self {
        Self::start_with(bus, client, config, preflight, node_config(dir)).await
    }

    /// [`Running::start`] with the node layer configured by `nc`; [`Running::stop`] withdraws the slices.
    pub async fn start_with(
        bus: Arc<SimBus>,
        client: kube::Client,
        config: PluginConfig,
        preflight: Option<Arc<dyn PreflightCheck>>,
        nc: NodeConfig,
    ) -> Self {
        Self::start_with_options(
            bus,
            client,
            config,
            PluginOptions { withdraw_on_exit: true, ..PluginOptions::default() },
            preflight,
            nc,
        )
        .await
    }

    /// [`Running::start_with`] with the plugin's `options`.
    pub async fn start_with_options(
        bus: Arc<SimBus>,
        client: kube::Client,
        config: PluginConfig,
        options: PluginOptions,
        preflight: Option<Arc<dyn PreflightCheck>>,
        nc: NodeConfig,
    ) -> Self {
        let device_health = Arc::new(SimHealth::new(bus.clone()));
        let backends = Backends {
            health: device_health.clone(),
            ..Backends::simulated(bus, Arc::new(SimUsage::default()), Some(CcMode::On))
        };
        let (node, _report) =
            tokio::task::spawn_blocking(move || Node::open(nc, backends, BOOT.into())).await.unwrap().unwrap();
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let parts =
            PluginParts { node: Arc::new(node), client, preflight, metrics: metrics.clone(), health: health.clone() };
        let plugin = InProcessPlugin::spawn_with(config, options, parts);
        // Not asserted here: a test of a failing start looks at the result of `stop`.
        let _ = plugin.wait_serving(Duration::from_secs(5)).await;
        Self { sockets: plugin.sockets.clone(), metrics, health, device_health, plugin }
    }

    pub async fn register(&self) -> Kubelet {
        Kubelet::register(&self.sockets.registration, DRIVER).await.unwrap()
    }

    /// Graceful shutdown; returns the plugin's result.
    pub async fn stop(self) -> Result<(), ccgpu_host_shim::PluginError> {
        self.plugin.stop().await
    }
}

/// Polls `f` until it holds (bounded: a stuck condition fails the test with `what`).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// Nothing left behind: no checkpoint record, no CDI spec of ours, every function as at boot.
pub fn assert_clean(dir: &Path, bus: &SimBus, initial: &[(ccgpu_pci::PciAddress, Option<ccgpu_pci::DriverName>)]) {
    let store = CheckpointStore::open(&dir.join("checkpoint")).unwrap();
    let loaded = store.load_all().unwrap();
    assert!(
        loaded.records.is_empty(),
        "checkpoint records left: {:?}",
        loaded.records.iter().map(|r| &r.claim_uid).collect::<Vec<_>>()
    );
    let cdi: BTreeSet<PathBuf> = std::fs::read_dir(dir.join("cdi")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(cdi.is_empty(), "CDI files left: {cdi:?}");
    use ccgpu_pci::PciBus;
    for (a, d) in initial {
        assert_eq!(&bus.driver(*a).unwrap(), d, "{a} not back on its driver");
    }
}

pub fn drivers(bus: &SimBus) -> Vec<(ccgpu_pci::PciAddress, Option<ccgpu_pci::DriverName>)> {
    use ccgpu_pci::PciBus;
    bus.devices().unwrap().into_iter().map(|a| (a, bus.driver(a).unwrap())).collect()
}
