//! The set of side-effect implementations a node runs on: the real machine, or an explicit simulation.
//!
//! [`Backends::real`] is what a node runs in production: sysfs (device health included), VFIO ioctls,
//! `/proc` scans, NVML and BAR0 reads of the PPCIe state, all under the configured roots. `Backends::simulated` (feature `sim`, in `crate::sim`) is the kernel-like
//! model of `ccgpu-pci` with simulated VFIO and usage; it is chosen only by a caller that asks for it
//! (tests, benchmarks, the plugin's `--simulate` flag), and production builds do not contain it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccgpu_pci::{PciBus, SysfsBus};

use crate::ccmode::{CcModeSource, NvmlCcMode};
use crate::config::NodePaths;
use crate::health::{HealthSource, SysfsHealth};
use crate::ppcie::{Bar0PpcieMode, PpcieModeSource};
use crate::usage::{DeviceUsage, ProcUsage};
use crate::vfio::{KernelVfio, VfioAccess};

/// Everything that touches the machine.
#[derive(Debug, Clone)]
pub struct Backends {
    /// The PCI driver core.
    pub bus: Arc<dyn PciBus>,
    /// VFIO opens.
    pub vfio: Arc<dyn VfioAccess>,
    /// Open-handle checks.
    pub usage: Arc<dyn DeviceUsage>,
    /// CC-mode queries.
    pub cc: Arc<dyn CcModeSource>,
    /// PPCIe-mode reads (GPUs and NVSwitches, with or without a driver).
    pub ppcie: Arc<dyn PpcieModeSource>,
    /// Device health facts (presence, driver, AER counters).
    pub health: Arc<dyn HealthSource>,
}

impl Backends {
    /// The real machine under `paths`.
    pub fn real(paths: &NodePaths) -> Self {
        Self {
            bus: Arc::new(SysfsBus::new(&paths.sysfs)),
            vfio: Arc::new(KernelVfio::new(&paths.dev)),
            usage: Arc::new(ProcUsage::new(&paths.proc)),
            cc: Arc::new(NvmlCcMode::default()),
            ppcie: Arc::new(Bar0PpcieMode::new(&paths.sysfs)),
            health: Arc::new(SysfsHealth::new(&paths.sysfs)),
        }
    }
}

/// Could not read the boot id.
#[derive(Debug, thiserror::Error)]
#[error("reading the boot id from {path}")]
pub struct BootIdError {
    /// The file.
    pub path: PathBuf,
    /// OS error.
    #[source]
    pub source: io::Error,
}

/// The kernel's boot id (`<proc>/sys/kernel/random/boot_id`), which changes on every boot.
pub fn read_boot_id(proc_root: &Path) -> Result<String, BootIdError> {
    let path = proc_root.join("sys/kernel/random/boot_id");
    let text = fs::read_to_string(&path).map_err(|source| BootIdError { path: path.clone(), source })?;
    let id = text.trim();
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(BootIdError { path, source: io::Error::new(io::ErrorKind::InvalidData, "not a boot id") });
    }
    Ok(id.to_owned())
}
