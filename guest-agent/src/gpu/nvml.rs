//! [`NvmlGpus`]: the real [`GpuManagement`] over `nvml-wrapper`.
//!
//! `nvml-wrapper` opens `libnvidia-ml.so.1` with `dlopen` at run time, so this compiles and links without
//! the NVIDIA driver; on a machine without it, [`NvmlBackend::open`] fails with [`GpuError::Init`] naming
//! the library, and nothing else happens. (That is also why the agent is a dynamically linked service and
//! not a static PID 1.) The CC ready state and the CC settings are system-wide in NVML; `nvml-wrapper`
//! exposes them on a `Device`, so they are asked through the first device.

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use ccgpu_attestation::CertChain;
use ccgpu_pci::PciAddress;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{Device, Nvml};
use serde::Serialize;

use super::probe::{Timed, timed};
use super::{CcSettings, GpuBackend, GpuError, GpuInfo, GpuManagement};

/// The library `nvml-wrapper` loads when no path is given.
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

/// Opens NVML.
#[derive(Debug, Clone, Default)]
pub struct NvmlBackend {
    library: Option<PathBuf>,
}

impl NvmlBackend {
    /// NVML from an explicit library path instead of the loader's search path.
    pub fn with_library(path: impl Into<PathBuf>) -> Self {
        Self { library: Some(path.into()) }
    }

    /// Initialises NVML.
    pub fn open_nvml(&self) -> Result<NvmlGpus, GpuError> {
        let library = self.library.as_ref().map_or_else(|| NVML_LIBRARY.to_owned(), |p| p.display().to_string());
        let nvml = match &self.library {
            None => Nvml::init(),
            Some(p) => Nvml::builder().lib_path(OsStr::new(p.as_os_str())).init(),
        };
        nvml.map(|nvml| NvmlGpus { nvml }).map_err(|source| GpuError::Init { library, source })
    }
}

impl GpuBackend for NvmlBackend {
    fn open(&self) -> Result<Arc<dyn GpuManagement>, GpuError> {
        Ok(Arc::new(self.open_nvml()?))
    }
}

/// NVML, initialised.
pub struct NvmlGpus {
    nvml: Nvml,
}

impl fmt::Debug for NvmlGpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NvmlGpus").finish_non_exhaustive()
    }
}

fn nvml_err(operation: &'static str, gpu: Option<PciAddress>) -> impl FnOnce(NvmlError) -> GpuError {
    move |source| GpuError::Nvml { operation, gpu, source }
}

/// `buf[..size]`, refusing a size larger than the buffer.
fn truncated(operation: &'static str, gpu: PciAddress, mut buf: Vec<u8>, size: u32) -> Result<Vec<u8>, GpuError> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > buf.len() {
        return Err(GpuError::Malformed {
            operation,
            gpu: Some(gpu),
            reason: format!("size {size} exceeds the {}-byte buffer", buf.len()),
        });
    }
    buf.truncate(size);
    Ok(buf)
}

impl NvmlGpus {
    fn device(&self, gpu: PciAddress) -> Result<Device<'_>, GpuError> {
        match self.nvml.device_by_pci_bus_id(gpu.to_string()) {
            Ok(d) => Ok(d),
            Err(NvmlError::NotFound) => Err(GpuError::NotFound(gpu)),
            Err(e) => Err(nvml_err("device lookup", Some(gpu))(e)),
        }
    }

    fn first(&self) -> Result<Device<'_>, GpuError> {
        self.nvml.device_by_index(0).map_err(nvml_err("device 0 lookup", None))
    }

    /// The driver version (read-only; for the real-hardware check).
    pub fn driver_version(&self) -> Result<String, GpuError> {
        self.nvml.sys_driver_version().map_err(nvml_err("driver version", None))
    }

    /// What NVML says beyond the [`GpuManagement`] questions, for `--probe` (read-only, each call timed):
    /// identity (name, board id, PCI ids, serial, architecture), the system's CC capabilities and its
    /// combined CC status, and both certificate buffers NVML fills with their sizes.
    pub fn extras(&self, gpu: PciAddress) -> NvmlExtras {
        let device = || self.device(gpu);
        let ask = |op: &'static str| nvml_err(op, Some(gpu));
        NvmlExtras {
            nvml_version: timed(|| self.nvml.sys_nvml_version().map_err(ask("NVML version"))),
            cuda_driver_version: timed(|| self.nvml.sys_cuda_driver_version().map_err(ask("CUDA driver version"))),
            name: timed(|| device()?.name().map_err(ask("name"))),
            architecture: timed(|| device()?.architecture().map(|a| a.to_string()).map_err(ask("architecture"))),
            board_id: timed(|| device()?.board_id().map_err(ask("board id"))),
            board_part_number: timed(|| device()?.board_part_number().map_err(ask("board part number"))),
            serial: timed(|| device()?.serial().map_err(ask("serial"))),
            pci: timed(|| {
                device()?.pci_info().map_err(ask("PCI info")).map(|p| NvmlPci {
                    bus_id: p.bus_id,
                    pci_device_id: format!("0x{:08x}", p.pci_device_id),
                    pci_sub_system_id: p.pci_sub_system_id.map(|s| format!("0x{s:08x}")),
                })
            }),
            numa_node: timed(|| device()?.numa_node_id().map_err(ask("NUMA node"))),
            memory_total_bytes: timed(|| device()?.memory_info().map(|m| m.total).map_err(ask("memory info"))),
            cc_capabilities: timed(|| {
                device()?
                    .get_confidential_compute_capabilities()
                    .map(|c| format!("cpu {:?}, gpus {:?}", c.cpu_caps, c.gpus_caps))
                    .map_err(ask("CC capabilities"))
            }),
            cc_status_combined: timed(|| {
                device()?.check_confidential_compute_status().map_err(ask("CC status (enabled, production, ready)"))
            }),
            certificate_buffers: timed(|| {
                device()?.confidential_compute_gpu_certificate().map_err(ask("certificate")).map(|c| NvmlCertificates {
                    cert_chain_size: c.cert_chain_size,
                    attestation_cert_chain_size: c.attestation_cert_chain_size,
                    cert_chain_pem: String::from_utf8_lossy(&c.cert_chain).into_owned(),
                })
            }),
        }
    }
}

/// PCI identity as NVML reports it.
#[derive(Debug, Clone, Serialize)]
pub struct NvmlPci {
    /// NVML's bus id (`00000000:3B:00.0`: NVML's own 8-digit domain form).
    pub bus_id: String,
    /// Device id (high 16 bits) and vendor id (low 16 bits).
    pub pci_device_id: String,
    /// Subsystem id.
    pub pci_sub_system_id: Option<String>,
}

/// The two certificate buffers of `nvmlDeviceGetConfComputeGpuCertificate`.
#[derive(Debug, Clone, Serialize)]
pub struct NvmlCertificates {
    /// `certChainSize`: the device identity chain NVML also returns.
    pub cert_chain_size: u32,
    /// `attestationCertChainSize`: the chain the verifier uses.
    pub attestation_cert_chain_size: u32,
    /// The device identity chain, as text.
    pub cert_chain_pem: String,
}

/// [`NvmlGpus::extras`].
#[derive(Debug, Clone, Serialize)]
pub struct NvmlExtras {
    /// `nvmlSystemGetNVMLVersion`.
    pub nvml_version: Timed<String>,
    /// `nvmlSystemGetCudaDriverVersion`.
    pub cuda_driver_version: Timed<i32>,
    /// `nvmlDeviceGetName`.
    pub name: Timed<String>,
    /// `nvmlDeviceGetArchitecture`.
    pub architecture: Timed<String>,
    /// `nvmlDeviceGetBoardId`.
    pub board_id: Timed<u32>,
    /// `nvmlDeviceGetBoardPartNumber`.
    pub board_part_number: Timed<String>,
    /// `nvmlDeviceGetSerial`.
    pub serial: Timed<String>,
    /// `nvmlDeviceGetPciInfo`.
    pub pci: Timed<NvmlPci>,
    /// `nvmlDeviceGetNumaNodeId`.
    pub numa_node: Timed<u32>,
    /// `nvmlDeviceGetMemoryInfo` total.
    pub memory_total_bytes: Timed<u64>,
    /// `nvmlSystemGetConfComputeCapabilities`.
    pub cc_capabilities: Timed<String>,
    /// `nvmlSystemGetConfComputeState` + `nvmlSystemGetConfComputeGpusReadyState` combined by
    /// `nvml-wrapper` (CC on, production environment, accepting work).
    pub cc_status_combined: Timed<bool>,
    /// `nvmlDeviceGetConfComputeGpuCertificate`, both buffers.
    pub certificate_buffers: Timed<NvmlCertificates>,
}

impl GpuManagement for NvmlGpus {
    fn gpus(&self) -> Result<Vec<PciAddress>, GpuError> {
        let count = self.nvml.device_count().map_err(nvml_err("device count", None))?;
        let mut out = Vec::new();
        for i in 0..count {
            let info = self.nvml.device_by_index(i).and_then(|d| d.pci_info()).map_err(nvml_err("PCI info", None))?;
            let address = match (u8::try_from(info.bus), u8::try_from(info.device)) {
                (Ok(bus), Ok(device)) => PciAddress::new(info.domain, bus, device, 0),
                _ => None,
            };
            let address = address.ok_or_else(|| GpuError::Malformed {
                operation: "PCI info",
                gpu: None,
                reason: format!("device {i} reports bus id {:?}", info.bus_id),
            })?;
            out.push(address);
        }
        Ok(out)
    }

    fn info(&self, gpu: PciAddress) -> Result<GpuInfo, GpuError> {
        let d = self.device(gpu)?;
        Ok(GpuInfo {
            uuid: d.uuid().map_err(nvml_err("UUID", Some(gpu)))?,
            driver_version: self.nvml.sys_driver_version().map_err(nvml_err("driver version", Some(gpu)))?,
            vbios_version: d.vbios_version().map_err(nvml_err("VBIOS version", Some(gpu)))?,
        })
    }

    fn cc_settings(&self, gpu: PciAddress) -> Result<CcSettings, GpuError> {
        let d = self.device(gpu)?;
        Ok(CcSettings {
            cc_enabled: d.is_cc_enabled().map_err(nvml_err("CC mode", Some(gpu)))?,
            dev_tools: d.is_cc_dev_mode_enabled().map_err(nvml_err("CC dev-tools mode", Some(gpu)))?,
            protected_pcie: d
                .is_multi_gpu_protected_pcie_enabled()
                .map_err(nvml_err("protected PCIe mode", Some(gpu)))?,
        })
    }

    fn attestation_report(&self, gpu: PciAddress, nonce: &[u8; 32]) -> Result<Vec<u8>, GpuError> {
        const OP: &str = "attestation report";
        let r =
            self.device(gpu)?.confidential_compute_gpu_attestation_report(*nonce).map_err(nvml_err(OP, Some(gpu)))?;
        truncated(OP, gpu, r.attestation_report, r.attestation_report_size)
    }

    fn certificate_chain(&self, gpu: PciAddress) -> Result<CertChain, GpuError> {
        const OP: &str = "attestation certificate chain";
        let c = self.device(gpu)?.confidential_compute_gpu_certificate().map_err(nvml_err(OP, Some(gpu)))?;
        let pem = truncated(OP, gpu, c.attestation_cert_chain, c.attestation_cert_chain_size)?;
        CertChain::from_pem(&pem).map_err(|e| GpuError::Malformed {
            operation: OP,
            gpu: Some(gpu),
            reason: e.to_string(),
        })
    }

    fn ready(&self) -> Result<bool, GpuError> {
        self.first()?.get_confidential_compute_state().map_err(nvml_err("CC ready state", None))
    }

    fn set_ready(&self, ready: bool) -> Result<(), GpuError> {
        self.first()?.set_confidential_compute_state(ready).map_err(nvml_err("setting the CC ready state", None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let err = NvmlBackend::with_library("/nonexistent/libnvidia-ml.so.1").open().expect_err("no library");
        assert!(matches!(err, GpuError::Init { .. }));
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/libnvidia-ml.so.1") && text.contains("NVML could not be initialised"),
            "{text}"
        );
    }
}
