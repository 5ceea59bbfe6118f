//! The simulation: GPUs, system, SEV-SNP device and PCI bus that behave like the real ones, with fault
//! injection — for tests, benchmarks and the binary's explicit `--simulate` mode. Nothing selects it
//! implicitly, and its roots are trusted only by a verifier built from [`SimFleet::local_verifier`].

mod fleet;
mod gpu;
mod roots_out;
mod snp;
mod system;

pub use fleet::{SimFleet, SimPkis};
pub use gpu::{
    GpuFault, NvmlCall, NvmlErrorKind, SIM_CHIP, SIM_DRIVER, SIM_FIRMWARE, SimGpuBackend, SimGpuModel, SimGpus, SimRims,
};
pub use roots_out::{RootsOutError, write_sim_roots};
pub use snp::{SIM_LAUNCH_MEASUREMENT, SimSnp, SimSnpPki, SnpFault};
pub use system::{SimSystem, SysCall, SysFault};
