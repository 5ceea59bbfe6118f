//! `--tamper`: what an attacker (or a broken part) could change between the GPU and the verifier, injected
//! into the SIMULATED guest — never into the agent or the verifier, which run unchanged and must catch it.
//!
//! Most cases use the simulation's own fault injection (`ccgpu_guest_agent::sim`). Two need a wrapper
//! around a seam of the agent: a counterfeit GPU ([`Counterfeit`], a GPU management backend whose
//! evidence is self-consistent but issued by another root) and a RIM store that serves a RIM whose XML
//! signature was broken in transit ([`BrokenRims`]).

use std::fmt;
use std::sync::Arc;

use ccgpu_attestation::{
    AttestationReport, CertChain, OpaqueType,
    sim::{DevicePki, Pki, ReportBuilder},
};
use ccgpu_guest_agent::sim::{GpuFault, SIM_CHIP, SimFleet, SnpFault};
use ccgpu_guest_agent::{CcSettings, Deps, GpuBackend, GpuError, GpuInfo, GpuManagement, RimError, RimSource};
use ccgpu_pci::PciAddress;
use clap::ValueEnum;

/// What to tamper with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tamper {
    /// One GPU runs other firmware: a measurement differs from the golden value in NVIDIA's signed RIM.
    Measurement,
    /// A counterfeit GPU: a consistent certificate chain and signed report, from a root that is not the
    /// trusted device root.
    ForeignRoot,
    /// One GPU's report is signed by a key that is not its attestation certificate's.
    ForgedSignature,
    /// One GPU answers with a report for another nonce (a replayed report).
    WrongNonce,
    /// The driver RIM's XML signature is broken (a golden value edited after NVIDIA signed it).
    RimSignature,
    /// The confidential VM's SEV-SNP policy allows debugging (the host could read guest memory).
    SnpDebug,
    /// The SEV-SNP report's REPORT_DATA does not bind these GPUs' evidence and nonce.
    SnpBinding,
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
        f.write_str(&name)
    }
}

impl Tamper {
    /// What was done, for the output.
    pub fn what(self) -> &'static str {
        match self {
            Self::Measurement => "one measurement of the last GPU differs from its RIM golden value (other firmware)",
            Self::ForeignRoot => "the last GPU is counterfeit: chain and report from a device root that is not trusted",
            Self::ForgedSignature => "the last GPU's report is signed by a key other than its attestation key",
            Self::WrongNonce => "the last GPU answers with a report for another nonce (a replay)",
            Self::RimSignature => "the driver RIM's XML-DSig signature value is altered (every GPU uses that RIM)",
            Self::SnpDebug => "the confidential VM was launched with the SEV-SNP debug policy bit set",
            Self::SnpBinding => "the SEV-SNP report carries REPORT_DATA that does not bind this nonce and evidence",
        }
    }

    /// The appraisal check that must fail.
    pub fn check(self) -> &'static str {
        match self {
            Self::Measurement => "measurements",
            Self::ForeignRoot => "device-chain",
            Self::ForgedSignature => "report-signature",
            Self::WrongNonce => "nonce",
            Self::RimSignature => "driver-rim-signature",
            Self::SnpDebug => "snp-guest-policy",
            Self::SnpBinding => "snp-report-data",
        }
    }

    /// Injects the fault into the simulated guest (`fleet`, whose seams `deps` holds), at `target` for
    /// the one-GPU cases.
    pub fn inject(self, fleet: &SimFleet, deps: &mut Deps, target: PciAddress) -> Result<(), String> {
        match self {
            Self::Measurement => fleet.gpus.inject(GpuFault::RimMismatch(Some(target))),
            Self::ForgedSignature => fleet.gpus.inject(GpuFault::ForeignKey(Some(target))),
            Self::WrongNonce => fleet.gpus.inject(GpuFault::WrongNonce(Some(target))),
            Self::SnpDebug => fleet.snp.inject(SnpFault::DebugPolicy),
            Self::SnpBinding => fleet.snp.inject(SnpFault::WrongReportData),
            Self::ForeignRoot => {
                let sample = fleet.gpus.attestation_report(target, &[0; 32]).map_err(|e| e.to_string())?;
                deps.gpu_backend = Arc::new(Counterfeit::with_fwid_of(&sample, target, deps.gpu_backend.clone())?);
            }
            Self::RimSignature => deps.rims = Arc::new(BrokenRims(deps.rims.clone())),
        }
        Ok(())
    }
}

/// A GPU backend whose GPU at `target` is counterfeit: it answers with the genuine report's content
/// re-signed by `pki` (whose attestation certificate carries the same FWID) and `pki`'s chain.
#[derive(Debug)]
pub struct Counterfeit {
    inner: Arc<dyn GpuBackend>,
    pki: Arc<Pki>,
    target: PciAddress,
}

impl GpuBackend for Counterfeit {
    fn open(&self) -> Result<Arc<dyn GpuManagement>, GpuError> {
        Ok(Arc::new(CounterfeitGpus { inner: self.inner.open()?, pki: self.pki.clone(), target: self.target }))
    }
}

#[derive(Debug)]
struct CounterfeitGpus {
    inner: Arc<dyn GpuManagement>,
    pki: Arc<Pki>,
    target: PciAddress,
}

fn forged(reason: String, gpu: PciAddress) -> GpuError {
    GpuError::Malformed { operation: "counterfeit report", gpu: Some(gpu), reason }
}

impl GpuManagement for CounterfeitGpus {
    fn gpus(&self) -> Result<Vec<PciAddress>, GpuError> {
        self.inner.gpus()
    }

    fn info(&self, gpu: PciAddress) -> Result<GpuInfo, GpuError> {
        self.inner.info(gpu)
    }

    fn cc_settings(&self, gpu: PciAddress) -> Result<CcSettings, GpuError> {
        self.inner.cc_settings(gpu)
    }

    fn attestation_report(&self, gpu: PciAddress, nonce: &[u8; 32]) -> Result<Vec<u8>, GpuError> {
        let genuine = self.inner.attestation_report(gpu, nonce)?;
        if gpu != self.target {
            return Ok(genuine);
        }
        let parsed = AttestationReport::parse(&genuine).map_err(|e| forged(e.to_string(), gpu))?;
        ReportBuilder::from_report(&parsed).sign(&self.pki).map_err(|e| forged(e.to_string(), gpu))
    }

    fn certificate_chain(&self, gpu: PciAddress) -> Result<CertChain, GpuError> {
        if gpu != self.target {
            return self.inner.certificate_chain(gpu);
        }
        Ok(self.pki.chain.clone())
    }

    fn ready(&self) -> Result<bool, GpuError> {
        self.inner.ready()
    }

    fn set_ready(&self, ready: bool) -> Result<(), GpuError> {
        self.inner.set_ready(ready)
    }
}

impl Counterfeit {
    /// A counterfeit of the GPU at `target` behind `inner`. Its chain carries the FWID of `report` (a
    /// genuine report of that GPU), so only the chain's root gives it away.
    pub fn with_fwid_of(report: &[u8], target: PciAddress, inner: Arc<dyn GpuBackend>) -> Result<Self, String> {
        let parsed = AttestationReport::parse(report).map_err(|e| e.to_string())?;
        let fwid = parsed
            .opaque()
            .entries
            .iter()
            .find(|e| e.data_type == OpaqueType::Fwid)
            .and_then(|e| <[u8; 48]>::try_from(e.value.as_slice()).ok())
            .ok_or("the report carries no 48-byte FWID")?;
        let pki = DevicePki::generate(SIM_CHIP, &fwid).map_err(|e| e.to_string())?;
        Ok(Self { inner, pki: Arc::new(pki), target })
    }
}

/// A RIM store whose driver RIMs come with their XML signature value altered (one base64 digit changed).
#[derive(Debug)]
pub struct BrokenRims(Arc<dyn RimSource>);

impl RimSource for BrokenRims {
    fn rim(&self, id: &str) -> Result<Option<Vec<u8>>, RimError> {
        let rim = self.0.rim(id)?;
        if !id.starts_with("NV_GPU_DRIVER_") {
            return Ok(rim);
        }
        Ok(rim.map(|mut xml| {
            let marker = b"SignatureValue>";
            if let Some(at) = xml.windows(marker.len()).position(|w| w == marker).map(|p| p + marker.len())
                && let Some(b) = xml.get_mut(at)
            {
                *b = if *b == b'A' { b'B' } else { b'A' };
            }
            xml
        }))
    }
}
