//! The SEV-SNP `ATTESTATION_REPORT` (SEV-SNP Firmware ABI, "ATTESTATION_REPORT Structure"): always
//! 0x4A0 bytes, signed over bytes `[0, 0x2A0)` with ECDSA P-384/SHA-384 by the VCEK or VLEK.
//!
//! Field types and decoding come from the `sev` crate; what it does not do is done here, over the bytes
//! as received: the reserved fields are checked by name and offset (the crate skips most of them, and the
//! ones it does check are cleared in the copy it parses so that a non-zero reserved byte is reported as
//! such, not as "does not parse"), the signature is converted from AMD's little-endian 72-byte `r`/`s`
//! fields and verified over the received bytes (the crate re-serialises the report first), and a version 2
//! report with a masked CHIP_ID, which the crate cannot decode (`MaskedChipId`: the TCB layout of such a
//! report cannot be told from the report alone), is decoded with the layout of the product the VCEK/VLEK
//! names.
//!
//! Trusts nothing: a parsed report is only a typed view of bytes whose signature has not been checked.

use std::ops::Range;

use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;
use thiserror::Error;

use super::product::Product;
use crate::crypto::{EcPublicKey, SignatureError};

/// Size of every report version.
pub const REPORT_LEN: usize = 0x4A0;
/// The signed part: bytes `[0, SIGNED_LEN)`.
pub const SIGNED_LEN: usize = 0x2A0;
/// Report versions whose layout is known: 2 (Milan/Genoa firmware before 1.55), 3 (adds CPUID
/// family/model/stepping) and 5 (adds the mitigation vectors).
pub const SUPPORTED_VERSIONS: [u32; 3] = [2, 3, 5];
/// `SIGNATURE_ALGO` value of ECDSA P-384 with SHA-384, the only algorithm AMD defines.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Byte offsets and ranges of the report's fields. The whole layout is named, though the verifier reads
/// only some fields by offset (the simulator and the tests read the rest).
#[allow(dead_code)]
pub mod offset {
    use std::ops::Range;

    /// VERSION (u32).
    pub const VERSION: usize = 0x000;
    /// GUEST_SVN (u32).
    pub const GUEST_SVN: usize = 0x004;
    /// POLICY (u64).
    pub const POLICY: usize = 0x008;
    /// FAMILY_ID (16 bytes).
    pub const FAMILY_ID: usize = 0x010;
    /// IMAGE_ID (16 bytes).
    pub const IMAGE_ID: usize = 0x020;
    /// VMPL (u32).
    pub const VMPL: usize = 0x030;
    /// SIGNATURE_ALGO (u32).
    pub const SIGNATURE_ALGO: usize = 0x034;
    /// CURRENT_TCB (u64).
    pub const CURRENT_TCB: usize = 0x038;
    /// PLATFORM_INFO (u64).
    pub const PLATFORM_INFO: usize = 0x040;
    /// KEY_INFO (u32: AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY).
    pub const KEY_INFO: usize = 0x048;
    /// Reserved after KEY_INFO.
    pub const RESERVED_AFTER_KEY_INFO: Range<usize> = 0x04C..0x050;
    /// REPORT_DATA (64 bytes).
    pub const REPORT_DATA: Range<usize> = 0x050..0x090;
    /// MEASUREMENT (48 bytes).
    pub const MEASUREMENT: Range<usize> = 0x090..0x0C0;
    /// HOST_DATA (32 bytes).
    pub const HOST_DATA: Range<usize> = 0x0C0..0x0E0;
    /// ID_KEY_DIGEST (48 bytes).
    pub const ID_KEY_DIGEST: Range<usize> = 0x0E0..0x110;
    /// AUTHOR_KEY_DIGEST (48 bytes).
    pub const AUTHOR_KEY_DIGEST: Range<usize> = 0x110..0x140;
    /// REPORT_ID (32 bytes).
    pub const REPORT_ID: Range<usize> = 0x140..0x160;
    /// REPORT_ID_MA (32 bytes).
    pub const REPORT_ID_MA: Range<usize> = 0x160..0x180;
    /// REPORTED_TCB (u64).
    pub const REPORTED_TCB: usize = 0x180;
    /// CPUID_FAM_ID (version 3+).
    pub const CPUID_FAM_ID: usize = 0x188;
    /// CPUID_MOD_ID (version 3+).
    pub const CPUID_MOD_ID: usize = 0x189;
    /// CPUID_STEP (version 3+).
    pub const CPUID_STEP: usize = 0x18A;
    /// Reserved before CHIP_ID in version 2 (the CPUID bytes included).
    pub const RESERVED_BEFORE_CHIP_ID_V2: Range<usize> = 0x188..0x1A0;
    /// Reserved before CHIP_ID in versions 3 and 5.
    pub const RESERVED_BEFORE_CHIP_ID_V3: Range<usize> = 0x18B..0x1A0;
    /// CHIP_ID (64 bytes; all zero when MASK_CHIP_ID is set).
    pub const CHIP_ID: Range<usize> = 0x1A0..0x1E0;
    /// COMMITTED_TCB (u64).
    pub const COMMITTED_TCB: usize = 0x1E0;
    /// CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR.
    pub const CURRENT_VERSION: Range<usize> = 0x1E8..0x1EB;
    /// Reserved after the current version.
    pub const RESERVED_AFTER_CURRENT_VERSION: Range<usize> = 0x1EB..0x1EC;
    /// COMMITTED_BUILD, COMMITTED_MINOR, COMMITTED_MAJOR.
    pub const COMMITTED_VERSION: Range<usize> = 0x1EC..0x1EF;
    /// Reserved after the committed version.
    pub const RESERVED_AFTER_COMMITTED_VERSION: Range<usize> = 0x1EF..0x1F0;
    /// LAUNCH_TCB (u64).
    pub const LAUNCH_TCB: usize = 0x1F0;
    /// LAUNCH_MIT_VECTOR (u64, version 5+).
    pub const LAUNCH_MIT_VECTOR: usize = 0x1F8;
    /// CURRENT_MIT_VECTOR (u64, version 5+).
    pub const CURRENT_MIT_VECTOR: usize = 0x200;
    /// Reserved up to the signature in versions 2 and 3.
    pub const RESERVED_BEFORE_SIGNATURE_V2: Range<usize> = 0x1F8..0x2A0;
    /// Reserved up to the signature in version 5.
    pub const RESERVED_BEFORE_SIGNATURE_V5: Range<usize> = 0x208..0x2A0;
    /// SIGNATURE.R, 72 bytes little-endian (only the low 48 may be non-zero for P-384).
    pub const SIGNATURE_R: Range<usize> = 0x2A0..0x2E8;
    /// SIGNATURE.S, 72 bytes little-endian.
    pub const SIGNATURE_S: Range<usize> = 0x2E8..0x330;
    /// Reserved rest of the signature field (not signed).
    pub const RESERVED_SIGNATURE: Range<usize> = 0x330..0x4A0;
    /// The four TCB fields, with their names.
    pub const TCBS: [(&str, usize); 4] = [
        ("CURRENT_TCB", CURRENT_TCB),
        ("REPORTED_TCB", REPORTED_TCB),
        ("COMMITTED_TCB", COMMITTED_TCB),
        ("LAUNCH_TCB", LAUNCH_TCB),
    ];
}

/// Guest policy bits we act on (POLICY, offset 0x08).
pub mod policy_bit {
    /// SMT allowed.
    pub const SMT: u64 = 1 << 16;
    /// Reserved, must be one.
    pub const RESERVED_MBO: u64 = 1 << 17;
    /// Association with a migration agent allowed.
    pub const MIGRATE_MA: u64 = 1 << 18;
    /// Debugging allowed.
    pub const DEBUG: u64 = 1 << 19;
    /// Bits 63:26, reserved, must be zero (bits 20–25 are restrictions a guest may ask for).
    pub const RESERVED_MBZ: u64 = !((1 << 26) - 1);
}

/// KEY_INFO bits (offset 0x48).
#[allow(dead_code)] // AUTHOR_KEY_EN: the layout is named whole
pub mod key_info {
    /// AUTHOR_KEY_EN.
    pub const AUTHOR_KEY_EN: u32 = 1 << 0;
    /// MASK_CHIP_KEY: the firmware wrote zeros instead of a signature.
    pub const MASK_CHIP_KEY: u32 = 1 << 1;
    /// SIGNING_KEY, bits 4:2.
    pub const SIGNING_KEY_SHIFT: u32 = 2;
    /// SIGNING_KEY mask (after the shift).
    pub const SIGNING_KEY_MASK: u32 = 0b111;
    /// Bits 31:5, reserved, must be zero.
    pub const RESERVED_MBZ: u32 = !0b1_1111;
    /// SIGNING_KEY value: the VCEK.
    pub const SIGNING_KEY_VCEK: u32 = 0;
    /// SIGNING_KEY value: the VLEK.
    pub const SIGNING_KEY_VLEK: u32 = 1;
    /// SIGNING_KEY value: unsigned.
    pub const SIGNING_KEY_NONE: u32 = 7;
}

/// A report that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportError {
    /// Not exactly 0x4A0 bytes.
    #[error("report is {found} bytes, expected exactly {REPORT_LEN}")]
    Length {
        /// Bytes received.
        found: usize,
    },
    /// A version whose layout we do not know.
    #[error("report version {0} is not supported (versions 2, 3 and 5 are)")]
    Version(u32),
    /// Version 2 with CHIP_ID masked and no product known from the VCEK/VLEK.
    #[error(
        "version 2 report with a masked CHIP_ID: its TCB layout cannot be told from the report, and no VCEK/VLEK \
         product name is available to decide it"
    )]
    MaskedChipIdV2,
    /// The `sev` crate refused the layout.
    #[error("report layout: {0}")]
    Layout(String),
}

/// A decoded report over the received bytes (signature not yet checked).
#[derive(Debug, Clone)]
pub struct SnpReport<'a> {
    raw: &'a [u8; REPORT_LEN],
    report: AttestationReport,
    layout_product: Option<Product>,
}

impl<'a> SnpReport<'a> {
    /// Decodes `bytes`. `product_hint` (the product the VCEK/VLEK names) is used only to choose the TCB
    /// layout of a version 2 report whose CHIP_ID is masked.
    pub fn parse(bytes: &'a [u8], product_hint: Option<Product>) -> Result<Self, ReportError> {
        let raw: &'a [u8; REPORT_LEN] = bytes.try_into().map_err(|_| ReportError::Length { found: bytes.len() })?;
        let version = version_of(raw);
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(ReportError::Version(version));
        }
        // The crate checks some reserved ranges itself; ours are checked by `reserved_problems`, by name.
        let mut copy = *raw;
        for range in reserved_ranges(version) {
            copy[range].fill(0);
        }
        let masked = is_zero(&raw[offset::CHIP_ID]);
        let mut layout_product = None;
        if version == 2 && masked {
            // sev 8 tells Turin from Milan/Genoa in a v2 report by the shape of CHIP_ID and gives up when
            // it is masked; decode with a placeholder CHIP_ID of the VCEK/VLEK product's shape instead.
            let product = product_hint.ok_or(ReportError::MaskedChipIdV2)?;
            copy[offset::CHIP_ID].fill(0);
            if product.has_fmc() {
                copy[offset::CHIP_ID.start] = 1;
            } else {
                copy[offset::CHIP_ID].fill(0xff);
            }
            layout_product = Some(product);
        }
        let mut report = AttestationReport::from_bytes(&copy).map_err(|e| ReportError::Layout(e.to_string()))?;
        if masked {
            report.chip_id = [0; 64];
        }
        Ok(Self { raw, report, layout_product })
    }

    /// The decoded fields.
    pub fn fields(&self) -> &AttestationReport {
        &self.report
    }

    /// The bytes as received.
    pub fn raw(&self) -> &'a [u8; REPORT_LEN] {
        self.raw
    }

    /// The report version (2, 3 or 5).
    pub fn version(&self) -> u32 {
        self.report.version
    }

    /// True when the report uses the Turin TCB layout (with an FMC SPL).
    pub fn has_fmc(&self) -> bool {
        self.report.reported_tcb.fmc.is_some()
    }

    /// True when CHIP_ID is all zero (MASK_CHIP_ID set on the platform).
    pub fn chip_id_masked(&self) -> bool {
        is_zero(&self.report.chip_id)
    }

    /// The product the report itself states: from CPUID for versions 3 and 5; `None` for version 2, which
    /// does not say (only the TCB layout distinguishes Turin from Milan/Genoa there).
    pub fn cpuid_product(&self) -> Option<Result<Product, String>> {
        match (self.report.cpuid_fam_id, self.report.cpuid_mod_id) {
            (Some(family), Some(model)) => Some(Product::from_cpuid(family, model)),
            _ => None,
        }
    }

    /// The product whose layout decoded a version 2 report with a masked CHIP_ID (from the VCEK/VLEK).
    pub fn layout_from_product(&self) -> Option<Product> {
        self.layout_product
    }

    /// KEY_INFO.SIGNING_KEY (0 VCEK, 1 VLEK, 7 none).
    pub fn signing_key(&self) -> u32 {
        (u32::from(self.report.key_info) >> key_info::SIGNING_KEY_SHIFT) & key_info::SIGNING_KEY_MASK
    }

    /// KEY_INFO.MASK_CHIP_KEY: the firmware did not sign.
    pub fn mask_chip_key(&self) -> bool {
        u32::from(self.report.key_info) & key_info::MASK_CHIP_KEY != 0
    }

    /// The raw POLICY value.
    pub fn policy_bits(&self) -> u64 {
        // Read from the bytes: the crate's `From<GuestPolicy> for u64` forces reserved bit 17 to one.
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.raw[offset::POLICY..offset::POLICY + 8]);
        u64::from_le_bytes(b)
    }
}

/// The VERSION field of a report of the right length.
pub(crate) fn version_of(raw: &[u8; REPORT_LEN]) -> u32 {
    u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])
}

/// Every reserved byte range of a report of `version`, signature reserve included.
fn reserved_ranges(version: u32) -> [Range<usize>; 6] {
    let (before_chip_id, before_signature) = match version {
        2 => (offset::RESERVED_BEFORE_CHIP_ID_V2, offset::RESERVED_BEFORE_SIGNATURE_V2),
        3 => (offset::RESERVED_BEFORE_CHIP_ID_V3, offset::RESERVED_BEFORE_SIGNATURE_V2),
        _ => (offset::RESERVED_BEFORE_CHIP_ID_V3, offset::RESERVED_BEFORE_SIGNATURE_V5),
    };
    [
        offset::RESERVED_AFTER_KEY_INFO,
        before_chip_id,
        offset::RESERVED_AFTER_CURRENT_VERSION,
        offset::RESERVED_AFTER_COMMITTED_VERSION,
        before_signature,
        offset::RESERVED_SIGNATURE,
    ]
}

/// Every reserved field or bit of `raw` (a report of a supported `version`) that does not hold its
/// required value, described by name and offset. `turin_layout` selects which TCB bytes are reserved.
pub fn reserved_problems(raw: &[u8; REPORT_LEN], turin_layout: bool) -> Vec<String> {
    let version = version_of(raw);
    let mut problems = Vec::new();
    for range in reserved_ranges(version) {
        if let Some(i) = range.clone().find(|&i| raw[i] != 0) {
            problems.push(format!(
                "reserved bytes {:#05x}..{:#05x} are not zero (first at {i:#05x}: {:#04x})",
                range.start, range.end, raw[i]
            ));
        }
    }
    // Milan/Genoa TCB: [bootloader, tee, 0, 0, 0, 0, snp, microcode]; Turin: [fmc, bl, tee, snp, 0, 0, 0, ucode].
    let tcb_reserved = if turin_layout { 4..7 } else { 2..6 };
    for (name, at) in offset::TCBS {
        if let Some(i) = tcb_reserved.clone().find(|&i| raw[at + i] != 0) {
            problems.push(format!("{name} reserved byte {:#05x} is not zero", at + i));
        }
    }
    let key_info = u32::from_le_bytes([
        raw[offset::KEY_INFO],
        raw[offset::KEY_INFO + 1],
        raw[offset::KEY_INFO + 2],
        raw[offset::KEY_INFO + 3],
    ]);
    if key_info & key_info::RESERVED_MBZ != 0 {
        problems.push(format!("KEY_INFO {key_info:#x} has reserved bits 31:5 set"));
    }
    let mut policy = [0u8; 8];
    policy.copy_from_slice(&raw[offset::POLICY..offset::POLICY + 8]);
    let policy = u64::from_le_bytes(policy);
    if policy & policy_bit::RESERVED_MBO == 0 {
        problems.push(format!("POLICY {policy:#x} has reserved bit 17 clear (it must be one)"));
    }
    if policy & policy_bit::RESERVED_MBZ != 0 {
        problems.push(format!("POLICY {policy:#x} has reserved bits 63:26 set"));
    }
    problems
}

/// Why the report signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportSignatureError {
    /// A 72-byte component holds a value wider than 384 bits.
    #[error("signature component {0} has non-zero bytes above bit 384")]
    Oversized(&'static str),
    /// The signature does not verify under the key.
    #[error("{0}")]
    Signature(#[from] SignatureError),
}

/// The report signature as a fixed-width big-endian `r‖s` (what aws-lc-rs verifies), from AMD's two
/// little-endian 72-byte fields.
pub fn signature_rs(raw: &[u8; REPORT_LEN]) -> Result<[u8; 96], ReportSignatureError> {
    let mut out = [0u8; 96];
    for (name, range, dst) in [("r", offset::SIGNATURE_R, 0), ("s", offset::SIGNATURE_S, 48)] {
        let le = &raw[range];
        if !is_zero(&le[48..]) {
            return Err(ReportSignatureError::Oversized(name));
        }
        for (i, b) in le[..48].iter().enumerate() {
            out[dst + 47 - i] = *b;
        }
    }
    Ok(out)
}

/// Verifies the report signature over the received bytes `[0, 0x2A0)` with `key` (the VCEK/VLEK's).
pub fn verify_signature(raw: &[u8; REPORT_LEN], key: &EcPublicKey) -> Result<(), ReportSignatureError> {
    let rs = signature_rs(raw)?;
    key.verify_p384_fixed(&raw[..SIGNED_LEN], &rs)?;
    Ok(())
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(version: u32) -> [u8; REPORT_LEN] {
        let mut r = [0u8; REPORT_LEN];
        r[..4].copy_from_slice(&version.to_le_bytes());
        r[offset::POLICY + 2] = 0x03; // SMT + reserved-one
        r[offset::SIGNATURE_ALGO] = 1;
        r
    }

    #[test]
    fn lengths_and_versions_are_checked_first() {
        assert_eq!(SnpReport::parse(&[0; 100], None).expect_err("refused"), ReportError::Length { found: 100 });
        for v in [0, 1, 4, 6, u32::MAX] {
            assert_eq!(SnpReport::parse(&blank(v), None).expect_err("refused"), ReportError::Version(v));
        }
    }

    #[test]
    fn masked_v2_needs_a_product_and_keeps_the_zero_chip_id() {
        let r = blank(2);
        assert_eq!(SnpReport::parse(&r, None).expect_err("refused"), ReportError::MaskedChipIdV2);
        let milan = SnpReport::parse(&r, Some(Product::Milan)).expect("milan layout");
        assert!(!milan.has_fmc() && milan.chip_id_masked());
        assert_eq!(milan.layout_from_product(), Some(Product::Milan));
        let turin = SnpReport::parse(&r, Some(Product::Turin)).expect("turin layout");
        assert!(turin.has_fmc() && turin.chip_id_masked());
    }

    #[test]
    fn reserved_fields_are_named() {
        let mut r = blank(3);
        r[offset::CPUID_FAM_ID] = 0x19;
        r[offset::CPUID_MOD_ID] = 0x01;
        assert!(reserved_problems(&r, false).is_empty());
        r[0x18B] = 1;
        r[offset::REPORTED_TCB + 3] = 1;
        r[offset::KEY_INFO] = 0x20;
        r[0x400] = 9;
        let p = reserved_problems(&r, false);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].contains("0x18b..0x1a0"), "{p:?}");
        assert!(p[1].contains("0x330..0x4a0"), "{p:?}");
        assert!(p[2].contains("REPORTED_TCB reserved byte 0x183"), "{p:?}");
        assert!(p[3].contains("KEY_INFO"), "{p:?}");
        // The same report still decodes: reserved bytes are ours to report, not the parser's.
        assert!(SnpReport::parse(&r, None).is_ok());
    }

    #[test]
    fn signature_components_are_little_endian_and_bounded() {
        let mut r = blank(2);
        r[offset::SIGNATURE_R.start] = 0x01; // least significant byte of r
        r[offset::SIGNATURE_S.start + 47] = 0x80; // most significant byte of s
        let rs = signature_rs(&r).expect("in range");
        assert_eq!(rs[47], 0x01);
        assert_eq!(rs[48], 0x80);
        r[offset::SIGNATURE_S.start + 48] = 1;
        assert_eq!(signature_rs(&r).expect_err("refused"), ReportSignatureError::Oversized("s"));
    }
}
