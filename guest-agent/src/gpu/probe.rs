//! A read-only survey of what a [`GpuManagement`] backend answers: every question the agent asks during
//! bring-up except `set_ready`, each timed, each answer or error recorded as it came back.
//!
//! `ccgpu-guest-agent --probe` runs it on the real NVML backend (inside a VM, or on any host with the
//! NVIDIA driver) and the same function runs on the simulated GPUs, so the two can be compared value by
//! value and error by error. It changes nothing: no ready state, no CC mode, no driver action. The
//! evidence it collects (report, chain) is kept so it can be handed to `ccgpu verify gpu`; it is not
//! trusted here.

use std::time::Instant;

use ccgpu_pci::PciAddress;
use serde::Serialize;

use super::{GpuError, GpuManagement};

/// One timed call: how long it took and what it answered.
#[derive(Debug, Clone, Serialize)]
pub struct Timed<T> {
    /// Wall-clock duration of the call, in microseconds.
    pub micros: u64,
    /// The answer, or the error as the backend gave it.
    #[serde(flatten)]
    pub outcome: ProbeAnswer<T>,
}

/// A call's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeAnswer<T> {
    /// It answered.
    Ok(T),
    /// It failed.
    Error {
        /// The error chain, as the agent would log it.
        message: String,
        /// NVML's error name (`NotSupported`, `InsufficientPermissions`, …) when NVML refused.
        nvml: Option<String>,
    },
}

impl<T> Timed<T> {
    /// The answer, when there was one.
    pub fn ok(&self) -> Option<&T> {
        match &self.outcome {
            ProbeAnswer::Ok(v) => Some(v),
            ProbeAnswer::Error { .. } => None,
        }
    }
}

/// Runs `f`, timing it.
pub fn timed<T>(f: impl FnOnce() -> Result<T, GpuError>) -> Timed<T> {
    let start = Instant::now();
    let result = f();
    let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let outcome = match result {
        Ok(v) => ProbeAnswer::Ok(v),
        Err(e) => ProbeAnswer::Error { message: ccgpu_attestation::error_chain(&e), nvml: e.nvml_name() },
    };
    Timed { micros, outcome }
}

/// The evidence part of a probe: sizes and shapes, plus the bytes for offline verification.
#[derive(Debug, Clone, Serialize)]
pub struct ProbedReport {
    /// Bytes in the report.
    pub len: usize,
    /// The report, hex.
    pub hex: String,
}

/// The certificate chain as returned.
#[derive(Debug, Clone, Serialize)]
pub struct ProbedChain {
    /// Subjects, leaf first.
    pub subjects: Vec<String>,
    /// The chain, PEM.
    pub pem: String,
}

/// What one GPU answered.
#[derive(Debug, Clone, Serialize)]
pub struct GpuProbe {
    /// The GPU.
    pub address: PciAddress,
    /// `info`: UUID, driver and VBIOS versions.
    pub info: Timed<super::GpuInfo>,
    /// `cc_settings`: CC, dev-tools and PPCIe modes.
    pub cc_settings: Timed<super::CcSettings>,
    /// `attestation_report` for the probe's nonce.
    pub attestation_report: Timed<ProbedReport>,
    /// `certificate_chain`.
    pub certificate_chain: Timed<ProbedChain>,
}

/// The whole survey.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The nonce the reports were asked for, hex.
    pub nonce: String,
    /// `gpus`: every GPU the backend manages.
    pub gpus: Timed<Vec<PciAddress>>,
    /// `ready`: the system-wide CC ready state (read only).
    pub ready: Timed<bool>,
    /// Per GPU.
    pub per_gpu: Vec<GpuProbe>,
}

/// Asks `backend` every read-only question, for `nonce`. Never calls `set_ready`.
pub fn probe(backend: &dyn GpuManagement, nonce: &[u8; 32]) -> Probe {
    let gpus = timed(|| backend.gpus());
    let ready = timed(|| backend.ready());
    let per_gpu = gpus
        .ok()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|address| GpuProbe {
            address,
            info: timed(|| backend.info(address)),
            cc_settings: timed(|| backend.cc_settings(address)),
            attestation_report: timed(|| {
                backend.attestation_report(address, nonce).map(|r| ProbedReport { len: r.len(), hex: hex::encode(&r) })
            }),
            certificate_chain: timed(|| {
                backend.certificate_chain(address).map(|c| ProbedChain { subjects: c.subjects(), pem: c.to_pem() })
            }),
        })
        .collect();
    Probe { nonce: hex::encode(nonce), gpus, ready, per_gpu }
}
