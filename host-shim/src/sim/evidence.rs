//! `SimEvidence`: simulated GPUs' pre-flight evidence — reports in the real formats, signed by a simulated
//! device PKI, so the real verifier runs on them — and the pre-flight checks of `--simulate`, which trust
//! only that simulated root.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use ccgpu_attestation::Anchors;
use ccgpu_pci::{PciAddress, PciDevice};

use crate::plugin::PreflightCheck;
use crate::preflight::{Attestor, Evidence, EvidenceError, EvidenceSource, Skipped};

/// Simulated GPUs' evidence: reports signed by a simulated device PKI (the real formats, so the real
/// verifier runs on them); GPUs listed as tampered answer with a corrupted signature.
pub struct SimEvidence {
    pki: ccgpu_attestation::sim::Pki,
    fwid: [u8; 48],
    tampered: BTreeSet<PciAddress>,
}

impl fmt::Debug for SimEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimEvidence").field("tampered", &self.tampered).finish_non_exhaustive()
    }
}

/// Chip family of the simulated GPUs.
const SIM_CHIP: &str = "GH100";

impl SimEvidence {
    /// A simulated device PKI; GPUs at `tampered` give evidence that fails.
    pub fn new(tampered: BTreeSet<PciAddress>) -> Result<Self, ccgpu_attestation::sim::SimError> {
        let fwid = [0x5a; 48];
        let pki = ccgpu_attestation::sim::DevicePki::generate(SIM_CHIP, &fwid)?;
        Ok(Self { pki, fwid, tampered })
    }

    /// The anchors that trust this simulation's device root (and only it: the RIM root stays NVIDIA's,
    /// which pre-flight never uses).
    pub fn anchors(&self) -> Anchors {
        Anchors { device: self.pki.anchor.clone(), rim: Anchors::nvidia().rim }
    }
}

impl EvidenceSource for SimEvidence {
    fn collect(&self, device: &PciDevice, nonce: &[u8; 32]) -> Result<Result<Evidence, Skipped>, EvidenceError> {
        use ccgpu_attestation::sim::{OpaqueBuilder, ReportBuilder};
        let address = device.address;
        let builder = ReportBuilder {
            nonce: *nonce,
            measurements: (0u8..8).map(|i| vec![i; 48]).collect(),
            responder_nonce: [0x3c; 32],
            opaque: OpaqueBuilder::hopper_with(&ccgpu_attestation::sim::RECORDED_H200, &self.fwid),
        };
        let mut report =
            builder.sign(&self.pki).map_err(|e| EvidenceError::Source { address, message: e.to_string() })?;
        if self.tampered.contains(&address)
            && let Some(last) = report.last_mut()
        {
            *last ^= 0xff;
        }
        Ok(Ok(Evidence { report, chain: self.pki.chain.clone() }))
    }
}

/// Pre-flight for `--simulate`: simulated evidence, trusting only the simulation's own root.
pub fn simulated() -> Result<Arc<dyn PreflightCheck>, ccgpu_attestation::sim::SimError> {
    simulated_with(BTreeSet::new())
}

/// [`simulated`] with GPUs whose evidence fails.
pub fn simulated_with(
    tampered: BTreeSet<PciAddress>,
) -> Result<Arc<dyn PreflightCheck>, ccgpu_attestation::sim::SimError> {
    let source = SimEvidence::new(tampered)?;
    let anchors = source.anchors();
    Ok(Arc::new(Attestor::new(Arc::new(source), anchors)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::PreflightRun;
    use crate::test_fixtures::h100;

    #[test]
    fn simulated_evidence_passes_and_tampered_fails() {
        let good = h100("0000:18:00.0", None);
        let bad = h100("0000:28:00.0", None);
        let source = SimEvidence::new(BTreeSet::from([bad.address])).expect("pki");
        let anchors = source.anchors();
        let attestor = Attestor::new(Arc::new(source), anchors);
        assert!(matches!(attestor.attest(&good), PreflightRun::Passed { .. }), "{:?}", attestor.attest(&good));
        match attestor.attest(&bad) {
            PreflightRun::Failed { checks, .. } => assert_eq!(checks, vec!["report-signature"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(attestor.check(&good), Some(crate::publish::Preflight::Passed));
        assert_eq!(attestor.check(&bad), Some(crate::publish::Preflight::Failed("report-signature".into())));
    }
}
