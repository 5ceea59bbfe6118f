//! The host side of ccgpu: everything that runs on the (untrusted) Kubernetes node.
//!
//! The node layer — what a DRA driver does on a node, minus the Kubernetes protocol — is [`Node`]:
//! discovery of the managed devices (GPUs, NVSwitches) through [`ccgpu_pci::PciBus`] with IOMMU group,
//! NUMA node, PCIe root, driver, VFIO cdev, SR-IOV and CC mode ([`DiscoveredDevice`]); whole IOMMU groups
//! moved to vfio-pci and back with bounded waits and sysfs writes bounded on helper threads; proof that a
//! bound device is usable through VFIO (the crate's only `unsafe`, in the VFIO ioctl module); one CDI spec
//! per claim ([`CdiSpec`]); the protected-PCIe mode of GPUs and NVSwitches and the one-unit offer it
//! makes of an HGX board ([`PpcieState`], [`classify_ppcie`]); the crash-safe two-phase claim record ([`CheckpointStore`]); per-claim
//! serialization, group reservations and crash recovery. It runs on [`Backends`]: the real machine, or
//! (feature `sim`) an explicit simulation.
//!
//! On top of it, the kubelet plugin: the DRA gRPC service, registration, ResourceSlice publishing with
//! pre-flight attestation ([`Attestor`]), device health for the kubelet and the slices' taints
//! ([`HealthMonitor`] over a [`HealthSource`]) and metrics, started by [`run_plugin`]; [`NodeArgs`] and
//! [`LogFormat`] are the binaries' shared flags.
//!
//! Layout (private modules, this one `pub use` block): `discovery`, `group`, `binding`, `sysfs_write`,
//! `vfio`, `cdi`, `checkpoint`, `atomic_file`, `effects`, `deadline`, `usage`, `ccmode`, `ppcie`, `names`, `config`,
//! `node/` (the node layer); `dra/`, `registration`, `publish/`, `preflight`, `health`, `metrics`,
//! `plugin`, `cli` (the plugin); `sim/` (feature `sim`).
//!
//! Feature `sim` (off by default, so production builds hold no simulation): the simulated machine
//! ([`sim::SimUsage`], the simulated VFIO and CC-mode sources, `Backends::simulated`), simulated pre-flight
//! evidence, the plugin's `--simulate`, and the SIMULATIONS of the kubelet and the API server that tests
//! and `ccgpu demo` drive the plugin with.
//!
//! Nothing here decides whether a GPU is trustworthy: that decision belongs to the guest (see
//! `ccgpu-guest-agent`). Names from outside (claim UIDs, device names) are parsed ([`ClaimUid`],
//! [`DeviceName`]) before they reach a path.

#![deny(missing_docs)]

mod atomic_file;
mod backends;
mod binding;
mod ccmode;
mod cdi;
mod checkpoint;
mod cli;
mod config;
mod crc32;
mod deadline;
mod discovery;
mod dra;
mod effects;
mod group;
mod health;
mod metrics;
mod names;
mod node;
mod plugin;
mod ppcie;
mod preflight;
mod publish;
mod registration;
#[cfg(feature = "sim")]
pub mod sim;
mod sysfs_write;
#[cfg(test)]
mod test_fixtures;
mod usage;
mod vfio;

pub use backends::{Backends, BootIdError, read_boot_id};
pub use ccmode::{CcMode, CcModeError, CcModeSource, NvmlCcMode};
pub use cdi::{CdiError, Spec as CdiSpec};
pub use checkpoint::{CheckpointError, CheckpointStore, ClaimRecord, Phase as CheckpointPhase};
pub use cli::{LogFormat, NodeArgs, NodesArg, parse_duration};
pub use config::{Budgets, CdiKind, DeviceMatch, NodeConfig, NodePaths, VfioNodes};
pub use deadline::Deadline;
pub use discovery::{DiscoveredDevice, DiscoveryError, GroupMember};
pub use dra::config::GpuConfig;
pub use dra::health::{MAX_HEALTH_MESSAGE, stated_timeout as stated_health_timeout};
pub use group::MemberRole;
pub use health::{
    Cause as HealthCause, DeviceHealth, HEALTH_POLL_INTERVAL, HEALTH_RESEND_INTERVAL, HEALTH_TIMEOUT, HealthEntry,
    HealthList, HealthMonitor, HealthReadError, HealthSource, HealthTiming, Observation as HealthObservation,
    PreparedDevices, SysfsHealth, Watched,
};
pub use metrics::{Health, Metrics, Operation as MetricsOperation, bind as bind_metrics, serve as serve_metrics};
pub use names::{ClaimUid, DeviceKind, DeviceName};
pub use node::node_lock::{MAX_INSTANCE_ID, valid_instance_id};
pub use node::{ClaimError, ClaimFailure, Node, OpenError, PreparedClaim, PreparedDevice, RecoveryReport};
pub use plugin::{
    PluginConfig, PluginError, PluginOptions, PluginParts, PreflightCheck, SocketPaths, defaults, run as run_plugin,
};
pub use ppcie::{
    Bar0PpcieMode, Layout as PpcieLayout, PpcieMode, PpcieModeError, PpcieModeSource, PpcieState, UNIT_GPUS,
    UNIT_SWITCHES, Unit as PpcieUnit, classify as classify_ppcie,
};
pub use preflight::{
    Attestor, EVIDENCE_CHECKS, Evidence, EvidenceError, EvidenceSource, NvmlEvidence, PreflightRun, Skipped,
    nvml as nvml_preflight, nvml_attestor,
};
pub use publish::{Built, Preflight, Withheld, build_devices, resource_slices};
pub use sysfs_write::Write as SysfsWrite;
pub use usage::{DeviceUsage, Holder, ProcUsage, UsageError};
pub use vfio::{IommufdProof, KernelVfio, VfioAccess, VfioError, VfioProof};

/// An error and all its causes on one line, as the kubelet shows it in pod events and as logs print it.
pub use ccgpu_attestation::error_chain;
