//! Pre-flight attestation (advisory): before a GPU is offered to the scheduler, while it is still on the
//! NVIDIA host driver, ask it for attestation evidence with a fresh nonce and run the verifier
//! (`ccgpu-attestation`) on it. A GPU whose evidence fails is published with a `NoSchedule` device
//! taint naming the failing check (see [`crate::publish::slices`]), so pods are not scheduled onto it.
//!
//! What this is not: the trust decision. The host is untrusted in the CC threat model; the guest agent
//! attests every GPU again inside the confidential VM and decides there. Pre-flight only keeps GPUs that
//! are visibly broken or not genuine (bad chain, bad signature, stale nonce, FWID mismatch) out of the
//! schedule. The host checks the evidence itself — report, device certificate chain to the pinned NVIDIA
//! root, signature, nonce, FWID — but not the RIM measurements: RIMs come from NVIDIA's RIM service,
//! which a node need not reach; revocation (OCSP) is not checked here either.
//!
//! Evidence comes through [`EvidenceSource`]: [`NvmlEvidence`] over `nvml-wrapper` (which loads
//! `libnvidia-ml.so.1` at run time; a node without it just skips pre-flight), or `crate::sim::SimEvidence`
//! (feature `sim`, not in production builds), which signs reports with a simulated device PKI — used only
//! by `--simulate`, where the simulated root is passed explicitly as the trust anchor.

use std::fmt;
use std::sync::{Arc, OnceLock};

use ccgpu_attestation::{
    Anchors, CertChain, GpuAppraise, GpuCheck, GpuEvidence, Policy, Revocation, VerifierCache, appraise_gpu,
};
use ccgpu_pci::{PciAddress, PciDevice};
use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError;
use time::OffsetDateTime;

use crate::plugin::PreflightCheck;
use crate::publish::Preflight;

/// The checks pre-flight acts on: those about the evidence itself, not about RIMs or revocation.
pub const EVIDENCE_CHECKS: [GpuCheck; 6] = [
    GpuCheck::ReportParsed,
    GpuCheck::Arch,
    GpuCheck::DeviceChain,
    GpuCheck::Fwid,
    GpuCheck::ReportSignature,
    GpuCheck::Nonce,
];

/// One GPU's evidence as collected.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The attestation report as received.
    pub report: Vec<u8>,
    /// The device certificate chain, leaf first.
    pub chain: CertChain,
}

/// Collecting evidence failed.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// NVML refused.
    #[error("collecting evidence from {address} through NVML")]
    Nvml {
        /// The GPU.
        address: PciAddress,
        /// NVML's error.
        #[source]
        source: NvmlError,
    },
    /// The certificate chain did not parse.
    #[error("certificate chain of {address}: {message}")]
    Chain {
        /// The GPU.
        address: PciAddress,
        /// Why.
        message: String,
    },
    /// The evidence source failed otherwise (a simulated source that could not sign, say).
    #[error("evidence source for {address}: {message}")]
    Source {
        /// The GPU.
        address: PciAddress,
        /// Why.
        message: String,
    },
}

/// Why a GPU gave no evidence to verify, which is not a failure: pre-flight is skipped for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skipped {
    /// NVML cannot be loaded on this node (VM-passthrough nodes often run no host driver).
    NoNvml,
    /// CC mode is off: the GPU attests only in CC mode.
    CcOff,
    /// The GPU or driver does not support CC queries (not CC-capable).
    NotSupported,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skipped::NoNvml => "NVML unavailable on this node",
            Skipped::CcOff => "CC mode off",
            Skipped::NotSupported => "CC queries not supported by this GPU or driver",
        })
    }
}

/// Where evidence of a GPU still on the NVIDIA host driver comes from.
pub trait EvidenceSource: Send + Sync + fmt::Debug {
    /// The evidence of `device` for `nonce`, or why it has none to give here.
    fn collect(&self, device: &PciDevice, nonce: &[u8; 32]) -> Result<Result<Evidence, Skipped>, EvidenceError>;
}

/// Evidence through NVML.
#[derive(Default)]
pub struct NvmlEvidence {
    nvml: OnceLock<Option<Nvml>>,
}

impl fmt::Debug for NvmlEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NvmlEvidence").field("loaded", &self.nvml.get().map(Option::is_some)).finish()
    }
}

impl EvidenceSource for NvmlEvidence {
    fn collect(&self, device: &PciDevice, nonce: &[u8; 32]) -> Result<Result<Evidence, Skipped>, EvidenceError> {
        let nvml = self.nvml.get_or_init(|| match Nvml::init() {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "NVML unavailable: pre-flight attestation skipped on this node");
                None
            }
        });
        let Some(nvml) = nvml else { return Ok(Err(Skipped::NoNvml)) };
        let address = device.address;
        let err = |source| EvidenceError::Nvml { address, source };
        let gpu = nvml.device_by_pci_bus_id(address.to_string()).map_err(err)?;
        match gpu.is_cc_enabled() {
            Ok(true) => {}
            Ok(false) => return Ok(Err(Skipped::CcOff)),
            Err(NvmlError::NotSupported) => return Ok(Err(Skipped::NotSupported)),
            Err(e) => return Err(err(e)),
        }
        let report = gpu.confidential_compute_gpu_attestation_report(*nonce).map_err(err)?;
        let size = usize::try_from(report.attestation_report_size).unwrap_or(usize::MAX);
        let mut bytes = report.attestation_report;
        bytes.truncate(size);
        let certs = gpu.confidential_compute_gpu_certificate().map_err(err)?;
        let size = usize::try_from(certs.attestation_cert_chain_size).unwrap_or(usize::MAX);
        let mut pem = certs.attestation_cert_chain;
        pem.truncate(size);
        let chain = CertChain::from_pem(&pem).map_err(|e| EvidenceError::Chain { address, message: e.to_string() })?;
        Ok(Ok(Evidence { report: bytes, chain }))
    }
}

/// Simulated GPUs' evidence: reports signed by a simulated device PKI (the real formats, so the real
/// verifier runs on them). GPUs listed as tampered answer with a corrupted signature.
/// Pre-flight attestation: an evidence source and the anchors to verify against.
pub struct Attestor {
    source: Arc<dyn EvidenceSource>,
    anchors: Anchors,
    policy: Policy,
    cache: VerifierCache,
}

impl fmt::Debug for Attestor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attestor").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Attestor {
    /// Pre-flight over `source`, trusting `anchors`.
    pub fn new(source: Arc<dyn EvidenceSource>, anchors: Anchors) -> Self {
        Self { source, anchors, policy: Policy::default(), cache: VerifierCache::new() }
    }
}

fn fresh_nonce() -> Option<[u8; 32]> {
    let mut nonce = [0u8; 32];
    aws_lc_rs::rand::fill(&mut nonce).ok()?;
    Some(nonce)
}

/// One pre-flight attestation in detail, for `ccgpu-node preflight` and the logs.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum PreflightRun {
    /// The evidence checks passed.
    Passed {
        /// Microseconds spent collecting the evidence.
        collect_micros: u64,
        /// Microseconds spent verifying it.
        verify_micros: u64,
    },
    /// At least one evidence check failed.
    Failed {
        /// The failing evidence checks, in check order.
        checks: Vec<&'static str>,
        /// Microseconds spent collecting the evidence.
        collect_micros: u64,
        /// Microseconds spent verifying it.
        verify_micros: u64,
    },
    /// No evidence to check here (not a failure).
    Skipped {
        /// Why.
        reason: Skipped,
    },
    /// Collecting the evidence failed (logged; not a verdict).
    Error {
        /// The error chain.
        message: String,
    },
}

impl PreflightRun {
    /// What the publisher acts on: `None` when there is no verdict.
    pub fn verdict(&self) -> Option<Preflight> {
        match self {
            PreflightRun::Passed { .. } => Some(Preflight::Passed),
            PreflightRun::Failed { checks, .. } => checks.first().map(|c| Preflight::Failed((*c).to_owned())),
            PreflightRun::Skipped { .. } | PreflightRun::Error { .. } => None,
        }
    }
}

fn micros(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Attestor {
    /// Collects `device`'s evidence for a fresh nonce and runs the evidence checks on it.
    pub fn attest(&self, device: &PciDevice) -> PreflightRun {
        let address = device.address;
        let Some(nonce) = fresh_nonce() else {
            return PreflightRun::Error { message: "no randomness for a nonce".to_owned() };
        };
        let started = std::time::Instant::now();
        let evidence = match self.source.collect(device, &nonce) {
            Ok(Ok(e)) => e,
            Ok(Err(reason)) => return PreflightRun::Skipped { reason },
            Err(e) => return PreflightRun::Error { message: crate::error_chain(&e) },
        };
        let collect_micros = micros(started);
        let started = std::time::Instant::now();
        let appraisal = appraise_gpu(
            &GpuEvidence { report: &evidence.report, chain: &evidence.chain, driver_rim: None, vbios_rim: None },
            &GpuAppraise {
                nonce: &nonce,
                at: OffsetDateTime::now_utc(),
                anchors: &self.anchors,
                policy: &self.policy,
                revocation: Revocation::NotChecked,
                cache: Some(&self.cache),
            },
        );
        let checks: Vec<&'static str> =
            appraisal.checks.failures().into_iter().filter(|c| EVIDENCE_CHECKS.contains(c)).map(|c| c.name()).collect();
        let verify_micros = micros(started);
        if checks.is_empty() {
            PreflightRun::Passed { collect_micros, verify_micros }
        } else {
            tracing::debug!(bdf = %address, failed = ?checks, "pre-flight evidence checks failed");
            PreflightRun::Failed { checks, collect_micros, verify_micros }
        }
    }
}

impl PreflightCheck for Attestor {
    fn check(&self, device: &PciDevice) -> Option<Preflight> {
        let address = device.address;
        let run = self.attest(device);
        match &run {
            PreflightRun::Failed { checks, .. } => {
                tracing::warn!(bdf = %address, failed = ?checks, "pre-flight attestation failed");
            }
            PreflightRun::Error { message } => {
                tracing::warn!(bdf = %address, error = %message, "pre-flight: no evidence")
            }
            PreflightRun::Skipped { reason } => tracing::debug!(bdf = %address, %reason, "pre-flight skipped"),
            PreflightRun::Passed { .. } => {}
        }
        run.verdict()
    }
}

/// Pre-flight for real GPUs: NVML evidence, NVIDIA's pinned roots.
pub fn nvml() -> Arc<dyn PreflightCheck> {
    Arc::new(nvml_attestor())
}

/// The attestor behind [`nvml`], for callers that want the detail ([`Attestor::attest`]).
pub fn nvml_attestor() -> Attestor {
    Attestor::new(Arc::new(NvmlEvidence::default()), Anchors::nvidia())
}
