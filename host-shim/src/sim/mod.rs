//! SIMULATION (feature `sim`, off by default; production builds do not contain it): everything a node
//! layer or a kubelet plugin needs to run without a node, for tests, benchmarks, `ccgpu demo` and the
//! plugin's explicit `--simulate`.
//!
//! - the simulated machine: `Backends::simulated` over [`ccgpu_pci::sim::SimBus`], with [`SimVfio`] (the
//!   kernel's VFIO viability rule), [`SimUsage`] (processes holding GPUs open, set by tests) and
//!   [`FixedCcMode`] and [`SimPpcieMode`], and [`SimHealth`] (device health from the bus, with AER errors and unreadable
//!   sources set by tests);
//! - [`SimEvidence`]: pre-flight evidence signed by a simulated device PKI ([`simulated_preflight`]
//!   trusts only that root);
//! - stand-ins for what surrounds the plugin on a node: [`KubeletStandIn`] registers the plugin through
//!   its registration socket exactly as the kubelet's plugin watcher does and calls
//!   NodePrepareResources / NodeUnprepareResources over v1 or v1beta1, and watches device health over
//!   `v1alpha1.` or `v1beta1.DRAResourceHealth`; [`FakeApiServer`] serves the few `resource.k8s.io/v1` and `v1`
//!   endpoints the plugin calls, over HTTP on localhost, so the real `kube` client code path runs, and
//!   refuses slices the real API server would refuse ([`validate_resource_slice`]); [`InProcessPlugin`]
//!   runs the real plugin on a task of this process;
//! - the node layer's test hooks: [`Effects`] with a [`StepHook`] that can interrupt any step (crash
//!   injection), and [`write_atomic`].
//!
//! Trusts: nothing; the stand-ins are the test side of the protocol, written from the kubelet's and the
//! API server's documented behaviour.

mod api_server;
mod backends;
mod ccmode;
mod evidence;
mod health;
mod kubelet;
mod kubelet_health;
mod plugin;
mod ppcie;
mod slice_validation;
mod usage;
mod vfio;

pub use api_server::{FakeApiServer, FakeState, client_for};
pub use ccmode::FixedCcMode;
pub use evidence::{SimEvidence, simulated as simulated_preflight, simulated_with as simulated_preflight_with};
pub use health::SimHealth;
pub use kubelet::{
    DraVersion, KUBELET_DEADLINE, KubeletStandIn, PrepareAnswer, PreparedDevice, StandInError, unix_channel,
};
pub use kubelet_health::{HealthReport, HealthVersion, HealthWatch, ReportedHealth};
pub use plugin::InProcessPlugin;
pub use ppcie::{SimPpcieMode, SimReading};
pub use slice_validation::{FieldError, Problem, invalid_status, validate as validate_resource_slice};
pub use usage::SimUsage;
pub use vfio::SimVfio;

pub use crate::atomic_file::write_atomic;
pub use crate::effects::{Effects, Interrupted, NoHook, Step, StepHook};
