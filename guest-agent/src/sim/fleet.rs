//! [`SimFleet`]: a whole simulated guest — `n` GPUs on a simulated PCI bus that bind to `nvidia` when the
//! simulated `modprobe` loads it, the simulated NVML over them, a simulated SEV-SNP device — assembled
//! into the agent's [`Deps`].

use std::sync::Arc;

use ccgpu_attestation::{Policy, sim::SimError};
use ccgpu_pci::ids::{CLASS_3D_CONTROLLER, NVIDIA_VENDOR};
use ccgpu_pci::sim::{IdMatch, SimBus, SimFunction};
use ccgpu_pci::{PciAddress, PciBus};

use super::{SimGpuBackend, SimGpuModel, SimGpus, SimSnp, SimSnpPki, SimSystem};
use crate::audit::AuditLog;
use crate::bringup::Deps;
use crate::verify::{LocalVerifier, Verifier};

/// The simulated PKIs (GPU device and RIM roots, AMD roots): expensive to generate, shared by fleets.
#[derive(Debug, Clone)]
pub struct SimPkis {
    /// The GPU model.
    pub gpu: Arc<SimGpuModel>,
    /// The AMD PKI.
    pub snp: Arc<SimSnpPki>,
}

impl SimPkis {
    /// Fresh PKIs.
    pub fn generate() -> Result<Self, SimError> {
        Ok(Self { gpu: Arc::new(SimGpuModel::generate()?), snp: Arc::new(SimSnpPki::generate()?) })
    }
}

/// A simulated guest.
#[derive(Debug, Clone)]
pub struct SimFleet {
    /// The PKIs.
    pub pkis: SimPkis,
    /// The PCI bus.
    pub bus: Arc<SimBus>,
    /// The system.
    pub system: Arc<SimSystem>,
    /// The GPUs.
    pub gpus: Arc<SimGpus>,
    /// The SEV-SNP device.
    pub snp: Arc<SimSnp>,
    /// The GPUs' addresses.
    pub addresses: Vec<PciAddress>,
}

impl SimFleet {
    /// `gpus` H200s (`10de:2335`, class `0x030200`) at `0000:(02+i):00.0`, unbound, beside a virtio NIC.
    pub fn new(pkis: SimPkis, gpus: u8) -> Self {
        let bus = Arc::new(SimBus::new());
        let mut addresses = Vec::new();
        for i in 0..gpus {
            if let Some(a) = PciAddress::new(0, 2u8.wrapping_add(i), 0, 0) {
                bus.add_function(SimFunction::new(a, NVIDIA_VENDOR, 0x2335, 0x030200));
                addresses.push(a);
            }
        }
        if let Some(nic) = PciAddress::new(0, 0, 3, 0) {
            bus.add_function(SimFunction::new(nic, 0x1af4, 0x1041, 0x020000));
        }
        let hook_bus = Arc::clone(&bus);
        let system = Arc::new(SimSystem::new(move || {
            hook_bus.register_driver("nvidia", &[IdMatch::vendor_class(NVIDIA_VENDOR, CLASS_3D_CONTROLLER)]);
            hook_bus.probe_all();
        }));
        let sim_gpus = Arc::new(SimGpus::new(Arc::clone(&pkis.gpu), &addresses));
        let snp = Arc::new(SimSnp::new(Arc::clone(&pkis.snp)));
        Self { pkis, bus, system, gpus: sim_gpus, snp, addresses }
    }

    /// A local verifier that trusts this simulation's roots (and only them).
    pub fn local_verifier(&self, policy: Policy) -> Result<LocalVerifier, SimError> {
        Ok(LocalVerifier::with_roots(self.pkis.gpu.anchors(), self.pkis.snp.roots()?, policy))
    }

    /// The agent's seams over this simulation.
    pub fn deps(&self, verifier: Arc<dyn Verifier>, log: Arc<AuditLog>) -> Deps {
        Deps {
            bus: Arc::clone(&self.bus) as Arc<dyn PciBus>,
            system: self.system.clone(),
            gpu_backend: Arc::new(SimGpuBackend(Arc::clone(&self.gpus))),
            tee: self.snp.clone(),
            rims: Arc::new(self.pkis.gpu.rims()),
            verifier,
            log,
        }
    }
}
