//! The host side of ccgpu: everything that runs on the (untrusted) Kubernetes node.
//!
//! This crate is the node layer — what a DRA driver does on a node, minus the Kubernetes protocol:
//!
//! - [`discovery`]: managed devices (GPUs, NVSwitches) found through [`ccgpu_pci::PciBus`], with IOMMU
//!   group, NUMA node, PCIe root, driver, VFIO cdev, SR-IOV and CC mode;
//! - [`group`] and [`binding`]: whole IOMMU groups moved to vfio-pci and back, with bounded waits;
//! - [`vfio`]: proof that a bound device is usable through VFIO (the crate's only `unsafe`, in
//!   [`vfio::kernel`]);
//! - [`cdi`]: one CDI spec per claim naming the iommufd cdev (or, for non-CC use, the legacy group node);
//! - [`checkpoint`]: the crash-safe two-phase claim record;
//! - [`node`]: [`Node`], which ties these together with per-claim serialization, group reservations and
//!   crash recovery;
//! - [`backends`]: the real machine or an explicit simulation.
//!
//! With the `standin` feature (tests, `ccgpu demo`), `standin` holds SIMULATIONS of the kubelet and the
//! API server to drive the plugin with.
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
pub mod usage;
pub mod vfio;

pub use backends::{Backends, read_boot_id};
pub use config::{Budgets, CdiKind, DeviceMatch, NodeConfig, NodePaths, VfioNodes};
pub use names::{ClaimUid, DeviceKind, DeviceName};
pub use node::{ClaimError, ClaimFailure, Node, PreparedClaim, RecoveryReport};
