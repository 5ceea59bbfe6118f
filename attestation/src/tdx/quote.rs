//! Intel TDX quotes, version 4 (TD report 1.0 body) and version 5 (TD report 1.0 or 1.5 body), with an
//! ECDSA P-256 attestation key and certification data type 6 (the QE report) wrapping type 5 (the PCK
//! chain, PEM). Layout from Intel's "TDX DCAP Quoting Library API" (quote format v4/v5); every offset below
//! is named and absolute.
//!
//! ```text
//! v4: header[0..48) body[48..632)            sig_data_len[632..636) sig_data[636..)
//! v5: header[0..48) type[48..50) size[50..54) body[54..54+size) sig_data_len sig_data
//! sig_data: signature r‖s [0..64) attestation key x‖y [64..128) cert_data_type [128..130)
//!           cert_data_size [130..134) QE report certification data [134..)
//! QE report certification data: QE report [0..384) QE report signature [384..448) auth data size
//!           [448..450) auth data, then type (5) u16, size u32, PCK chain PEM
//! ```
//!
//! Strictness: the header's version (4 or 5), attestation key type (2), TEE type (0x81), reserved bytes
//! (zero) and QE vendor id (Intel's) are required; the body type and size must agree with each other and
//! with the version; every nested size must fit exactly inside its parent (no slack inside the signature
//! data, the QE report certification data or the certification data); the QE report's reserved fields are
//! zero. What the quote signature covers is the header and body as received (`signed()`).
//!
//! Trailing bytes: real quotes carry bytes after the signature data (70 or 3065 zero bytes of padding from
//! the quote-generation service's fixed buffers, once an ASCII test string). They are covered by no
//! signature, so they can neither prove nor forge anything; we accept them, never read them, and record
//! how many there were ([`TdxQuote::trailing`]). A quote larger than [`MAX_QUOTE_LEN`] is refused outright.
//!
//! Trusts: nothing; this is syntax only. The appraisal decides what the fields are worth.

use thiserror::Error;

use crate::reader::{Reader, Truncated};

/// Largest quote accepted, padding included (real quotes are ≤ 8000 bytes).
pub const MAX_QUOTE_LEN: usize = 64 * 1024;
/// Header length.
pub const HEADER_LEN: usize = 48;
/// TD report 1.0 body length (TDX 1.0).
pub const TD_REPORT10_LEN: usize = 584;
/// TD report 1.5 body length (TDX 1.5: TEE_TCB_SVN_2 and MR_SERVICETD added).
pub const TD_REPORT15_LEN: usize = 648;
/// SGX report body length (the QE report).
pub const QE_REPORT_LEN: usize = 384;
/// TEE type of a TDX quote.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Attestation key type 2: ECDSA P-256 with SHA-256.
pub const ATT_KEY_ECDSA_P256: u16 = 2;
/// Intel's QE vendor id.
pub const INTEL_QE_VENDOR_ID: [u8; 16] =
    [0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07];
/// Certification data type 5: the PCK leaf, its CA and the root, PEM.
pub const CERT_PCK_CHAIN: u16 = 5;
/// Certification data type 6: QE report certification data.
pub const CERT_QE_REPORT: u16 = 6;

/// Absolute offsets of the header fields.
pub mod header_offset {
    /// Version (u16).
    pub const VERSION: usize = 0;
    /// Attestation key type (u16).
    pub const ATT_KEY_TYPE: usize = 2;
    /// TEE type (u32).
    pub const TEE_TYPE: usize = 4;
    /// Reserved (4 bytes, zero).
    pub const RESERVED: usize = 8;
    /// QE vendor id (16 bytes).
    pub const QE_VENDOR_ID: usize = 12;
    /// User data (20 bytes).
    pub const USER_DATA: usize = 28;
}

/// Offsets of TD report fields, relative to the body's start.
pub mod body_offset {
    /// TEE_TCB_SVN (16).
    pub const TEE_TCB_SVN: usize = 0;
    /// MRSEAM (48).
    pub const MR_SEAM: usize = 16;
    /// MRSIGNERSEAM (48).
    pub const MR_SIGNER_SEAM: usize = 64;
    /// SEAMATTRIBUTES (8).
    pub const SEAM_ATTRIBUTES: usize = 112;
    /// TDATTRIBUTES (8).
    pub const TD_ATTRIBUTES: usize = 120;
    /// XFAM (8).
    pub const XFAM: usize = 128;
    /// MRTD (48).
    pub const MR_TD: usize = 136;
    /// MRCONFIGID (48).
    pub const MR_CONFIG_ID: usize = 184;
    /// MROWNER (48).
    pub const MR_OWNER: usize = 232;
    /// MROWNERCONFIG (48).
    pub const MR_OWNER_CONFIG: usize = 280;
    /// RTMR0..3 (4 × 48).
    pub const RTMR: usize = 328;
    /// REPORTDATA (64).
    pub const REPORT_DATA: usize = 520;
    /// TEE_TCB_SVN_2 (16, TD report 1.5 only).
    pub const TEE_TCB_SVN_2: usize = 584;
    /// MRSERVICETD (48, TD report 1.5 only).
    pub const MR_SERVICE_TD: usize = 600;
}

/// Offsets of SGX report body (QE report) fields, relative to its start.
pub mod qe_offset {
    /// CPUSVN (16).
    pub const CPU_SVN: usize = 0;
    /// MISCSELECT (u32).
    pub const MISC_SELECT: usize = 16;
    /// ATTRIBUTES (16).
    pub const ATTRIBUTES: usize = 48;
    /// MRENCLAVE (32).
    pub const MR_ENCLAVE: usize = 64;
    /// MRSIGNER (32).
    pub const MR_SIGNER: usize = 128;
    /// ISVPRODID (u16).
    pub const ISV_PROD_ID: usize = 256;
    /// ISVSVN (u16).
    pub const ISV_SVN: usize = 258;
    /// REPORTDATA (64).
    pub const REPORT_DATA: usize = 320;
    /// Reserved ranges (start, length), all zero.
    pub const RESERVED: [(usize, usize); 4] = [(20, 28), (96, 32), (160, 96), (260, 60)];
}

/// Why a quote is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuoteError {
    /// Too short for a field.
    #[error("the quote is truncated: {0}")]
    Truncated(#[from] Truncated),
    /// Over [`MAX_QUOTE_LEN`].
    #[error("the quote is {0} bytes, more than the {MAX_QUOTE_LEN}-byte limit")]
    TooLarge(usize),
    /// A field holds a value this verifier refuses.
    #[error("{field} at byte {offset} is {found}, expected {expected}")]
    Field {
        /// The field.
        field: &'static str,
        /// Absolute offset.
        offset: usize,
        /// What it holds.
        found: String,
        /// What it must hold.
        expected: String,
    },
    /// A nested size that does not fill its parent exactly.
    #[error("{field} at byte {offset}: {reason}")]
    Size {
        /// The field.
        field: &'static str,
        /// Absolute offset.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The TD report body version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BodyKind {
    /// TDREPORT 1.0 (TDX 1.0; v4 quotes and v5 body type 2).
    #[serde(rename = "td-report-1.0")]
    TdReport10,
    /// TDREPORT 1.5 (TDX 1.5; v5 body type 3).
    #[serde(rename = "td-report-1.5")]
    TdReport15,
}

impl BodyKind {
    /// `TDREPORT 1.0` or `TDREPORT 1.5`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TdReport10 => "TD report 1.0",
            Self::TdReport15 => "TD report 1.5",
        }
    }
}

/// A TD report body: the fields the TDX module put in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReport {
    /// 1.0 or 1.5.
    pub kind: BodyKind,
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM.
    pub mr_signer_seam: [u8; 48],
    /// SEAMATTRIBUTES.
    pub seam_attributes: [u8; 8],
    /// TDATTRIBUTES (little-endian u64).
    pub td_attributes: u64,
    /// XFAM (little-endian u64).
    pub xfam: u64,
    /// MRTD.
    pub mr_td: [u8; 48],
    /// MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// MROWNER.
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// RTMR0..3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
    /// TEE_TCB_SVN_2 (1.5 only).
    pub tee_tcb_svn_2: Option<[u8; 16]>,
    /// MRSERVICETD (1.5 only).
    pub mr_service_td: Option<[u8; 48]>,
}

/// The QE's SGX report (signed by the PCK key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeReport {
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// ATTRIBUTES.
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

/// A parsed quote, borrowing the bytes it was parsed from.
#[derive(Debug, Clone)]
pub struct TdxQuote<'a> {
    raw: &'a [u8],
    /// Quote version (4 or 5).
    pub version: u16,
    /// User data from the header (the QE's identifier in its first 16 bytes).
    pub user_data: [u8; 20],
    /// The TD report.
    pub body: TdReport,
    signed_len: usize,
    /// ECDSA P-256 signature r‖s over header and body.
    pub signature: [u8; 64],
    /// The attestation public key x‖y.
    pub attestation_key: [u8; 64],
    /// The QE report as received (384 bytes).
    pub qe_report_raw: &'a [u8],
    /// The QE report, decoded.
    pub qe_report: QeReport,
    /// The PCK signature r‖s over the QE report.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data.
    pub qe_auth_data: &'a [u8],
    /// The PCK chain, PEM, as received.
    pub pck_chain_pem: &'a [u8],
    /// Unsigned bytes after the signature data (accepted, never read).
    pub trailing: usize,
}

impl<'a> TdxQuote<'a> {
    /// Parses a quote strictly (see the module doc).
    pub fn parse(raw: &'a [u8]) -> Result<Self, QuoteError> {
        if raw.len() > MAX_QUOTE_LEN {
            return Err(QuoteError::TooLarge(raw.len()));
        }
        let mut r = Reader::new(raw, 0);
        let version = r.u16le("version")?;
        if version != 4 && version != 5 {
            return Err(field("version", header_offset::VERSION, version, "4 or 5"));
        }
        let key_type = r.u16le("attestation key type")?;
        if key_type != ATT_KEY_ECDSA_P256 {
            return Err(field("attestation key type", header_offset::ATT_KEY_TYPE, key_type, "2 (ECDSA P-256)"));
        }
        let tee_type = u32::from_le_bytes(r.array("TEE type")?);
        if tee_type != TEE_TYPE_TDX {
            return Err(QuoteError::Field {
                field: "TEE type",
                offset: header_offset::TEE_TYPE,
                found: format!("{tee_type:#x}"),
                expected: "0x81 (TDX)".into(),
            });
        }
        let reserved: [u8; 4] = r.array("header reserved")?;
        if reserved != [0; 4] {
            return Err(field("header reserved", header_offset::RESERVED, hex::encode(reserved), "zero"));
        }
        let vendor: [u8; 16] = r.array("QE vendor id")?;
        if vendor != INTEL_QE_VENDOR_ID {
            return Err(field(
                "QE vendor id",
                header_offset::QE_VENDOR_ID,
                hex::encode(vendor),
                &hex::encode(INTEL_QE_VENDOR_ID),
            ));
        }
        let user_data = r.array("user data")?;

        let kind = if version == 4 {
            BodyKind::TdReport10
        } else {
            let at = r.offset();
            let body_type = r.u16le("body type")?;
            let body_size = u32::from_le_bytes(r.array("body size")?);
            let (kind, want) = match body_type {
                2 => (BodyKind::TdReport10, TD_REPORT10_LEN),
                3 => (BodyKind::TdReport15, TD_REPORT15_LEN),
                other => return Err(field("body type", at, other, "2 (TDX 1.0) or 3 (TDX 1.5)")),
            };
            if usize::try_from(body_size).ok() != Some(want) {
                return Err(field("body size", at + 2, body_size, &want.to_string()));
            }
            kind
        };
        let body_len = if kind == BodyKind::TdReport10 { TD_REPORT10_LEN } else { TD_REPORT15_LEN };
        let body_at = r.offset();
        let body = TdReport::parse(r.take("TD report", body_len)?, kind, body_at)?;
        let signed_len = r.offset();

        let sig_len_at = r.offset();
        let sig_len = len_u32(r.array("signature data length")?);
        let sig_data = r.take("signature data", sig_len)?;
        let trailing = r.remaining();

        let mut s = Reader::new(sig_data, sig_len_at + 4);
        let signature = s.array("quote signature")?;
        let attestation_key = s.array("attestation key")?;
        let ct_at = s.offset();
        let cert_type = s.u16le("certification data type")?;
        if cert_type != CERT_QE_REPORT {
            return Err(field("certification data type", ct_at, cert_type, "6 (QE report certification data)"));
        }
        let cert_size = len_u32(s.array("certification data size")?);
        let cert_at = s.offset();
        let cert = s.take("QE report certification data", cert_size)?;
        exactly_consumed(&s, "signature data", sig_len_at)?;

        let mut q = Reader::new(cert, cert_at);
        let qe_at = q.offset();
        let qe_report_raw = q.take("QE report", QE_REPORT_LEN)?;
        let qe_report = QeReport::parse(qe_report_raw, qe_at)?;
        let qe_report_signature = q.array("QE report signature")?;
        let auth_len = usize::from(q.u16le("QE authentication data size")?);
        let qe_auth_data = q.take("QE authentication data", auth_len)?;
        let inner_at = q.offset();
        let inner_type = q.u16le("PCK certification data type")?;
        if inner_type != CERT_PCK_CHAIN {
            return Err(field("PCK certification data type", inner_at, inner_type, "5 (PCK chain)"));
        }
        let inner_size = len_u32(q.array("PCK certification data size")?);
        let pck_chain_pem = q.take("PCK chain", inner_size)?;
        exactly_consumed(&q, "QE report certification data", cert_at)?;

        Ok(Self {
            raw,
            version,
            user_data,
            body,
            signed_len,
            signature,
            attestation_key,
            qe_report_raw,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            pck_chain_pem,
            trailing,
        })
    }

    /// The bytes the attestation key signed: header and body (with the v5 type/size) as received.
    pub fn signed(&self) -> &'a [u8] {
        &self.raw[..self.signed_len]
    }

    /// The quote bytes as received, trailing bytes included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

impl TdReport {
    fn parse(b: &[u8], kind: BodyKind, base: usize) -> Result<Self, QuoteError> {
        let mut r = Reader::new(b, base);
        let mut out = Self {
            kind,
            tee_tcb_svn: r.array("TEE_TCB_SVN")?,
            mr_seam: r.array("MRSEAM")?,
            mr_signer_seam: r.array("MRSIGNERSEAM")?,
            seam_attributes: r.array("SEAMATTRIBUTES")?,
            td_attributes: u64::from_le_bytes(r.array("TDATTRIBUTES")?),
            xfam: u64::from_le_bytes(r.array("XFAM")?),
            mr_td: r.array("MRTD")?,
            mr_config_id: r.array("MRCONFIGID")?,
            mr_owner: r.array("MROWNER")?,
            mr_owner_config: r.array("MROWNERCONFIG")?,
            rtmr: [r.array("RTMR0")?, r.array("RTMR1")?, r.array("RTMR2")?, r.array("RTMR3")?],
            report_data: r.array("REPORTDATA")?,
            tee_tcb_svn_2: None,
            mr_service_td: None,
        };
        if kind == BodyKind::TdReport15 {
            out.tee_tcb_svn_2 = Some(r.array("TEE_TCB_SVN_2")?);
            out.mr_service_td = Some(r.array("MRSERVICETD")?);
        }
        Ok(out)
    }
}

impl QeReport {
    fn parse(b: &[u8], base: usize) -> Result<Self, QuoteError> {
        for (start, len) in qe_offset::RESERVED {
            if b[start..start + len].iter().any(|x| *x != 0) {
                return Err(field("QE report reserved", base + start, hex::encode(&b[start..start + len]), "zero"));
            }
        }
        let arr = |at: usize, n: usize| &b[at..at + n];
        let mut cpu_svn = [0; 16];
        cpu_svn.copy_from_slice(arr(qe_offset::CPU_SVN, 16));
        let mut attributes = [0; 16];
        attributes.copy_from_slice(arr(qe_offset::ATTRIBUTES, 16));
        let mut mr_enclave = [0; 32];
        mr_enclave.copy_from_slice(arr(qe_offset::MR_ENCLAVE, 32));
        let mut mr_signer = [0; 32];
        mr_signer.copy_from_slice(arr(qe_offset::MR_SIGNER, 32));
        let mut report_data = [0; 64];
        report_data.copy_from_slice(arr(qe_offset::REPORT_DATA, 64));
        let u16at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        Ok(Self {
            cpu_svn,
            misc_select: u32::from_le_bytes([
                b[qe_offset::MISC_SELECT],
                b[qe_offset::MISC_SELECT + 1],
                b[qe_offset::MISC_SELECT + 2],
                b[qe_offset::MISC_SELECT + 3],
            ]),
            attributes,
            mr_enclave,
            mr_signer,
            isv_prod_id: u16at(qe_offset::ISV_PROD_ID),
            isv_svn: u16at(qe_offset::ISV_SVN),
            report_data,
        })
    }
}

fn field(name: &'static str, offset: usize, found: impl ToString, expected: &str) -> QuoteError {
    QuoteError::Field { field: name, offset, found: found.to_string(), expected: expected.to_owned() }
}

fn len_u32(b: [u8; 4]) -> usize {
    // A u32 always fits a usize on the targets we build for; saturate rather than cast.
    usize::try_from(u32::from_le_bytes(b)).unwrap_or(usize::MAX)
}

fn exactly_consumed(r: &Reader<'_>, what: &'static str, offset: usize) -> Result<(), QuoteError> {
    if r.remaining() == 0 {
        Ok(())
    } else {
        Err(QuoteError::Size { field: what, offset, reason: format!("{} bytes left over inside it", r.remaining()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_add_up() {
        assert_eq!(body_offset::REPORT_DATA + 64, TD_REPORT10_LEN);
        assert_eq!(body_offset::MR_SERVICE_TD + 48, TD_REPORT15_LEN);
        assert_eq!(qe_offset::REPORT_DATA + 64, QE_REPORT_LEN);
        assert_eq!(header_offset::USER_DATA + 20, HEADER_LEN);
    }

    #[test]
    fn empty_and_short_inputs_name_the_field() {
        let err = TdxQuote::parse(&[]).expect_err("empty");
        assert!(err.to_string().contains("version"), "{err}");
        let mut q = vec![4, 0, 2, 0, 0x81, 0, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&INTEL_QE_VENDOR_ID);
        q.extend_from_slice(&[0; 20]);
        let err = TdxQuote::parse(&q).expect_err("no body");
        assert!(err.to_string().contains("TD report at byte 48"), "{err}");
    }

    #[test]
    fn header_fields_are_strict() {
        let mut q = vec![4, 0, 2, 0, 0x81, 0, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&INTEL_QE_VENDOR_ID);
        q.extend_from_slice(&[0; 20]);
        for (at, bad, name) in [
            (0, 3, "version"),
            (2, 3, "attestation key type"),
            (4, 0, "TEE type"),
            (9, 1, "reserved"),
            (12, 0, "vendor"),
        ] {
            let mut m = q.clone();
            m[at] = bad;
            let err = TdxQuote::parse(&m).expect_err(name);
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }
}
