//! `ccgpu-node`: the node layer from the command line, for operators (see what the plugin would see,
//! prepare or release a device by hand, run crash recovery) and for the real-kernel test, which runs it
//! inside a QEMU guest.
//!
//! Every command opens the node layer exactly as the kubelet plugin does — node lock, then recovery —
//! so it must not run beside a plugin on the same checkpoint directory (the lock refuses). Results go to
//! stdout as JSON; logs go to stderr. Exit codes: 0 done, 1 the operation failed, 2 usage error.

use std::process::ExitCode;

use anyhow::Context;
use ccgpu_host_shim::{
    Backends, ClaimUid, DeviceKind, DeviceName, DiscoveredDevice, LogFormat, Node, NodeArgs, build_devices, defaults,
    nvml_attestor, read_boot_id, resource_slices,
};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ccgpu-node", version, about = "ccgpu node layer: discover, prepare and release GPUs for VFIO")]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Log format on stderr.
    #[arg(long, env = "CCGPU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List managed devices with group, NUMA node, PCIe root, driver, CC mode and holder claim.
    Discover,
    /// Print the ResourceSlices the kubelet plugin would publish for this node now (nothing is written;
    /// the owner reference to the Node object is filled in by the plugin and left out here).
    Slices {
        /// The node's name, as the plugin gets it from NODE_NAME.
        #[arg(long, env = "NODE_NAME", default_value = "this-node")]
        node_name: String,
        /// The DRA driver name.
        #[arg(long, default_value = defaults::DRIVER_NAME)]
        driver: String,
        /// Run pre-flight attestation first, as the plugin does (read-only: asks NVML for evidence).
        #[arg(long)]
        preflight: bool,
    },
    /// Run the plugin's pre-flight attestation on every GPU still on the NVIDIA driver and print each
    /// outcome (passed, failed with the checks, or skipped with the reason) with its timings. Read-only.
    Preflight,
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
    cli.log_format.init(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ccgpu-node: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A GPU still on the NVIDIA host driver: the only devices pre-flight can ask.
fn on_nvidia_gpu(d: &DiscoveredDevice) -> bool {
    d.name.kind() == DeviceKind::Gpu && d.pci.driver.as_ref().is_some_and(|n| n.as_str() == "nvidia")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.node.node_config();
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
        Command::Slices { node_name, driver, preflight } => {
            let found = node.discover()?;
            let mut verdicts = std::collections::BTreeMap::new();
            if preflight {
                let attestor = nvml_attestor();
                for (d, _) in found.iter().filter(|(d, _)| on_nvidia_gpu(d)) {
                    if let Some(v) = attestor.attest(&d.pci).verdict() {
                        verdicts.insert(d.pci.address, v);
                    }
                }
            }
            let built = build_devices(&driver, &found, &verdicts, &std::collections::BTreeMap::new(), true);
            let slices = resource_slices(&driver, &node_name, None, 1, &built.devices);
            serde_json::to_string_pretty(
                &serde_json::json!({ "states": built.states, "withheld": built.withheld, "slices": slices }),
            )?
        }
        Command::Preflight => {
            let attestor = nvml_attestor();
            let runs: Vec<_> = node
                .discover()?
                .iter()
                .filter(|(d, _)| on_nvidia_gpu(d))
                .map(|(d, _)| serde_json::json!({ "device": d.name, "bdf": d.pci.address, "preflight": attestor.attest(&d.pci) }))
                .collect();
            serde_json::to_string_pretty(&runs)?
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
