//! `ccgpu-kubelet-plugin`: the ccgpu DRA driver's kubelet plugin, one per GPU node (deploy/ runs it as a
//! DaemonSet).
//!
//! Opens the node layer (node lock, crash recovery), serves the kubelet's DRA and registration gRPC
//! services on unix sockets under the kubelet root, publishes this node's GPUs as ResourceSlices, and
//! serves Prometheus metrics and `/healthz`. SIGTERM/SIGINT shut it down gracefully, leaving the slices for
//! the next process unless `--withdraw-on-exit` (uninstalling) asks to delete them. Every flag has an
//! environment variable; defaults match deploy/. Built with the `sim` feature, `--simulate N` runs the
//! same plugin against N simulated GPUs, no hardware touched (`--simulate 8 --simulate-ppcie`: an HGX
//! board in protected-PCIe mode, 8 GPUs and 4 NVSwitches), for trying it out — it says so loudly; the
//! production build (without `sim`) has no such flag and no simulation code.
//!
//! Exit codes: 0 clean shutdown, 1 failure, 2 usage error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ccgpu_host_shim::{
    Backends, Health, LogFormat, Metrics, Node, NodeArgs, NodeConfig, PluginConfig, PluginOptions, PluginParts,
    PreflightCheck, bind_metrics, defaults, parse_duration, read_boot_id, run_plugin, serve_metrics,
};
use clap::{Parser, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    name = "ccgpu-kubelet-plugin",
    version,
    about = "ccgpu DRA kubelet plugin: GPUs to Kata confidential VMs via VFIO"
)]
struct Cli {
    /// DRA driver name (DNS subdomain); must match the DeviceClass selector.
    #[arg(long, env = "CCGPU_DRIVER_NAME", default_value = defaults::DRIVER_NAME, value_parser = parse_driver)]
    driver_name: String,
    /// This node's name (from the downward API: spec.nodeName); also the pool name.
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// The kubelet's root directory (plugins/ and plugins_registry/ are under it).
    #[arg(long, env = "CCGPU_KUBELET_ROOT", default_value = defaults::KUBELET_ROOT)]
    kubelet_root: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
    /// Log format on stderr.
    #[arg(long, env = "CCGPU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Address of the metrics and /healthz HTTP server; "off" disables it.
    #[arg(long, env = "CCGPU_METRICS_ADDRESS", default_value = defaults::METRICS_ADDRESS)]
    metrics_address: String,
    /// Kubeconfig file; without it the in-cluster service account (or $KUBECONFIG) is used.
    #[arg(long, env = "CCGPU_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Bound on each API server call (e.g. 10s, 500ms); a Prepare's read of its claim is also bounded by
    /// the claim's 30 s budget.
    #[arg(long, env = "CCGPU_API_TIMEOUT", default_value = defaults::API_TIMEOUT, value_parser = parse_duration)]
    api_timeout: Duration,
    /// How often devices are rediscovered and the ResourceSlices checked.
    #[arg(long, env = "CCGPU_REDISCOVER_INTERVAL", default_value = defaults::REDISCOVER_INTERVAL, value_parser = parse_duration)]
    rediscover_interval: Duration,
    /// One deadline for all of shutdown (in-flight calls, then withdrawing the slices where asked); keep
    /// it below the pod's terminationGracePeriodSeconds.
    #[arg(long, env = "CCGPU_SHUTDOWN_GRACE", default_value = defaults::SHUTDOWN_GRACE, value_parser = parse_duration)]
    shutdown_grace: Duration,
    /// Delete this node's ResourceSlices on SIGTERM (uninstalling). Without it an ordinary stop (restart,
    /// rolling update) leaves them for the next process, so the GPUs stay schedulable.
    #[arg(long, env = "CCGPU_WITHDRAW_ON_EXIT")]
    withdraw_on_exit: bool,
    /// How old the API server's last answer about device-taint support (DRADeviceTaints, asked with a
    /// dry-run write) may be before it is asked again; until it says taints are kept, devices that would
    /// be tainted are withheld.
    #[arg(long, env = "CCGPU_TAINT_RECHECK_INTERVAL", default_value = defaults::TAINT_RECHECK_INTERVAL, value_parser = parse_duration)]
    taint_recheck_interval: Duration,
    /// Pre-flight attestation of GPUs still on the NVIDIA host driver (needs NVML): auto or off.
    /// This pod's UID (downward API `metadata.uid`): enables the kubelet's rolling-update sockets
    /// (`<driver>-<uid>-reg.sock`, `dra-<uid>.sock`) and the hand-over of the node lock, waiting up to
    /// --handover-wait for the old instance (deploy/README.md, "Rolling updates").
    #[arg(long, env = "POD_UID", value_parser = parse_pod_uid)]
    pod_uid: Option<String>,
    /// With --pod-uid: how long to wait for the previous instance to drain and release the node lock.
    #[arg(long, env = "CCGPU_HANDOVER_WAIT", default_value = defaults::HANDOVER_WAIT, value_parser = parse_duration)]
    handover_wait: Duration,
    #[arg(long, env = "CCGPU_PREFLIGHT", value_enum, default_value_t = PreflightArg::Auto)]
    preflight: PreflightArg,
    /// SIMULATION: run against N simulated H100 GPUs instead of this machine's PCI bus. Nothing real is
    /// touched, but CDI specs and checkpoints are written to the configured directories.
    #[cfg(feature = "sim")]
    #[arg(long, env = "CCGPU_SIMULATE", value_parser = clap::value_parser!(u8).range(1..=64))]
    simulate: Option<u8>,
    /// SIMULATION: with --simulate 8, an HGX board in protected-PCIe mode instead: the 8 GPUs and 4
    /// NVSwitches all in PPCIe mode, published as one `ppcie-…` device.
    #[cfg(feature = "sim")]
    #[arg(long, env = "CCGPU_SIMULATE_PPCIE", requires = "simulate")]
    simulate_ppcie: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PreflightArg {
    Auto,
    Off,
}

fn parse_pod_uid(s: &str) -> Result<String, String> {
    if ccgpu_host_shim::valid_instance_id(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "a pod UID is 1 to {} lowercase letters, digits and '-' (metadata.uid)",
            ccgpu_host_shim::MAX_INSTANCE_ID
        ))
    }
}

fn parse_driver(s: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if s.len() <= 63 && s.contains('.') && s.split('.').all(label_ok) {
        Ok(s.to_owned())
    } else {
        Err("a driver name is a lowercase DNS subdomain of at most 63 characters with a dot (gpu.ccgpu.dev)".into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log_format.init(false);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ccgpu-kubelet-plugin: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ccgpu-kubelet-plugin failed");
            eprintln!("ccgpu-kubelet-plugin: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn kube_client(cli: &Cli) -> anyhow::Result<kube::Client> {
    let config = match &cli.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .context("loading kubeconfig")?
        }
        None => kube::Config::infer().await.context("finding the API server (in-cluster or $KUBECONFIG)")?,
    };
    kube::Client::try_from(config).context("building the API client")
}

/// The machine the plugin runs on and its pre-flight check: this machine's, or (`--simulate`) a
/// simulated one.
fn machine(cli: &Cli, config: &NodeConfig) -> anyhow::Result<(Backends, Option<Arc<dyn PreflightCheck>>)> {
    #[cfg(feature = "sim")]
    if let Some(gpus) = cli.simulate {
        use ccgpu_host_shim::CcMode;
        use ccgpu_host_shim::sim::{SimUsage, simulated_preflight};
        use ccgpu_pci::sim::SimBus;
        for _ in 0..3 {
            tracing::warn!(gpus, "SIMULATION MODE: simulated GPUs on a simulated PCI bus; no real device is touched");
        }
        let preflight = match cli.preflight {
            PreflightArg::Auto => Some(simulated_preflight()?),
            PreflightArg::Off => None,
        };
        if cli.simulate_ppcie {
            anyhow::ensure!(gpus == 8, "--simulate-ppcie simulates an HGX board: --simulate 8, not {gpus}");
            let bus = Arc::new(SimBus::hgx_ppcie());
            let mut backends = Backends::simulated(bus, Arc::new(SimUsage::default()), Some(CcMode::Ppcie));
            backends.ppcie = Arc::new(ccgpu_host_shim::sim::SimPpcieMode::all(Some(ccgpu_host_shim::PpcieMode::On)));
            return Ok((backends, preflight));
        }
        let bus = Arc::new(SimBus::hgx(gpus));
        return Ok((Backends::simulated(bus, Arc::new(SimUsage::default()), Some(CcMode::On)), preflight));
    }
    let preflight = match cli.preflight {
        PreflightArg::Auto => Some(ccgpu_host_shim::nvml_preflight()),
        PreflightArg::Off => None,
    };
    Ok((Backends::real(&config.paths), preflight))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut node_config = cli.node.node_config();
    if let Some(uid) = &cli.pod_uid {
        node_config.lock_wait = cli.handover_wait;
        node_config.instance = Some(uid.clone());
    }
    let boot_id = read_boot_id(&node_config.paths.proc)?;
    let (backends, preflight) = machine(&cli, &node_config)?;
    let client = kube_client(&cli).await?;

    // Metrics and /healthz first: a rolling update's new instance answers the liveness probe while it
    // waits for the old one to hand over the node lock.
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let (stop_http, stop_http_rx) = tokio::sync::watch::channel(false);
    let http = if cli.metrics_address == "off" {
        None
    } else {
        let address: SocketAddr = cli.metrics_address.parse().context("--metrics-address")?;
        let listener = bind_metrics(address).await.with_context(|| format!("binding metrics address {address}"))?;
        tracing::info!(%address, "metrics and /healthz listening");
        let mut rx = stop_http_rx;
        Some(tokio::spawn(serve_metrics(listener, metrics.clone(), health.clone(), async move {
            let _ = rx.wait_for(|s| *s).await;
        })))
    };

    health.set_waiting(cli.pod_uid.is_some());
    let opened = tokio::task::spawn_blocking(move || Node::open(node_config, backends, boot_id)).await;
    health.set_waiting(false);
    let (node, report) = opened??;
    tracing::info!(?report, previous_instance = node.previous_holder(), "node layer open; recovery done");

    let config = PluginConfig {
        driver: cli.driver_name.clone(),
        node_name: cli.node_name.clone(),
        kubelet_root: cli.kubelet_root.clone(),
        api_timeout: cli.api_timeout,
        rediscover_interval: cli.rediscover_interval,
        shutdown_grace: cli.shutdown_grace,
    };
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    };
    let parts = PluginParts { node: Arc::new(node), client, preflight, metrics, health };
    let options = PluginOptions {
        withdraw_on_exit: cli.withdraw_on_exit,
        taint_recheck: cli.taint_recheck_interval,
        pod_uid: cli.pod_uid.clone(),
    };
    let result = run_plugin(config, options, parts, shutdown).await;
    let _ = stop_http.send(true);
    if let Some(http) = http {
        let _ = http.await;
    }
    Ok(result?)
}
