//! The confidential-computing mode of a GPU, where it can be known.
//!
//! NVML answers only while the GPU is on the NVIDIA host driver; once it is on vfio-pci nothing on the
//! host can ask it. So the node layer reads it at discovery while it can, and remembers it (in memory and
//! in each claim's checkpoint record) for when it cannot. Host-side knowledge is advisory: the guest
//! verifies the mode from signed evidence and decides.

use std::fmt;
use std::sync::OnceLock;

use ccgpu_pci::PciDevice;
use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError;
use serde::{Deserialize, Serialize};

/// A GPU's (node-wide) confidential-computing mode, as NVIDIA's tools name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CcMode {
    /// CC off.
    Off,
    /// CC on.
    On,
    /// CC on in developer-tools mode (not for production: attestation flags it).
    Devtools,
    /// Multi-GPU protected PCIe (PPCIe): GPUs and NVSwitches together.
    Ppcie,
}

impl fmt::Display for CcMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CcMode::Off => "off",
            CcMode::On => "on",
            CcMode::Devtools => "devtools",
            CcMode::Ppcie => "ppcie",
        })
    }
}

/// A failed CC-mode query, with the function.
#[derive(Debug, thiserror::Error)]
#[error("querying CC mode of {address} through NVML")]
pub struct CcModeError {
    /// The function.
    pub address: ccgpu_pci::PciAddress,
    /// NVML's error.
    #[source]
    pub source: NvmlError,
}

/// Where CC modes come from.
pub trait CcModeSource: Send + Sync + fmt::Debug {
    /// The mode of `device`, asked only while it is on the NVIDIA host driver. `Ok(None)` when it cannot
    /// be known (no NVML on this node, a GPU without CC support).
    fn cc_mode(&self, device: &PciDevice) -> Result<Option<CcMode>, CcModeError>;
}

/// CC mode through NVML (`libnvidia-ml.so.1`, loaded on first use). A node without the library answers
/// "unknown" once, with a warning, not an error: VM-passthrough nodes often run no host driver at all.
#[derive(Default)]
pub struct NvmlCcMode {
    nvml: OnceLock<Option<Nvml>>,
}

impl fmt::Debug for NvmlCcMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NvmlCcMode").field("loaded", &self.nvml.get().map(Option::is_some)).finish()
    }
}

impl CcModeSource for NvmlCcMode {
    fn cc_mode(&self, device: &PciDevice) -> Result<Option<CcMode>, CcModeError> {
        let nvml = self.nvml.get_or_init(|| match Nvml::init() {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "NVML unavailable: CC modes of GPUs on the host driver are unknown");
                None
            }
        });
        let Some(nvml) = nvml else { return Ok(None) };
        let address = device.address;
        let err = |source| CcModeError { address, source };
        let gpu = nvml.device_by_pci_bus_id(address.to_string()).map_err(err)?;
        let supported = |r: Result<bool, NvmlError>| match r {
            Ok(v) => Ok(Some(v)),
            Err(NvmlError::NotSupported) => Ok(None),
            Err(e) => Err(err(e)),
        };
        let Some(enabled) = supported(gpu.is_cc_enabled())? else { return Ok(None) };
        if supported(gpu.is_multi_gpu_protected_pcie_enabled())? == Some(true) {
            return Ok(Some(CcMode::Ppcie));
        }
        if !enabled {
            return Ok(Some(CcMode::Off));
        }
        let devtools = supported(gpu.is_cc_dev_mode_enabled())? == Some(true);
        Ok(Some(if devtools { CcMode::Devtools } else { CcMode::On }))
    }
}
