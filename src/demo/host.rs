//! The host half of the demo: the real node layer and kubelet plugin (`ccgpu-host-shim`) on a SIMULATED
//! HGX-like PCI bus, registered with the kubelet stand-in and publishing to the in-process fake API
//! server (both SIMULATIONS from `ccgpu_host_shim::sim`), with a claim allocated the way the
//! scheduler would.
//!
//! Everything the plugin writes goes under the demo's work directory: the kubelet root (sockets), the CDI
//! directory and the checkpoint directory. The bus is in memory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use ccgpu_host_shim::CcMode;
use ccgpu_host_shim::CheckpointStore;
use ccgpu_host_shim::sim::SimUsage;
use ccgpu_host_shim::sim::{DraVersion, FakeApiServer, InProcessPlugin, KubeletStandIn, PreparedDevice};
use ccgpu_host_shim::{Backends, Node, NodeConfig, NodePaths};
use ccgpu_host_shim::{Health, Metrics, PluginConfig, PluginParts, SocketPaths};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::{DriverName, PciAddress, PciBus};

/// The DRA driver name (the default of the real plugin).
pub const DRIVER: &str = ccgpu_host_shim::defaults::DRIVER_NAME;
/// The simulated node's name (also its pool).
pub const NODE: &str = "demo-node";
/// The claim's namespace and name.
pub const NAMESPACE: &str = "demo";
/// The claim's name.
pub const CLAIM: &str = "gpus";
/// A boot id for the simulated node (the checkpoint records it).
const BOOT_ID: &str = "00000000-0000-4000-8000-00000000de30";

/// One managed GPU of the simulated node, as discovered.
#[derive(Debug, Clone)]
pub struct HostGpu {
    /// Published device name.
    pub name: String,
    /// Its address on the host.
    pub bdf: PciAddress,
    /// IOMMU group.
    pub group: String,
    /// The other functions of its group that move with it, and the bridges left alone.
    pub companions: Vec<PciAddress>,
    /// Bridges in the group (left on their driver).
    pub bridges: Vec<PciAddress>,
}

/// The claim as the kubelet names it.
#[derive(Debug, Clone)]
pub struct Claim {
    /// `metadata.uid`.
    pub uid: String,
    /// Allocated device names.
    pub devices: Vec<String>,
}

/// The simulated node with the real plugin on it.
#[derive(Debug)]
pub struct Host {
    /// The simulated PCI bus.
    pub bus: Arc<SimBus>,
    /// The node layer (shared with the plugin).
    pub node: Arc<Node>,
    /// Every function and its driver at boot.
    pub initial: Vec<(PciAddress, Option<DriverName>)>,
    /// The managed GPUs.
    pub gpus: Vec<HostGpu>,
    /// The plugin's sockets.
    pub sockets: SocketPaths,
    config: PluginConfig,
}

fn node_config(dir: &Path) -> NodeConfig {
    // Every OS root under the work directory: with simulated backends nothing reads them, and nothing may
    // ever be written outside the work directory.
    let root = dir.join("node");
    NodeConfig {
        paths: NodePaths {
            sysfs: root.join("sys"),
            dev: root.join("dev"),
            proc: root.join("proc"),
            cdi_dir: dir.join("cdi"),
            checkpoint_dir: dir.join("checkpoint"),
            cdi_dev_root: "/dev".into(),
        },
        ..NodeConfig::default()
    }
}

/// Every function of `bus` and the driver bound to it.
pub fn drivers(bus: &SimBus) -> anyhow::Result<Vec<(PciAddress, Option<DriverName>)>> {
    let mut out = Vec::new();
    for a in bus.devices()? {
        out.push((a, bus.driver(a)?));
    }
    Ok(out)
}

impl Host {
    /// A simulated HGX-like node with `gpus` H200s (each in its own IOMMU group with its audio function,
    /// every other one behind a PCIe switch port), the node layer opened on it (lock taken, recovery run).
    pub fn open(dir: &Path, gpus: u8) -> anyhow::Result<Self> {
        let bus = Arc::new(SimBus::hgx(gpus));
        let initial = drivers(&bus)?;
        let backends = Backends::simulated(bus.clone(), Arc::new(SimUsage::default()), Some(CcMode::On));
        let (node, _recovery) = Node::open(node_config(dir), backends, BOOT_ID.into()).context("opening the node")?;
        let mut found = Vec::new();
        for (d, held) in node.discover().context("discovering GPUs")? {
            ensure!(held.is_none(), "a fresh node holds no claim");
            let of = |role: ccgpu_host_shim::MemberRole| -> Vec<PciAddress> {
                d.group.iter().filter(|m| m.role == role).map(|m| m.address).collect()
            };
            found.push(HostGpu {
                name: d.name.to_string(),
                bdf: d.pci.address,
                group: d.pci.iommu_group.map(|g| g.to_string()).unwrap_or_else(|| "?".into()),
                companions: of(ccgpu_host_shim::MemberRole::Companion),
                bridges: of(ccgpu_host_shim::MemberRole::Bridge),
            });
        }
        let config = PluginConfig {
            driver: DRIVER.into(),
            node_name: NODE.into(),
            kubelet_root: dir.join("kubelet"),
            api_timeout: Duration::from_secs(5),
            rediscover_interval: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        };
        let sockets = SocketPaths::new(&config.kubelet_root, &config.driver);
        Ok(Self { bus, node: Arc::new(node), initial, gpus: found, sockets, config })
    }

    /// Starts the real plugin on this node with the SIMULATED pre-flight attestation (GPUs on the host
    /// driver answer with evidence from a simulated device PKI), talking to `api`.
    pub async fn start_plugin(&self, api: &FakeApiServer) -> anyhow::Result<InProcessPlugin> {
        let preflight = ccgpu_host_shim::sim::simulated_preflight().context("simulated pre-flight PKI")?;
        let parts = PluginParts {
            node: self.node.clone(),
            client: api.client().context("API client")?,
            preflight: Some(preflight),
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Health::default()),
        };
        let plugin = InProcessPlugin::spawn(self.config.clone(), parts);
        if !plugin.wait_serving(Duration::from_secs(10)).await {
            let result = plugin.stop().await;
            bail!("the plugin did not start serving: {result:?}");
        }
        Ok(plugin)
    }

    /// The kubelet stand-in registers the plugin through its registration socket.
    pub async fn register(&self) -> anyhow::Result<KubeletStandIn> {
        KubeletStandIn::register(&self.sockets.registration, DRIVER).await.context("registration")
    }

    /// The CDI spec file of a prepared claim, from its checkpoint record.
    pub fn cdi_spec(&self, uid: &str) -> anyhow::Result<PathBuf> {
        let record = self
            .node
            .claims()?
            .into_iter()
            .find(|r| r.claim_uid.as_str() == uid)
            .with_context(|| format!("no checkpoint record for claim {uid}"))?;
        Ok(self.node.config().paths.cdi_dir.join(&record.cdi.file))
    }

    /// The checkpoint record file of a claim.
    pub fn checkpoint_file(&self, uid: &str) -> PathBuf {
        self.node.config().paths.checkpoint_dir.join(format!("claim-{uid}.json"))
    }

    /// Checks that every function of the claimed GPUs' groups (bridges aside) is on vfio-pci.
    pub fn on_vfio(&self, devices: &[PreparedDevice]) -> anyhow::Result<Vec<PciAddress>> {
        let names: BTreeSet<&str> = devices.iter().map(|d| d.device.as_str()).collect();
        let mut moved = Vec::new();
        for g in self.gpus.iter().filter(|g| names.contains(g.name.as_str())) {
            for a in std::iter::once(g.bdf).chain(g.companions.iter().copied()) {
                let d = self.bus.driver(a)?;
                ensure!(d.as_ref().is_some_and(|d| d.as_str() == "vfio-pci"), "{a} is on {d:?}, not vfio-pci");
                moved.push(a);
            }
        }
        Ok(moved)
    }

    /// Checks that the node is as it was at boot: every function on its original driver, no checkpoint
    /// record, no CDI spec. Returns the number of functions compared.
    pub fn restored(&self) -> anyhow::Result<usize> {
        let now = drivers(&self.bus)?;
        ensure!(now == self.initial, "drivers differ from boot: {now:?} vs {:?}", self.initial);
        for (a, _) in &now {
            ensure!(self.bus.driver_override(*a)?.is_none(), "{a} keeps a driver_override");
        }
        let paths = &self.node.config().paths;
        let store = CheckpointStore::open(&paths.checkpoint_dir)?;
        let loaded = store.load_all()?;
        ensure!(loaded.records.is_empty() && loaded.corrupt.is_empty(), "checkpoint records left");
        let cdi: Vec<PathBuf> =
            std::fs::read_dir(&paths.cdi_dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        ensure!(cdi.is_empty(), "CDI files left: {cdi:?}");
        Ok(now.len())
    }
}

/// Waits (bounded) until `api` holds `want` published devices; returns their names.
pub async fn wait_published(api: &FakeApiServer, want: usize, bound: Duration) -> anyhow::Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let published = api.published();
        if published.len() == want {
            return Ok(published);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{} of {want} devices published after {bound:?}", published.len());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the scheduler does: allocate the first `n` published devices to a new claim in the API server.
pub fn allocate(api: &FakeApiServer, published: &[String], n: usize, uid: &str) -> Claim {
    let devices: Vec<String> = published.iter().take(n).cloned().collect();
    let refs: Vec<&str> = devices.iter().map(String::as_str).collect();
    api.claim(NAMESPACE, CLAIM, uid, DRIVER, NODE, &refs);
    Claim { uid: uid.to_owned(), devices }
}

/// NodePrepareResources for the claim, as the kubelet calls it before starting the pod sandbox.
pub async fn prepare(kubelet: &KubeletStandIn, claim: &Claim) -> anyhow::Result<Vec<PreparedDevice>> {
    let answers = kubelet.prepare(DraVersion::V1, &[(NAMESPACE, CLAIM, &claim.uid)]).await?;
    let answer = answers.get(&claim.uid).with_context(|| format!("no answer for claim {}", claim.uid))?;
    ensure!(answer.error.is_empty(), "NodePrepareResources: {}", answer.error);
    Ok(answer.devices.clone())
}

/// NodeUnprepareResources for the claim, as the kubelet calls it after the pod is gone.
pub async fn unprepare(kubelet: &KubeletStandIn, claim: &Claim) -> anyhow::Result<()> {
    let answers = kubelet.unprepare(DraVersion::V1beta1, &[(NAMESPACE, CLAIM, &claim.uid)]).await?;
    match answers.get(&claim.uid) {
        Some(e) if e.is_empty() => Ok(()),
        Some(e) => bail!("NodeUnprepareResources: {e}"),
        None => bail!("no answer for claim {}", claim.uid),
    }
}
