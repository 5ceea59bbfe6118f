//! The versioned endorsement key certificate that signs a report: a VCEK (one per chip and TCB) or a VLEK
//! (one per cloud provider and TCB), and the AMD extensions that bind it to a chip and a TCB (AMD "VCEK
//! Certificate and KDS Interface Specification", 57230, and "VLEK Certificate Specification", 58369).
//!
//! Extensions under 1.3.6.1.4.1.3704.1: `.1` structVersion, `.2` productName (IA5String, `Milan-B0`),
//! `.3.1` blSPL, `.3.2` teeSPL, `.3.3` snpSPL, `.3.4`–`.3.7` reserved SPLs, `.3.8` ucodeSPL, `.3.9` fmcSPL
//! (Turin), each a DER INTEGER; `.4` hwID, the chip's CHIP_ID as raw bytes (64 for Milan/Genoa, 8 for
//! Turin; some certificates wrap it in a DER OCTET STRING, which is accepted too); `.5` cspID (VLEK, the
//! provider's name). A duplicated AMD extension, or one that does not decode, is refused.

use serde::Serialize;
use thiserror::Error;
use x509_parser::certificate::X509Certificate;

use super::report::key_info;
use super::roots::Intermediate;
use crate::der::{self, DerError, tag};
use crate::oid;

/// DER content of 1.3.6.1.4.1.3704.1 (AMD SEV).
const AMD_SEV: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01];

/// Which kind of endorsement key signed the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VekKind {
    /// Versioned Chip Endorsement Key: one chip, one TCB.
    Vcek,
    /// Versioned Loaded Endorsement Key: one cloud provider, one TCB.
    Vlek,
}

impl VekKind {
    /// "VCEK" or "VLEK".
    pub fn name(self) -> &'static str {
        match self {
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        }
    }

    /// The kind of key the intermediate issues.
    pub(crate) fn issued_by(intermediate: Intermediate) -> Self {
        match intermediate {
            Intermediate::Ask => Self::Vcek,
            Intermediate::Asvk => Self::Vlek,
        }
    }

    /// The report's KEY_INFO.SIGNING_KEY value for this kind.
    pub(crate) fn signing_key_value(self) -> u32 {
        match self {
            Self::Vcek => key_info::SIGNING_KEY_VCEK,
            Self::Vlek => key_info::SIGNING_KEY_VLEK,
        }
    }
}

/// A certificate's input form was neither one DER certificate nor one PEM CERTIFICATE block.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VekInputError {
    /// PEM that does not hold exactly one certificate.
    #[error("VCEK/VLEK PEM: {0}")]
    Pem(String),
}

/// The DER of a VCEK/VLEK given as DER or as PEM (one `CERTIFICATE` block).
pub fn vek_der(input: &[u8]) -> Result<Vec<u8>, VekInputError> {
    let trimmed = input.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN") {
        return Ok(input.to_vec());
    }
    let blocks = pem::parse_many(trimmed).map_err(|e| VekInputError::Pem(e.to_string()))?;
    match <[pem::Pem; 1]>::try_from(blocks) {
        Ok([block]) if block.tag() == "CERTIFICATE" => Ok(block.into_contents()),
        Ok([block]) => Err(VekInputError::Pem(format!("the PEM block is a {}, not a CERTIFICATE", block.tag()))),
        Err(blocks) => Err(VekInputError::Pem(format!("{} PEM blocks, expected exactly one", blocks.len()))),
    }
}

/// An AMD extension that is present but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VekExtensionError {
    /// Malformed DER inside the extension.
    #[error("extension {oid}: {source}")]
    Der {
        /// Dotted OID.
        oid: String,
        /// DER problem.
        source: DerError,
    },
    /// Well-formed but not the value we expect.
    #[error("extension {oid}: {reason}")]
    Value {
        /// Dotted OID.
        oid: String,
        /// What is wrong.
        reason: String,
    },
    /// The same AMD extension twice.
    #[error("extension {0} appears more than once")]
    Duplicate(String),
}

/// The AMD extensions of a VCEK/VLEK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VekExtensions {
    /// structVersion.
    pub struct_version: Option<u8>,
    /// productName, e.g. `Milan-B0`.
    pub product_name: Option<String>,
    /// blSPL.
    pub bootloader: Option<u8>,
    /// teeSPL.
    pub tee: Option<u8>,
    /// snpSPL.
    pub snp: Option<u8>,
    /// ucodeSPL.
    pub microcode: Option<u8>,
    /// fmcSPL (Turin).
    pub fmc: Option<u8>,
    /// hwID (VCEK only).
    pub hw_id: Option<Vec<u8>>,
    /// cspID (VLEK only).
    pub csp_id: Option<String>,
}

impl VekExtensions {
    /// Reads the AMD extensions of `cert`; other extensions are ignored here (path validation judges
    /// critical ones).
    pub fn read(cert: &X509Certificate<'_>) -> Result<Self, VekExtensionError> {
        let mut out = Self::default();
        let mut seen: Vec<&[u8]> = Vec::new();
        for ext in cert.extensions() {
            let ext_oid = ext.oid.as_bytes();
            let Some(arc) = ext_oid.strip_prefix(AMD_SEV) else { continue };
            if seen.contains(&arc) {
                return Err(VekExtensionError::Duplicate(oid::dotted(ext_oid)));
            }
            seen.push(arc);
            let dotted = || oid::dotted(ext_oid);
            let value = ext.value;
            match arc {
                [1] => out.struct_version = Some(spl(value, dotted)?),
                [2] => out.product_name = Some(string(value, dotted)?),
                [3, 1] => out.bootloader = Some(spl(value, dotted)?),
                [3, 2] => out.tee = Some(spl(value, dotted)?),
                [3, 3] => out.snp = Some(spl(value, dotted)?),
                [3, 4..=7] => {
                    spl(value, dotted)?;
                }
                [3, 8] => out.microcode = Some(spl(value, dotted)?),
                [3, 9] => out.fmc = Some(spl(value, dotted)?),
                [4] => out.hw_id = Some(hw_id(value, dotted)?),
                [5] => out.csp_id = Some(string(value, dotted)?),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// A DER INTEGER in 0..=255.
fn spl(value: &[u8], dotted: impl Fn() -> String) -> Result<u8, VekExtensionError> {
    let content =
        der::single(value, tag::INTEGER).map_err(|source| VekExtensionError::Der { oid: dotted(), source })?;
    let bad = |reason: &str| VekExtensionError::Value { oid: dotted(), reason: reason.to_owned() };
    match content {
        [b] if *b < 0x80 => Ok(*b),
        [0, b] if *b >= 0x80 => Ok(*b),
        [] => Err(bad("empty INTEGER")),
        [b, ..] if *b >= 0x80 => Err(bad("negative SPL")),
        _ => Err(bad("SPL above 255 or not minimally encoded")),
    }
}

/// An IA5String (or UTF8String) of printable ASCII.
fn string(value: &[u8], dotted: impl Fn() -> String) -> Result<String, VekExtensionError> {
    let mut r = der::DerReader::new(value);
    let tlv = r.read().map_err(|source| VekExtensionError::Der { oid: dotted(), source })?;
    r.finish().map_err(|source| VekExtensionError::Der { oid: dotted(), source })?;
    const IA5_STRING: u8 = 0x16;
    const UTF8_STRING: u8 = 0x0c;
    if tlv.tag != IA5_STRING && tlv.tag != UTF8_STRING {
        return Err(VekExtensionError::Value {
            oid: dotted(),
            reason: format!("tag {:#04x} is not a string", tlv.tag),
        });
    }
    if !tlv.value.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Err(VekExtensionError::Value { oid: dotted(), reason: "not printable ASCII".into() });
    }
    Ok(String::from_utf8_lossy(tlv.value).into_owned())
}

/// hwID: 64 (Milan/Genoa) or 8 (Turin) raw bytes, or the same wrapped in one DER OCTET STRING.
fn hw_id(value: &[u8], dotted: impl Fn() -> String) -> Result<Vec<u8>, VekExtensionError> {
    const LENGTHS: [usize; 2] = [8, 64];
    if LENGTHS.contains(&value.len()) {
        return Ok(value.to_vec());
    }
    match der::single(value, tag::OCTET_STRING) {
        Ok(inner) if LENGTHS.contains(&inner.len()) => Ok(inner.to_vec()),
        _ => Err(VekExtensionError::Value {
            oid: dotted(),
            reason: format!("{} bytes, expected 8 or 64 (raw or as an OCTET STRING)", value.len()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> String {
        "1.3.6.1.4.1.3704.1.3.1".into()
    }

    #[test]
    fn spls_are_small_non_negative_integers() {
        assert_eq!(spl(&[0x02, 0x01, 0x73], name), Ok(0x73));
        assert_eq!(spl(&[0x02, 0x02, 0x00, 0xa9], name), Ok(0xa9));
        assert!(spl(&[0x02, 0x01, 0xa9], name).is_err());
        assert!(spl(&[0x02, 0x02, 0x01, 0x00], name).is_err());
        assert!(spl(&[0x02, 0x02, 0x00, 0x05], name).is_err());
        assert!(spl(&[0x04, 0x01, 0x05], name).is_err());
        assert!(spl(&[0x02, 0x01, 0x05, 0x00], name).is_err());
    }

    #[test]
    fn hw_id_raw_or_wrapped() {
        assert_eq!(hw_id(&[7; 64], name), Ok(vec![7; 64]));
        assert_eq!(hw_id(&[7; 8], name), Ok(vec![7; 8]));
        let mut wrapped = vec![0x04, 0x40];
        wrapped.extend([9; 64]);
        assert_eq!(hw_id(&wrapped, name), Ok(vec![9; 64]));
        assert!(hw_id(&[7; 63], name).is_err());
        assert!(hw_id(&[0x04, 0x02, 1, 2], name).is_err());
    }

    #[test]
    fn strings_and_pem_input() {
        assert_eq!(string(&[0x16, 0x05, b'G', b'e', b'n', b'o', b'a'], name), Ok("Genoa".into()));
        assert!(string(&[0x04, 0x01, b'G'], name).is_err());
        assert!(string(&[0x16, 0x01, 0x00], name).is_err());
        assert_eq!(vek_der(&[0x30, 0x00]), Ok(vec![0x30, 0x00]));
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE", vec![0x30, 0x00]));
        assert_eq!(vek_der(format!("\n{pem}").as_bytes()), Ok(vec![0x30, 0x00]));
        let key = pem::encode(&pem::Pem::new("PUBLIC KEY", vec![0x30, 0x00]));
        assert!(vek_der(key.as_bytes()).is_err());
        assert!(vek_der(format!("{pem}{pem}").as_bytes()).is_err());
    }
}
