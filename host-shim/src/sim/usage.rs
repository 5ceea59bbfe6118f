//! [`SimUsage`]: simulated processes holding GPUs open, set by tests (none in `--simulate` mode).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ccgpu_pci::{PciAddress, PciDevice};

use crate::usage::{DeviceUsage, Holder, UsageError};

/// Simulated holders, set by tests (and empty in `--simulate` mode).
#[derive(Debug, Default)]
pub struct SimUsage {
    holders: Mutex<HashMap<PciAddress, (Vec<Holder>, u32)>>,
}

impl SimUsage {
    /// `holders` keep `address` open for the next `polls` checks (`u32::MAX`: until cleared).
    pub fn hold(&self, address: PciAddress, holders: Vec<Holder>, polls: u32) {
        self.holders.lock().unwrap_or_else(PoisonError::into_inner).insert(address, (holders, polls));
    }
}

impl SimUsage {
    /// Every simulated holder closes its handles.
    pub fn release_all(&self) {
        self.holders.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

impl DeviceUsage for SimUsage {
    fn holders(&self, device: &PciDevice) -> Result<Vec<Holder>, UsageError> {
        let mut map = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((holders, polls)) = map.get_mut(&device.address) else { return Ok(Vec::new()) };
        if *polls == 0 {
            map.remove(&device.address);
            return Ok(Vec::new());
        }
        *polls = polls.saturating_sub(1);
        Ok(holders.clone())
    }
}
