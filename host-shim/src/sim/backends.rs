//! The simulated machine a node layer can run on: [`Backends::simulated`].

use std::sync::Arc;

use ccgpu_pci::sim::SimBus;

use super::{FixedCcMode, SimHealth, SimPpcieMode, SimUsage, SimVfio};
use crate::backends::Backends;
use crate::ccmode::CcMode;

impl Backends {
    /// A simulated machine: `bus`, VFIO judged by the kernel's viability rule on it, `usage` for open
    /// handles, one fixed CC mode for every GPU, no PPCIe mode on any device (a test that needs one
    /// puts a [`SimPpcieMode`] in `ppcie`), and device health from the bus ([`SimHealth`]; a test
    /// that injects health faults puts its own in `health`).
    pub fn simulated(bus: Arc<SimBus>, usage: Arc<SimUsage>, cc_mode: Option<CcMode>) -> Self {
        Self {
            vfio: Arc::new(SimVfio::new(bus.clone())),
            health: Arc::new(SimHealth::new(bus.clone())),
            bus,
            usage,
            cc: Arc::new(FixedCcMode(cc_mode)),
            ppcie: Arc::new(SimPpcieMode::default()),
        }
    }
}
