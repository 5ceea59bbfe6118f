//! `ccgpu-node`: the node layer from the command line, for operators (see what the plugin would see,
//! prepare or release a device by hand, run crash recovery) and for the real-kernel test, which runs it
//! inside a QEMU guest.
//!
//! Every command opens the node layer exactly as the kubelet plugin does — node lock, then recovery —
//! so it must not run beside a plugin on the same checkpoint directory (the lock refuses). Results go to
//! stdout as JSON; logs go to stderr. Exit codes: 0 done, 1 the operation failed, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ccgpu_host_shim::{
    Backends, CdiKind, ClaimUid, DeviceMatch, DeviceName, Node, NodeConfig, NodePaths, VfioNodes, read_boot_id,
};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "ccgpu-node", version, about = "ccgpu node layer: discover, prepare and release GPUs for VFIO")]
struct Cli {
    /// sysfs root.
    #[arg(long, env = "CCGPU_SYSFS_ROOT", default_value = "/sys")]
    sysfs_root: PathBuf,
    /// Device-node root the VFIO nodes are opened under.
    #[arg(long, env = "CCGPU_DEV_ROOT", default_value = "/dev")]
    dev_root: PathBuf,
    /// procfs root (boot id, open GPU handles).
    #[arg(long, env = "CCGPU_PROC_ROOT", default_value = "/proc")]
    proc_root: PathBuf,
    /// CDI spec directory.
    #[arg(long, env = "CCGPU_CDI_DIR", default_value = "/var/run/cdi")]
    cdi_dir: PathBuf,
    /// Checkpoint directory.
    #[arg(long, env = "CCGPU_CHECKPOINT_DIR", default_value = "/var/lib/ccgpu")]
    checkpoint_dir: PathBuf,
    /// Device-node root written into CDI specs (as the container runtime sees it).
    #[arg(long, env = "CCGPU_CDI_DEV_ROOT", default_value = "/dev")]
    cdi_dev_root: PathBuf,
    /// Managed devices: VENDOR:CLASS pairs in hex.
    #[arg(long = "match", env = "CCGPU_MATCH", default_value = "10de:0302,10de:0300,10de:0680")]
    matching: DeviceMatch,
    /// How prepared devices are handed over: iommufd (confidential guests) or legacy-group (non-CC only).
    #[arg(long, env = "CCGPU_VFIO_NODES", value_enum, default_value_t = NodesArg::Iommufd)]
    vfio_nodes: NodesArg,
    /// CDI kind of our specs.
    #[arg(long, env = "CCGPU_CDI_KIND", default_value = "ccgpu.dev/gpu")]
    cdi_kind: CdiKind,
    /// Log format on stderr.
    #[arg(long, env = "CCGPU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NodesArg {
    Iommufd,
    LegacyGroup,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List managed devices with group, NUMA node, PCIe root, driver, CC mode and holder claim.
    Discover,
    /// Prepare devices for a claim (whole IOMMU groups to vfio-pci, CDI spec, checkpoint).
    Prepare {
        /// Claim UID.
        #[arg(long)]
        claim: ClaimUid,
        /// Device names (gpu-DDDD-BB-DD-F, nvswitch-DDDD-BB-DD-F).
        #[arg(required = true)]
        devices: Vec<DeviceName>,
    },
    /// Release a claim: original drivers back, CDI spec and checkpoint removed. Idempotent.
    Unprepare {
        /// Claim UID.
        #[arg(long)]
        claim: ClaimUid,
    },
    /// Run crash recovery and print what it found.
    Recover,
    /// Print the checkpoint records.
    Claims,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    match cli.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ccgpu-node: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = NodePaths {
        sysfs: cli.sysfs_root,
        dev: cli.dev_root,
        proc: cli.proc_root,
        cdi_dir: cli.cdi_dir,
        checkpoint_dir: cli.checkpoint_dir,
        cdi_dev_root: cli.cdi_dev_root,
    };
    let config = NodeConfig {
        matching: cli.matching,
        vfio_nodes: match cli.vfio_nodes {
            NodesArg::Iommufd => VfioNodes::Iommufd,
            NodesArg::LegacyGroup => VfioNodes::LegacyGroup,
        },
        cdi_kind: cli.cdi_kind,
        ..NodeConfig::default()
    };
    let config = NodeConfig { paths, ..config };
    let boot_id = read_boot_id(&config.paths.proc)?;
    let backends = Backends::real(&config.paths);
    let (node, report) = Node::open(config, backends, boot_id).context("opening the node layer")?;
    let out = match cli.command {
        Command::Discover => {
            let devices: Vec<_> = node
                .discover()?
                .into_iter()
                .map(|(device, claim)| serde_json::json!({ "device": device, "claim": claim }))
                .collect();
            serde_json::to_string_pretty(&devices)?
        }
        Command::Prepare { claim, devices } => serde_json::to_string_pretty(&node.prepare(&claim, &devices)?)?,
        Command::Unprepare { claim } => {
            node.unprepare(&claim)?;
            serde_json::to_string_pretty(&serde_json::json!({ "unprepared": claim }))?
        }
        Command::Recover => serde_json::to_string_pretty(&report)?,
        Command::Claims => serde_json::to_string_pretty(&node.claims()?)?,
    };
    println!("{out}");
    Ok(())
}
