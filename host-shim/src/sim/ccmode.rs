//! [`FixedCcMode`]: the simulated node's CC-mode source.

use ccgpu_pci::PciDevice;

use crate::ccmode::{CcMode, CcModeError, CcModeSource};

/// A fixed answer for every GPU (`None` = unknown).
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedCcMode(pub Option<CcMode>);

impl CcModeSource for FixedCcMode {
    fn cc_mode(&self, _device: &PciDevice) -> Result<Option<CcMode>, CcModeError> {
        Ok(self.0)
    }
}
