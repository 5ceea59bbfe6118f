//! Building SPDM GET_MEASUREMENTS + MEASUREMENTS reports in NVIDIA's layout, signed by a simulated
//! attestation key.

use crate::nvidia::spdm::{AttestationReport, OpaqueType};

use super::pki::{Pki, SimError};

/// Opaque-data TLVs in the order they will be written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpaqueBuilder {
    entries: Vec<(u16, Vec<u8>)>,
}

/// The firmware identity the simulations give their GPUs: what a real H200 (device id `0x2335`) reported
/// through NVML on 2026-12-04 with driver 580.159.04 (bench/real-gpu/results/2026-12-04-h200-cc-off):
/// driver and VBIOS versions as read; the board part number `692-2G520-0282-001` and GPU part number
/// `2335-895-A1` give the project, project SKU and chip SKU that NVIDIA's VBIOS RIM ids are built from.
/// (That GPU was in CC-off mode and gave no report, so the opaque TLVs themselves were not observed.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimFirmware {
    /// Driver version (opaque type 3).
    pub driver: &'static str,
    /// VBIOS version bytes in the report's order (opaque type 6).
    pub vbios: [u8; 8],
    /// Project (opaque type 17).
    pub project: &'static str,
    /// Project SKU (opaque type 18).
    pub project_sku: &'static str,
    /// Chip SKU (opaque type 15).
    pub chip_sku: &'static str,
}

/// [`SimFirmware`] of the H200 recorded on 2026-12-04: driver 580.159.04, VBIOS 96.00.A5.00.1A.
pub const RECORDED_H200: SimFirmware = SimFirmware {
    driver: "580.159.04",
    vbios: [0x00, 0xa5, 0x00, 0x96, 0x1a, 0x00, 0x00, 0x00],
    project: "G520",
    project_sku: "0282",
    chip_sku: "895",
};

impl OpaqueBuilder {
    /// The TLVs of a Hopper GPU running `firmware`.
    pub fn hopper_with(firmware: &SimFirmware, fwid: &[u8; 48]) -> Self {
        Self::hopper(firmware.driver, firmware.vbios, firmware.project, firmware.project_sku, firmware.chip_sku, fwid)
    }

    /// The TLVs of a Hopper GPU with these versions and identity (the order NVIDIA's GPUs use).
    pub fn hopper(
        driver: &str,
        vbios: [u8; 8],
        project: &str,
        project_sku: &str,
        chip_sku: &str,
        fwid: &[u8; 48],
    ) -> Self {
        let mut b = Self::default();
        b.push(OpaqueType::VbiosVersion, vbios.to_vec())
            .push(OpaqueType::ChipSku, nul_terminated(chip_sku))
            .push(OpaqueType::Project, nul_terminated(project))
            .push(OpaqueType::ProjectSku, nul_terminated(project_sku))
            .push(OpaqueType::DriverVersion, nul_terminated(driver))
            .push(OpaqueType::Nvdec0Status, vec![0x55])
            .push(OpaqueType::Fwid, fwid.to_vec());
        b
    }

    /// Appends a TLV (any type, even an undocumented raw id via [`Self::push_raw`]).
    pub fn push(&mut self, t: OpaqueType, value: Vec<u8>) -> &mut Self {
        self.push_raw(t as u16, value)
    }

    /// Appends a TLV with a raw type id.
    pub fn push_raw(&mut self, id: u16, value: Vec<u8>) -> &mut Self {
        self.entries.push((id, value));
        self
    }

    /// Replaces the value of every TLV of type `t`.
    pub fn set(&mut self, t: OpaqueType, value: Vec<u8>) -> &mut Self {
        for (id, v) in &mut self.entries {
            if *id == t as u16 {
                v.clone_from(&value);
            }
        }
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (id, value) in &self.entries {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
            out.extend_from_slice(value);
        }
        out
    }
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A report to be built and signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportBuilder {
    /// The requester nonce.
    pub nonce: [u8; 32],
    /// Measurement values, block index 1.. in order.
    pub measurements: Vec<Vec<u8>>,
    /// The GPU's responder nonce.
    pub responder_nonce: [u8; 32],
    /// Opaque data.
    pub opaque: OpaqueBuilder,
}

impl ReportBuilder {
    /// A builder holding the content of an existing report (to re-sign it or change one thing).
    pub fn from_report(report: &AttestationReport) -> Self {
        let mut opaque = OpaqueBuilder::default();
        for e in &report.opaque().entries {
            opaque.push(e.data_type, e.value.clone());
        }
        Self {
            nonce: report.request().nonce,
            measurements: report.response().blocks.iter().map(|b| b.value.clone()).collect(),
            responder_nonce: report.response().responder_nonce,
            opaque,
        }
    }

    /// The signed region: request ‖ response without the signature.
    pub fn unsigned(&self) -> Vec<u8> {
        let mut out = vec![0x11, 0xE0, 0x01, 0xFF];
        out.extend_from_slice(&self.nonce);
        out.push(0);
        let mut record = Vec::new();
        for (i, m) in self.measurements.iter().enumerate() {
            let size = u16::try_from(m.len()).unwrap_or(u16::MAX);
            record.push(u8::try_from(i + 1).unwrap_or(u8::MAX));
            record.push(0x01);
            record.extend_from_slice(&(size + 3).to_le_bytes());
            record.push(0x01);
            record.extend_from_slice(&size.to_le_bytes());
            record.extend_from_slice(m);
        }
        out.extend_from_slice(&[0x11, 0x60, 0x00, 0x00]);
        out.push(u8::try_from(self.measurements.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&u32::try_from(record.len()).unwrap_or(0).to_le_bytes()[..3]);
        out.extend_from_slice(&record);
        out.extend_from_slice(&self.responder_nonce);
        let opaque = self.opaque.encode();
        out.extend_from_slice(&u16::try_from(opaque.len()).unwrap_or(u16::MAX).to_le_bytes());
        out.extend_from_slice(&opaque);
        out
    }

    /// The complete report signed by `pki`'s attestation key.
    pub fn sign(&self, pki: &Pki) -> Result<Vec<u8>, SimError> {
        let mut out = self.unsigned();
        let sig = pki.sign(&out)?;
        out.extend_from_slice(&sig);
        Ok(out)
    }
}
