//! Collecting evidence: a fresh nonce, each GPU's report and chain for it (with the RIMs the report
//! names), and the CPU TEE report whose REPORT_DATA binds them all to this VM — assembled into the
//! bundle format `ccgpu verify bundle` reads ([`EvidenceBundle`]).
//!
//! Nothing is checked here beyond what is needed to assemble the bundle: every byte goes to the verifier
//! as the GPU returned it.

use ccgpu_attestation::{
    AttestationReport, CpuEvidence, EvidenceBundle, GpuBundleEvidence, implied_rim_ids, report_data,
};
use ccgpu_pci::PciAddress;
use thiserror::Error;

use crate::gpu::{GpuError, GpuManagement, RimError, RimSource};
use crate::tee::{CpuTee, TeeError};

/// No randomness for a nonce.
#[derive(Debug, Error)]
#[error("the CSPRNG failed to produce a nonce")]
pub struct NonceError;

/// A fresh 32-byte nonce from the operating system's CSPRNG (through aws-lc).
pub fn fresh_nonce() -> Result<[u8; 32], NonceError> {
    let mut nonce = [0u8; 32];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| NonceError)?;
    Ok(nonce)
}

/// Collecting one GPU's evidence failed.
#[derive(Debug, Error)]
pub enum EvidenceError {
    /// The driver did not give the report or chain.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A RIM file could not be read.
    #[error(transparent)]
    Rim(#[from] RimError),
}

/// One GPU's evidence for `nonce`: its report, its chain, and the RIMs the report names when `rims` has
/// them (the ids come from the report and chain, which are not yet trusted: a wrong id only finds no RIM,
/// or a RIM the verifier then refuses).
pub fn collect_gpu_evidence(
    gpus: &dyn GpuManagement,
    rims: &dyn RimSource,
    bdf: PciAddress,
    uuid: Option<&str>,
    nonce: &[u8; 32],
) -> Result<GpuBundleEvidence, EvidenceError> {
    let report = gpus.attestation_report(bdf, nonce)?;
    let chain = gpus.certificate_chain(bdf)?;
    let ids = AttestationReport::parse(&report).ok().and_then(|r| implied_rim_ids(&r, &chain));
    let (mut driver_rim, mut vbios_rim) = (None, None);
    if let Some(ids) = ids {
        if let Some(id) = &ids.driver {
            driver_rim = rims.rim(id)?;
        }
        if let Some(id) = &ids.vbios {
            vbios_rim = rims.rim(id)?;
        }
    }
    Ok(GpuBundleEvidence {
        uuid: uuid.map(str::to_owned),
        bdf: Some(bdf.to_string()),
        report,
        chain,
        driver_rim,
        vbios_rim,
        ocsp: Vec::new(),
    })
}

/// The CPU TEE report binding `gpus` (in bundle order) and `nonce`, or `None` without a TEE device.
pub fn bind_cpu(
    tee: &dyn CpuTee,
    nonce: &[u8; 32],
    gpus: &[GpuBundleEvidence],
) -> Result<Option<CpuEvidence>, TeeError> {
    if !tee.present() {
        return Ok(None);
    }
    let digests: Vec<[u8; 48]> = gpus.iter().map(GpuBundleEvidence::digest).collect();
    let r = tee.report(&report_data(nonce, &digests))?;
    Ok(Some(CpuEvidence { report: r.report, vek: r.vek, ask_ark: r.ask_ark }))
}

/// A bundle of `gpus`' evidence for `nonce`, bound to this VM when it has a CPU TEE.
pub fn bundle_evidence(
    nonce: [u8; 32],
    gpus: Vec<GpuBundleEvidence>,
    tee: &dyn CpuTee,
) -> Result<EvidenceBundle, TeeError> {
    let cpu = bind_cpu(tee, &nonce, &gpus)?;
    Ok(EvidenceBundle { nonce, cpu, gpus })
}
