//! Command-line pieces both binaries (`ccgpu-kubelet-plugin`, `ccgpu-node`) share: the node layer's
//! flags with their environment variables and defaults, the log format, and duration values. Flags are
//! parsed by clap; paths are taken as the operator gives them (see [`crate::config`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::{CdiKind, DeviceMatch, NodeConfig, NodePaths, VfioNodes};
use crate::plugin::defaults;

/// The node layer's flags: OS roots, the CDI and checkpoint directories, which devices are managed and
/// how they are handed over.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// sysfs root.
    #[arg(long, env = "CCGPU_SYSFS_ROOT", default_value = defaults::SYSFS_ROOT)]
    pub sysfs_root: PathBuf,
    /// Device-node root the VFIO nodes are opened under.
    #[arg(long, env = "CCGPU_DEV_ROOT", default_value = defaults::DEV_ROOT)]
    pub dev_root: PathBuf,
    /// procfs root (boot id, open GPU handles).
    #[arg(long, env = "CCGPU_PROC_ROOT", default_value = defaults::PROC_ROOT)]
    pub proc_root: PathBuf,
    /// CDI spec directory (read by the container runtime).
    #[arg(long, env = "CCGPU_CDI_DIR", default_value = defaults::CDI_DIR)]
    pub cdi_dir: PathBuf,
    /// Checkpoint directory (must survive plugin restarts: a hostPath).
    #[arg(long, env = "CCGPU_CHECKPOINT_DIR", default_value = defaults::CHECKPOINT_DIR)]
    pub checkpoint_dir: PathBuf,
    /// Device-node root written into CDI specs (as the container runtime sees it).
    #[arg(long, env = "CCGPU_CDI_DEV_ROOT", default_value = defaults::DEV_ROOT)]
    pub cdi_dev_root: PathBuf,
    /// Managed devices: VENDOR:CLASS pairs in hex.
    #[arg(long = "match", env = "CCGPU_MATCH", default_value = defaults::MATCH)]
    pub matching: DeviceMatch,
    /// How prepared devices are handed over: iommufd (confidential guests) or legacy-group (non-CC only).
    #[arg(long, env = "CCGPU_VFIO_NODES", value_enum, default_value_t = NodesArg::Iommufd)]
    pub vfio_nodes: NodesArg,
    /// CDI kind of our specs: vendor/class, each starting with a letter (the CDI specification's rule).
    #[arg(long, env = "CCGPU_CDI_KIND", default_value = defaults::CDI_KIND)]
    pub cdi_kind: CdiKind,
    /// Also name /dev/iommu in each CDI spec, once, spec-wide. Off by default: Kata's QEMU opens it
    /// itself and would pass it into the guest as a stray device; turn it on only for a runtime that gives
    /// the VFIO cdev to a container process needing /dev/iommu too.
    #[arg(long, env = "CCGPU_CDI_IOMMU_DEVICE")]
    pub cdi_iommu_device: bool,
}

impl NodeArgs {
    /// The node layer's configuration (budgets at their defaults).
    pub fn node_config(&self) -> NodeConfig {
        NodeConfig {
            paths: NodePaths {
                sysfs: self.sysfs_root.clone(),
                dev: self.dev_root.clone(),
                proc: self.proc_root.clone(),
                cdi_dir: self.cdi_dir.clone(),
                checkpoint_dir: self.checkpoint_dir.clone(),
                cdi_dev_root: self.cdi_dev_root.clone(),
            },
            matching: self.matching.clone(),
            vfio_nodes: self.vfio_nodes.into(),
            cdi_kind: self.cdi_kind.clone(),
            cdi_iommu_device: self.cdi_iommu_device,
            ..NodeConfig::default()
        }
    }
}

/// `--vfio-nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodesArg {
    /// [`VfioNodes::Iommufd`].
    Iommufd,
    /// [`VfioNodes::LegacyGroup`].
    LegacyGroup,
}

impl From<NodesArg> for VfioNodes {
    fn from(a: NodesArg) -> Self {
        match a {
            NodesArg::Iommufd => VfioNodes::Iommufd,
            NodesArg::LegacyGroup => VfioNodes::LegacyGroup,
        }
    }
}

/// `--log-format`: how logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the structured fields.
    Json,
}

impl LogFormat {
    /// Installs the global subscriber: stderr, level from `RUST_LOG` (default `info`), colours when
    /// `ansi`.
    pub fn init(self, ansi: bool) {
        let subscriber = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(ansi).with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
        match self {
            LogFormat::Text => subscriber.init(),
            LogFormat::Json => subscriber.json().init(),
        }
    }
}

/// A duration as operators write it: `500ms`, `10s`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("{s:?} is not a duration like 10s, 500ms or 2m");
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?);
    let n: u64 = digits.parse().map_err(|_| err())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn the_iommu_device_is_off_unless_asked_for() {
        let off = Flags::try_parse_from(["plugin"]).expect("defaults parse");
        assert!(!off.node.node_config().cdi_iommu_device);
        let on = Flags::try_parse_from(["plugin", "--cdi-iommu-device"]).expect("flag parses");
        assert!(on.node.node_config().cdi_iommu_device);
    }

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("50s"), Ok(Duration::from_secs(50)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "10", "s", "1h", "-1s", "1.5s", "10 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
