//! The guest side of ccgpu: `ccgpu-guest-agent` runs inside the Kata confidential VM, next to the Kata
//! agent, and is the only thing that can let a GPU accept work.
//!
//! Its contract: **no workload sees a GPU that has not been verified, and nothing the host sends can
//! change that.** The GPU's confidential-computing *ready* state (system-wide in NVML; until it is set,
//! CUDA fails with error 802) is set only after the evidence of every GPU in the VM verified under the
//! policy — locally with `ccgpu-attestation`, or by a relying party whose signed verdict the agent checks.
//!
//! # Bring-up, per GPU
//!
//! ```text
//! discovered ─► driver loaded ─► persistenced up ─► evidence collected ─► verified ─► ready
//!      └──────────────┴──────────────────┴───────────────────┴──────────────┴─► failed (reason; GPU locked)
//! ```
//!
//! 1. Discovery (`discovery.rs`): NVIDIA GPUs (vendor `0x10de`, class `0x03xx`) and NVSwitches (`0x0680`)
//!    through the same [`ccgpu_pci::PciBus`] code as the host, over a sysfs root given as a parameter.
//! 2. The system (`system/`, [`SystemOps`]): `modprobe nvidia` (with `NVreg_NvLinkDisable=1` for a single
//!    GPU) and `nvidia-uvm`, then `nvidia-persistenced`, started and supervised. Every command has a
//!    timeout and its stderr ends up in the error; every wait is bounded by `base + per_gpu × GPUs` (a
//!    fixed 120 s breaks 8-GPU VMs).
//! 3. The GPUs (`gpu/`, [`GpuManagement`]): CC mode, dev-tools mode, protected PCIe, versions, the SPDM
//!    attestation report for our nonce, the certificate chain, the ready state. Real: NVML through
//!    `nvml-wrapper` ([`NvmlBackend`], loaded at run time; a missing `libnvidia-ml.so.1` is a clear
//!    error). Simulated (feature `sim`): a GPU model with its own device PKI that signs real SPDM reports
//!    for any nonce, with fault injection. [`probe`] asks a backend every read-only question, for
//!    `ccgpu-guest-agent --probe`.
//! 4. Evidence (`evidence.rs`): a fresh 32-byte nonce from the CSPRNG, every GPU's report and chain (with
//!    the RIMs the report names, from a measured directory), bound into the SEV-SNP report's REPORT_DATA
//!    through [`CpuTee`] — the bundle format `ccgpu verify bundle` reads
//!    ([`ccgpu_attestation::EvidenceBundle`]).
//! 5. Verification (`verify/`, [`Verifier`]): [`LocalVerifier`] appraises the bundle with
//!    `ccgpu-attestation` under the policy; [`RemoteVerifier`] POSTs it to a relying party and accepts
//!    only an EAR JWT signed by the key in the measured configuration, carrying our nonce.
//! 6. Bring-up (`bringup.rs`, [`Agent`]): only when every GPU is verified is the ready state set (and read
//!    back). Any failure leaves every GPU locked. Every bring-up is written to the attestation log
//!    ([`AuditLog`]).
//!
//! # What it trusts
//!
//! The kernel command line and the configuration file it names (pinned by digest on the command line, or
//! declared with `ccgpu.config_trust=rootfs` and found under the measured root file system's
//! `/etc/ccgpu/` or `/usr/share/ccgpu/`; any other file is refused) — see [`Config`]. The compiled-in
//! NVIDIA and AMD roots; simulated roots only in the explicit `--simulate` mode, which exists only in a
//! build with the `sim` feature (not a default one). Nothing from the host: the API served to it over
//! ttrpc ([`ApiServer`]) is read-only (no request can set ready, change the policy, skip a check or load
//! a module), size- and rate-limited.
//!
//! # The public surface
//!
//! Every module is private; what the binary, the tests, the benchmarks and the `ccgpu demo` need is
//! re-exported below, plus [`proto`] (the generated ttrpc messages and client) and, only with the `sim`
//! feature, `sim` (the simulated GPUs, system and SEV-SNP device). Nothing simulated is re-exported at the
//! crate root.

#![deny(missing_docs)]

mod api;
mod audit;
mod bringup;
mod config;
mod discovery;
mod evidence;
mod gpu;
mod state;
mod system;
mod tee;
mod verify;

#[cfg(feature = "sim")]
pub mod sim;

pub use crate::api::{API_SERVICE, ApiLimits, ApiServer, unix_address, vsock_address};
pub use crate::audit::{AuditLog, composite_record};
pub use crate::bringup::{
    Agent, Deps, DeviceCheck, EvidenceUnavailable, MAX_PERSISTENCED_RESTARTS, Outcome, StoredAppraisal, Supervision,
};
pub use crate::config::{
    Config, ConfigError, CpuTeeChoice, DEFAULT_RESCAN, DEFAULT_VSOCK_PORT, EarKey, KATA_AGENT_VSOCK_PORT, KeyError,
    MAX_CONFIG_FILE, MAX_RESCAN_S, Mode, OnFailure, ROOTFS_CONFIG_DIRS, RemoteConfig, Waits,
};
pub use crate::evidence::{EvidenceError, NonceError, bundle_evidence, collect_gpu_evidence, fresh_nonce};
pub use crate::gpu::nvml::{NVML_LIBRARY, NvmlBackend, NvmlGpus};
pub use crate::gpu::probe::{GpuProbe, Probe, ProbeAnswer, ProbedChain, ProbedReport, Timed, probe, timed};
pub use crate::gpu::{
    CcSettings, DirRims, GpuBackend, GpuError, GpuInfo, GpuManagement, MAX_RIM, NoRims, RimError, RimSource,
};
pub use crate::state::{AgentStatus, Failure, FailureReason, GpuRecord, GpuState, Phase, StatusBoard, micros};
pub use crate::system::{CommandError, HostPaths, HostSystem, SystemOps};
pub use crate::tee::{
    Configfs, ConfigfsTsm, CpuReport, CpuTee, CpuTeeDevice, INITIAL_CERTS_LEN, MAX_CERT_ENTRIES, MAX_CERTS_LEN, NoTee,
    RawExtReport, SEV_GUEST_DEVICE, SevGuest, SevGuestIoctl, SnpGuestDevice, TSM_REPORT_ROOT, TeeError, TeeKind,
    TsmEvidence, TsmFs, parse_cert_table,
};
pub use crate::verify::clock::{BUILD_TIME_UNIX, build_time_floor};
pub use crate::verify::{
    Decision, GpuDecision, LocalVerifier, RemoteError, RemoteVerifier, Verifier, VerifyError, local_verdict,
};

/// The ttrpc messages and service generated from `proto/guest_agent.proto` at build time (pure-Rust
/// parser, no `protoc`).
#[allow(
    warnings,
    missing_docs,
    unsafe_code,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless
)]
pub mod proto {
    /// Messages.
    pub mod guest_agent {
        include!(concat!(env!("OUT_DIR"), "/guest_agent.rs"));
    }
    /// The service trait, its registration and the client.
    pub mod guest_agent_ttrpc {
        include!(concat!(env!("OUT_DIR"), "/guest_agent_ttrpc.rs"));
    }
}

/// This agent's name and version, as written in logs, log records and the status.
#[cfg(not(feature = "sim"))]
pub const AGENT_VERSION: &str = concat!("ccgpu-guest-agent ", env!("CARGO_PKG_VERSION"));
/// This agent's name and version, as written in logs, log records and the status: `+sim` marks a build
/// with the simulation compiled in (tests, demo), which has no place in an image.
#[cfg(feature = "sim")]
pub const AGENT_VERSION: &str = concat!("ccgpu-guest-agent ", env!("CARGO_PKG_VERSION"), "+sim");
