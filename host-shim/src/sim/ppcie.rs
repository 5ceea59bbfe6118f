//! [`SimPpcieMode`]: the simulated node's PPCIe-mode source, settable per device by tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use ccgpu_pci::{PciAddress, PciDevice};

use crate::names::DeviceKind;
use crate::ppcie::{PpcieMode, PpcieModeError, PpcieModeSource};

/// What the simulated register says: a mode (`None`: the model has none) or an unreadable device.
pub type SimReading = Result<Option<PpcieMode>, String>;

/// One answer for every device unless a test set another for an address.
#[derive(Debug, Default)]
pub struct SimPpcieMode {
    all: Mutex<Option<PpcieMode>>,
    by_address: Mutex<BTreeMap<PciAddress, SimReading>>,
}

impl SimPpcieMode {
    /// Every device answers `mode` (`None`: no PPCIe mode, as the default).
    pub fn all(mode: Option<PpcieMode>) -> Self {
        Self { all: Mutex::new(mode), by_address: Mutex::default() }
    }

    /// Sets every device's answer, forgetting per-address ones.
    pub fn set_all(&self, mode: Option<PpcieMode>) {
        *self.all.lock().unwrap_or_else(PoisonError::into_inner) = mode;
        self.by_address.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Sets the answer for the device at `address`.
    pub fn set(&self, address: PciAddress, reading: SimReading) {
        self.by_address.lock().unwrap_or_else(PoisonError::into_inner).insert(address, reading);
    }
}

impl PpcieModeSource for SimPpcieMode {
    fn ppcie_mode(&self, device: &PciDevice, _kind: DeviceKind) -> Result<Option<PpcieMode>, PpcieModeError> {
        let address = device.address;
        match self.by_address.lock().unwrap_or_else(PoisonError::into_inner).get(&address) {
            Some(Ok(mode)) => Ok(*mode),
            Some(Err(reason)) => Err(PpcieModeError::Unknown { address, reason: reason.clone() }),
            None => Ok(*self.all.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }
}
