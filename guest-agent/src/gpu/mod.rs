//! The GPU management seam: what the agent asks the driver, behind [`GpuManagement`].
//!
//! Real: [`nvml::NvmlGpus`] over `nvml-wrapper`, which loads `libnvidia-ml.so.1` at run time (a missing
//! library is a clear error, not a crash). Simulated: `crate::sim::SimGpus`, a GPU model with its own
//! device PKI. The CC ready state is **system-wide** in NVML: one switch for every GPU in the VM, which is
//! why the agent sets it only when every GPU has verified.
//!
//! Also here: where RIMs come from ([`RimSource`]): a directory on the measured root file system, named by
//! RIM id ([`DirRims`]). Nothing read here is trusted: reports, chains and RIMs all go to the verifier.

pub mod nvml;
pub mod probe;

use std::fmt;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use ccgpu_attestation::{CertChain, rim_file_candidates};
use ccgpu_pci::PciAddress;
use nvml_wrapper::error::NvmlError;
use serde::Serialize;
use thiserror::Error;

/// Largest RIM read from disk.
pub const MAX_RIM: u64 = 2 * 1024 * 1024;

/// A GPU's confidential-computing settings as the driver reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CcSettings {
    /// CC mode on.
    pub cc_enabled: bool,
    /// CC dev-tools mode on (debugging possible: never released unless the policy says so).
    pub dev_tools: bool,
    /// Multi-GPU protected PCIe (PPCIe) mode on.
    pub protected_pcie: bool,
}

/// Who a GPU says it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GpuInfo {
    /// `GPU-…`.
    pub uuid: String,
    /// Driver version (system-wide).
    pub driver_version: String,
    /// VBIOS version.
    pub vbios_version: String,
}

/// A failed question to the driver.
#[derive(Debug, Error)]
pub enum GpuError {
    /// The NVML library could not be loaded or initialised.
    #[error(
        "NVML could not be initialised from {library} (the NVIDIA user-space driver library must be installed \
         and the kernel driver loaded)"
    )]
    Init {
        /// The library name or path tried.
        library: String,
        /// NVML's error.
        #[source]
        source: NvmlError,
    },
    /// An NVML call failed.
    #[error("NVML {operation}{}", at(*gpu))]
    Nvml {
        /// What was asked.
        operation: &'static str,
        /// The GPU, when the call was about one.
        gpu: Option<PciAddress>,
        /// NVML's error.
        #[source]
        source: NvmlError,
    },
    /// NVML does not manage a GPU at this address.
    #[error("NVML does not list a GPU at {0}")]
    NotFound(PciAddress),
    /// The driver answered with something unusable.
    #[error("{operation}{}: {reason}", at(*gpu))]
    Malformed {
        /// What was asked.
        operation: &'static str,
        /// The GPU.
        gpu: Option<PciAddress>,
        /// What is wrong.
        reason: String,
    },
}

impl GpuError {
    /// NVML's own name for the error (`NotSupported`, `GpuLost`, …), when NVML refused.
    pub fn nvml_name(&self) -> Option<String> {
        match self {
            GpuError::Init { source, .. } | GpuError::Nvml { source, .. } => Some(nvml_error_name(source)),
            GpuError::NotFound(_) | GpuError::Malformed { .. } => None,
        }
    }
}

/// The variant name of an NVML error, without the payload some variants carry.
fn nvml_error_name(e: &NvmlError) -> String {
    let debug = format!("{e:?}");
    debug.split(['(', ' ', '{']).next().unwrap_or_default().to_owned()
}

fn at(gpu: Option<PciAddress>) -> String {
    gpu.map(|g| format!(" for {g}")).unwrap_or_default()
}

/// What the agent asks of the GPU driver.
pub trait GpuManagement: Send + Sync + fmt::Debug {
    /// Every GPU the driver manages.
    fn gpus(&self) -> Result<Vec<PciAddress>, GpuError>;
    /// UUID and versions.
    fn info(&self, gpu: PciAddress) -> Result<GpuInfo, GpuError>;
    /// CC, dev-tools and PPCIe modes.
    fn cc_settings(&self, gpu: PciAddress) -> Result<CcSettings, GpuError>;
    /// The SPDM attestation report for `nonce`, exactly as the GPU returned it.
    fn attestation_report(&self, gpu: PciAddress, nonce: &[u8; 32]) -> Result<Vec<u8>, GpuError>;
    /// The attestation certificate chain, attestation certificate first.
    fn certificate_chain(&self, gpu: PciAddress) -> Result<CertChain, GpuError>;
    /// The system-wide CC ready state.
    fn ready(&self) -> Result<bool, GpuError>;
    /// Sets the system-wide CC ready state.
    fn set_ready(&self, ready: bool) -> Result<(), GpuError>;
}

/// Opens the GPU management backend once the driver is loaded (NVML cannot initialise before).
pub trait GpuBackend: Send + Sync + fmt::Debug {
    /// Opens it.
    fn open(&self) -> Result<Arc<dyn GpuManagement>, GpuError>;
}

/// A failed RIM lookup.
#[derive(Debug, Error)]
#[error("reading RIM {path}")]
pub struct RimError {
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// Where RIMs come from.
pub trait RimSource: Send + Sync + fmt::Debug {
    /// The RIM with this id, if available.
    fn rim(&self, id: &str) -> Result<Option<Vec<u8>>, RimError>;
}

/// No RIMs (remote mode without RIMs: the relying party fetches them).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRims;

impl RimSource for NoRims {
    fn rim(&self, _id: &str) -> Result<Option<Vec<u8>>, RimError> {
        Ok(None)
    }
}

/// RIMs in a directory, each under its RIM id (optionally with `.xml` or `.swidtag`).
#[derive(Debug, Clone)]
pub struct DirRims {
    dir: PathBuf,
}

impl DirRims {
    /// RIMs under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl RimSource for DirRims {
    fn rim(&self, id: &str) -> Result<Option<Vec<u8>>, RimError> {
        // Ids come from the report's opaque data, restricted by the SPDM parser to identifier characters;
        // refuse anything else rather than build a path from it.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-') {
            return Ok(None);
        }
        for name in rim_file_candidates(id) {
            let path = self.dir.join(name);
            match fs::metadata(&path) {
                Ok(m) if m.len() > MAX_RIM => {
                    return Err(RimError { path, source: io::Error::other(format!("larger than {MAX_RIM} bytes")) });
                }
                Ok(_) => return fs::read(&path).map(Some).map_err(|source| RimError { path, source }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(RimError { path, source }),
            }
        }
        Ok(None)
    }
}
