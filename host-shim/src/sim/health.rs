//! [`SimHealth`]: device health facts of the simulated machine — presence and driver from the simulated
//! bus, fatal AER counts and unreadable sources set by tests.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ccgpu_pci::sim::SimBus;
use ccgpu_pci::{PciAddress, PciBus, PciError};

use crate::health::{HealthReadError, HealthSource, Observation};

#[derive(Debug, Default)]
struct Faults {
    fatal_aer: BTreeMap<PciAddress, u64>,
    unreadable: BTreeSet<PciAddress>,
}

/// The simulated machine's health source.
#[derive(Debug)]
pub struct SimHealth {
    bus: Arc<SimBus>,
    faults: Mutex<Faults>,
}

impl SimHealth {
    /// Health of the functions on `bus`: all readable, no AER errors.
    pub fn new(bus: Arc<SimBus>) -> Self {
        Self { bus, faults: Mutex::new(Faults::default()) }
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kernel counts `count` fatal AER errors for `address`.
    pub fn set_fatal_aer(&self, address: PciAddress, count: u64) {
        self.faults().fatal_aer.insert(address, count);
    }

    /// Reading the health of `address` fails (EIO) while `unreadable`.
    pub fn set_unreadable(&self, address: PciAddress, unreadable: bool) {
        let mut f = self.faults();
        if unreadable {
            f.unreadable.insert(address);
        } else {
            f.unreadable.remove(&address);
        }
    }
}

impl HealthSource for SimHealth {
    fn observe(&self, address: PciAddress) -> Result<Observation, HealthReadError> {
        let path = || PathBuf::from(format!("<simulated sysfs>/bus/pci/devices/{address}"));
        let (fatal_aer, unreadable) = {
            let f = self.faults();
            (f.fatal_aer.get(&address).copied().unwrap_or(0), f.unreadable.contains(&address))
        };
        if unreadable {
            return Err(HealthReadError { address, path: path(), source: io::Error::from_raw_os_error(libc::EIO) });
        }
        match self.bus.driver(address) {
            Ok(driver) => Ok(Observation::Present { driver, fatal_aer }),
            Err(PciError::NoSuchDevice { .. }) => Ok(Observation::Gone),
            Err(e) => Err(HealthReadError { address, path: path(), source: io::Error::other(e.to_string()) }),
        }
    }
}
