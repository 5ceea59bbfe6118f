//! The host side of ccgpu: everything that runs on the (untrusted) Kubernetes node.
//!
//! This crate is the node layer — what a DRA driver does on a node, minus the Kubernetes protocol:
//!
//! - [`discovery`]: managed devices (GPUs, NVSwitches) found through [`ccgpu_pci::PciBus`], with IOMMU
//!   group, NUMA node, PCIe root, driver, VFIO cdev, SR-IOV and CC mode;
//! - [`group`] and [`binding`]: whole IOMMU groups moved to vfio-pci and back, with bounded waits and
//!   sysfs writes bounded on helper threads ([`sysfs_write`]);
//! - [`vfio`]: proof that a bound device is usable through VFIO (the crate's only `unsafe`, in
//!   [`vfio::kernel`]);
//! - [`cdi`]: one CDI spec per claim naming the iommufd cdev (or, for non-CC use, the legacy group node);
//! - [`checkpoint`]: the crash-safe two-phase claim record;
//! - [`node`]: [`Node`], which ties these together with per-claim serialization, group reservations and
//!   crash recovery;
//! - [`backends`]: the real machine or (feature `sim`) an explicit simulation;
//! - [`dra`], [`publish`], [`plugin`]: the kubelet plugin on top; [`cli`]: the binaries' shared flags.
//!
//! Features: `sim` (off by default, so production builds hold no simulation) adds the simulated machine
//! and the plugin's `--simulate`; `standin` (tests, `ccgpu demo`; implies `sim`) adds `standin`, the
//! SIMULATIONS of the kubelet and the API server to drive the plugin with.
//!
//! Nothing here decides whether a GPU is trustworthy: that decision belongs to the guest (see
//! `ccgpu-guest-agent`). Names from outside (claim UIDs, device names) are parsed by [`names`] before
//! they reach a path.

pub mod atomic_file;
pub mod backends;
pub mod binding;
pub mod ccmode;
pub mod cdi;
pub mod checkpoint;
pub mod cli;
pub mod config;
mod crc32;
pub mod deadline;
pub mod discovery;
pub mod dra;
pub mod effects;
pub mod group;
pub mod metrics;
pub mod names;
pub mod node;
pub mod plugin;
pub mod preflight;
pub mod publish;
pub mod registration;
#[cfg(feature = "standin")]
pub mod standin;
pub mod sysfs_write;
#[cfg(test)]
mod test_fixtures;
pub mod usage;
pub mod vfio;

pub use backends::{Backends, read_boot_id};
pub use config::{Budgets, CdiKind, DeviceMatch, NodeConfig, NodePaths, VfioNodes};
pub use names::{ClaimUid, DeviceKind, DeviceName};
pub use node::{ClaimError, ClaimFailure, Node, PreparedClaim, RecoveryReport};

/// An error and all its causes on one line, as the kubelet shows it in pod events and as logs print it.
pub use ccgpu_attestation::error_chain;
