//! The firmware identity (FWID) an NVIDIA attestation certificate carries, to be compared with the FWID
//! in the signed report.
//!
//! Two encodings exist, both parsed structurally (never "take the last 48 bytes"):
//! - Hopper, extension 2.23.133.5.4.1: `SEQUENCE { INTEGER, SubjectPublicKeyInfo, SEQUENCE { OID sha384,
//!   OCTET STRING(48) } }`;
//! - Blackwell, extension 2.23.133.5.4.1.1: a TCG DICE `TcbInfo` whose `fwids [6]` list starts with
//!   `SEQUENCE { OID sha384, OCTET STRING(48) }`.
//!
//! A certificate carrying more than one FWID extension is refused as ambiguous.

use thiserror::Error;
use x509_parser::certificate::X509Certificate;

use crate::der::{DerError, DerReader, tag};
use crate::oid;

/// An FWID extension that is present but not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FwidError {
    /// Malformed DER.
    #[error("FWID extension {oid}: {source}")]
    Der {
        /// Extension OID.
        oid: String,
        /// DER problem.
        source: DerError,
    },
    /// Well-formed but not the shape we know.
    #[error("FWID extension {oid}: {reason}")]
    Shape {
        /// Extension OID.
        oid: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than one FWID-bearing extension.
    #[error("certificate carries more than one FWID extension")]
    Ambiguous,
}

/// The FWID of a leaf certificate: `Ok(None)` when it carries no FWID extension.
pub fn leaf_fwid(cert: &X509Certificate<'_>) -> Result<Option<[u8; 48]>, FwidError> {
    let mut found = None;
    for ext in cert.extensions() {
        let ext_oid = ext.oid.as_bytes();
        if ext_oid != oid::TCG_DICE_TCB_INFO && ext_oid != oid::TCG_DICE_TCB_INFO_1 {
            continue;
        }
        if found.is_some() {
            return Err(FwidError::Ambiguous);
        }
        let dotted = oid::dotted(ext_oid);
        let der_err = |source| FwidError::Der { oid: dotted.clone(), source };
        let shape = |reason| FwidError::Shape { oid: dotted.clone(), reason };
        let mut outer = DerReader::new(ext.value);
        let body = outer.expect(tag::SEQUENCE).map_err(der_err)?;
        outer.finish().map_err(der_err)?;
        let mut r = DerReader::new(body.value);
        let digest = if r.peek_tag() == Some(tag::INTEGER) {
            // Hopper composite form.
            r.expect(tag::INTEGER).map_err(der_err)?;
            r.expect(tag::SEQUENCE).map_err(der_err)?;
            let fwid = r.expect(tag::SEQUENCE).map_err(der_err)?;
            r.finish().map_err(der_err)?;
            hash_value(fwid.value, &dotted)?
        } else {
            // DICE TcbInfo: context-tagged optional fields; fwids is [6] constructed.
            const FWIDS: u8 = 0xA6;
            let mut fwids = None;
            while !r.is_empty() {
                let field = r.read().map_err(der_err)?;
                if field.tag & 0xC0 != 0x80 {
                    return Err(shape("TcbInfo field is not context-tagged"));
                }
                if field.tag == FWIDS {
                    fwids = Some(field.value);
                }
            }
            let fwids = fwids.ok_or_else(|| shape("TcbInfo has no fwids"))?;
            let mut list = DerReader::new(fwids);
            let first = list.expect(tag::SEQUENCE).map_err(der_err)?;
            hash_value(first.value, &dotted)?
        };
        let fwid: [u8; 48] = digest.try_into().map_err(|_| shape("FWID is not a 48-byte SHA-384 digest"))?;
        found = Some((fwid, dotted));
    }
    Ok(found.map(|(fwid, _)| fwid))
}

/// `SEQUENCE { OID, OCTET STRING }` content → the digest bytes, requiring SHA-384.
fn hash_value<'a>(seq: &'a [u8], dotted: &str) -> Result<&'a [u8], FwidError> {
    let der_err = |source| FwidError::Der { oid: dotted.to_owned(), source };
    let mut r = DerReader::new(seq);
    let alg = r.expect(tag::OID).map_err(der_err)?;
    if alg.value != oid::SHA384 {
        return Err(FwidError::Shape { oid: dotted.to_owned(), reason: "FWID hash algorithm is not SHA-384" });
    }
    let digest = r.expect(tag::OCTET_STRING).map_err(der_err)?;
    r.finish().map_err(der_err)?;
    Ok(digest.value)
}
