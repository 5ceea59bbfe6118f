//! Building SEV-SNP reports field by field (from scratch or from a real report) and signing them with a
//! simulated VCEK/VLEK.

use super::super::SimError;
use super::pki::SimVek;
use crate::snp::report::{REPORT_LEN, offset};
use crate::snp::{Product, Tcb};

/// A report under construction: named setters over the 0x4A0 bytes, and raw access for corruptions.
#[derive(Debug, Clone)]
pub struct SnpReportBuilder {
    bytes: [u8; REPORT_LEN],
}

impl SnpReportBuilder {
    /// A plausible report of `version` (2, 3 or 5) from a `product` chip: policy SMT allowed, VMPL 0, signed
    /// by the VCEK, every TCB set to `tcb`, CHIP_ID `chip_id` (the first 8 bytes only for Turin), CPUID of
    /// the product for versions 3 and later.
    pub fn new(product: Product, version: u32, tcb: &Tcb, chip_id: &[u8; 64]) -> Self {
        let mut b = Self { bytes: [0; REPORT_LEN] };
        b.set_u32(offset::VERSION, version);
        b.set_policy(0x3_0000);
        b.set_u32(offset::SIGNATURE_ALGO, 1);
        for (_, at) in offset::TCBS {
            b.bytes[at..at + 8].copy_from_slice(&encode_tcb(tcb, product.has_fmc()));
        }
        b.set_u64(offset::PLATFORM_INFO, 1);
        b.bytes[offset::CURRENT_VERSION].copy_from_slice(&[4, 55, 1]);
        b.bytes[offset::COMMITTED_VERSION].copy_from_slice(&[4, 55, 1]);
        let mut chip = *chip_id;
        if product.has_fmc() {
            chip[8..].fill(0);
        }
        b.bytes[offset::CHIP_ID].copy_from_slice(&chip);
        if version >= 3 {
            let (family, model) = match product {
                Product::Milan => (0x19, 0x01),
                Product::Genoa => (0x19, 0x11),
                Product::Turin => (0x1a, 0x02),
            };
            b.bytes[offset::CPUID_FAM_ID] = family;
            b.bytes[offset::CPUID_MOD_ID] = model;
            b.bytes[offset::CPUID_STEP] = 1;
        }
        b
    }

    /// Starts from existing report bytes (its signature is kept until [`Self::sign`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SimError> {
        let bytes: [u8; REPORT_LEN] = bytes
            .try_into()
            .map_err(|_| SimError::Chain(format!("a report is {REPORT_LEN} bytes, got {}", bytes.len())))?;
        Ok(Self { bytes })
    }

    /// Raw access, for corruptions the setters do not name.
    pub fn bytes_mut(&mut self) -> &mut [u8; REPORT_LEN] {
        &mut self.bytes
    }

    /// Sets a little-endian u32 at `at`.
    pub fn set_u32(&mut self, at: usize, v: u32) -> &mut Self {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// Sets a little-endian u64 at `at`.
    pub fn set_u64(&mut self, at: usize, v: u64) -> &mut Self {
        self.bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// VERSION.
    pub fn set_version(&mut self, v: u32) -> &mut Self {
        self.set_u32(offset::VERSION, v)
    }

    /// POLICY.
    pub fn set_policy(&mut self, v: u64) -> &mut Self {
        self.set_u64(offset::POLICY, v)
    }

    /// The current POLICY.
    pub fn policy(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[offset::POLICY..offset::POLICY + 8]);
        u64::from_le_bytes(b)
    }

    /// VMPL.
    pub fn set_vmpl(&mut self, v: u32) -> &mut Self {
        self.set_u32(offset::VMPL, v)
    }

    /// SIGNATURE_ALGO.
    pub fn set_sig_algo(&mut self, v: u32) -> &mut Self {
        self.set_u32(offset::SIGNATURE_ALGO, v)
    }

    /// KEY_INFO.
    pub fn set_key_info(&mut self, v: u32) -> &mut Self {
        self.set_u32(offset::KEY_INFO, v)
    }

    /// REPORT_DATA.
    pub fn set_report_data(&mut self, v: &[u8; 64]) -> &mut Self {
        self.bytes[offset::REPORT_DATA].copy_from_slice(v);
        self
    }

    /// MEASUREMENT.
    pub fn set_measurement(&mut self, v: &[u8; 48]) -> &mut Self {
        self.bytes[offset::MEASUREMENT].copy_from_slice(v);
        self
    }

    /// HOST_DATA.
    pub fn set_host_data(&mut self, v: &[u8; 32]) -> &mut Self {
        self.bytes[offset::HOST_DATA].copy_from_slice(v);
        self
    }

    /// CHIP_ID.
    pub fn set_chip_id(&mut self, v: &[u8; 64]) -> &mut Self {
        self.bytes[offset::CHIP_ID].copy_from_slice(v);
        self
    }

    /// CPUID family, model and stepping (versions 3 and later).
    pub fn set_cpuid(&mut self, family: u8, model: u8, stepping: u8) -> &mut Self {
        self.bytes[offset::CPUID_FAM_ID] = family;
        self.bytes[offset::CPUID_MOD_ID] = model;
        self.bytes[offset::CPUID_STEP] = stepping;
        self
    }

    /// REPORTED_TCB, in the Turin layout when `turin` is set.
    pub fn set_reported_tcb(&mut self, tcb: &Tcb, turin: bool) -> &mut Self {
        self.bytes[offset::REPORTED_TCB..offset::REPORTED_TCB + 8].copy_from_slice(&encode_tcb(tcb, turin));
        self
    }

    /// Signs with `vek` and returns the report.
    pub fn sign(mut self, vek: &SimVek) -> Result<Vec<u8>, SimError> {
        vek.sign_report(&mut self.bytes)?;
        Ok(self.bytes.to_vec())
    }

    /// The report as it stands (signature untouched).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes.to_vec()
    }
}

/// A TCB in the Milan/Genoa layout `[bl, tee, 0, 0, 0, 0, snp, ucode]` or Turin's `[fmc, bl, tee, snp, 0, 0,
/// 0, ucode]`.
pub(crate) fn encode_tcb(t: &Tcb, turin: bool) -> [u8; 8] {
    if turin {
        [t.fmc.unwrap_or(0), t.bootloader, t.tee, t.snp, 0, 0, 0, t.microcode]
    } else {
        [t.bootloader, t.tee, 0, 0, 0, 0, t.snp, t.microcode]
    }
}
