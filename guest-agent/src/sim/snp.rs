//! [`SimSnp`]: a simulated SEV-SNP guest device behind [`CpuTee`]: version-3 Milan reports carrying the
//! requested REPORT_DATA, signed by a VCEK of a simulated AMD PKI (fresh RSA-4096 ARK/ASK, AMD's
//! certificate profile), so the real SNP verifier runs on them. Its roots verify only when a caller
//! passes them ([`SimSnpPki::roots`]).

use std::sync::{Arc, Mutex, PoisonError};

use ccgpu_attestation::{
    AmdRoots, Product, Tcb, VekKind,
    sim::{SimError, SimVek, SnpPki, SnpReportBuilder, VekSpec},
};

use crate::tee::{CpuReport, CpuTee, TeeError};

const CHIP_ID: [u8; 64] = [0x5a; 64];
/// The launch measurement of the simulated guest image, for a relying party's policy to pin
/// (`snp.measurements`): without a pinned measurement its verdict on the CPU is at most `warning`.
pub const SIM_LAUNCH_MEASUREMENT: [u8; 48] = [0x6c; 48];
const TCB: Tcb = Tcb { bootloader: 4, tee: 0, snp: 24, microcode: 217, fmc: None };

/// The simulated AMD PKI and one VCEK (generating RSA-4096 keys takes about a second: share it).
#[derive(Debug)]
pub struct SimSnpPki {
    pki: SnpPki,
    vcek: SimVek,
}

impl SimSnpPki {
    /// A fresh Milan PKI and VCEK.
    pub fn generate() -> Result<Self, SimError> {
        let pki = SnpPki::generate(Product::Milan)?;
        let vcek = pki.issue_vek(&VekSpec::vcek(Product::Milan, TCB, &CHIP_ID))?;
        Ok(Self { pki, vcek })
    }

    /// The roots that trust this simulation (and nothing else).
    pub fn roots(&self) -> Result<AmdRoots, SimError> {
        self.pki.roots()
    }
}

/// An injected SNP fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnpFault {
    /// The VM has no SNP guest device.
    Absent,
    /// The firmware refuses the request.
    FirmwareError,
    /// The report carries other REPORT_DATA than asked (a replayed report).
    WrongReportData,
    /// The guest policy allows debugging.
    DebugPolicy,
}

/// The simulated device.
#[derive(Debug)]
pub struct SimSnp {
    pki: Arc<SimSnpPki>,
    faults: Mutex<Vec<SnpFault>>,
}

impl SimSnp {
    /// A device signing with `pki`.
    pub fn new(pki: Arc<SimSnpPki>) -> Self {
        Self { pki, faults: Mutex::new(Vec::new()) }
    }

    /// Injects a fault.
    pub fn inject(&self, fault: SnpFault) {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner).push(fault);
    }

    fn has(&self, fault: SnpFault) -> bool {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner).contains(&fault)
    }
}

impl CpuTee for SimSnp {
    fn present(&self) -> bool {
        !self.has(SnpFault::Absent)
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<CpuReport, TeeError> {
        if self.has(SnpFault::FirmwareError) {
            return Err(TeeError::Simulated("SEV-SNP firmware: simulated failure (INVALID_PARAM)".into()));
        }
        let mut data = *report_data;
        if self.has(SnpFault::WrongReportData) {
            data[0] ^= 0xff;
        }
        let mut b = SnpReportBuilder::new(Product::Milan, 3, &TCB, &CHIP_ID);
        b.set_report_data(&data);
        b.set_measurement(&SIM_LAUNCH_MEASUREMENT);
        if self.has(SnpFault::DebugPolicy) {
            let p = b.policy() | (1 << 19);
            b.set_policy(p);
        }
        let report = b.sign(&self.pki.vcek).map_err(|e| TeeError::Simulated(e.to_string()))?;
        Ok(CpuReport {
            report,
            vek: self.pki.vcek.der.clone(),
            ask_ark: Some(self.pki.pki.ask_ark_pem(VekKind::Vcek).into_bytes()),
        })
    }
}
