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
        found = Some(extension_fwid(ext_oid, ext.value)?);
    }
    Ok(found)
}

/// The FWID in the value of an FWID-bearing extension `ext_oid` (DER content bytes of the OID).
fn extension_fwid(ext_oid: &[u8], value: &[u8]) -> Result<[u8; 48], FwidError> {
    /// TcbInfo `fwids [6] IMPLICIT SEQUENCE OF FWID`: context class, constructed, number 6.
    const FWIDS: u8 = 0xA6;
    let dotted = oid::dotted(ext_oid);
    let der_err = |source| FwidError::Der { oid: dotted.clone(), source };
    let shape = |reason| FwidError::Shape { oid: dotted.clone(), reason };
    let mut outer = DerReader::new(value);
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
        // DICE TcbInfo: every field OPTIONAL and context-tagged, each at most once, in tag order.
        let mut fwids = None;
        let mut last: Option<u8> = None;
        while !r.is_empty() {
            let field = r.read().map_err(der_err)?;
            if field.tag & 0xC0 != 0x80 {
                return Err(shape("TcbInfo field is not context-tagged"));
            }
            let number = field.tag & 0x1f;
            if last.is_some_and(|l| number <= l) {
                return Err(shape("TcbInfo fields are repeated or out of order"));
            }
            last = Some(number);
            if number == FWIDS & 0x1f {
                if field.tag != FWIDS {
                    return Err(shape("TcbInfo fwids is not a constructed [6]"));
                }
                fwids = Some(field.value);
            }
        }
        let fwids = fwids.ok_or_else(|| shape("TcbInfo has no fwids"))?;
        // Every entry must be a well-formed FWID; the first is the one the report carries.
        let mut list = DerReader::new(fwids);
        let mut first = None;
        while !list.is_empty() {
            let entry = list.expect(tag::SEQUENCE).map_err(der_err)?;
            let mut e = DerReader::new(entry.value);
            e.expect(tag::OID).map_err(der_err)?;
            e.expect(tag::OCTET_STRING).map_err(der_err)?;
            e.finish().map_err(der_err)?;
            first = first.or(Some(entry.value));
        }
        hash_value(first.ok_or_else(|| shape("TcbInfo fwids is empty"))?, &dotted)?
    };
    digest.try_into().map_err(|_| shape("FWID is not a 48-byte SHA-384 digest"))
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

#[cfg(test)]
mod tests {
    use ccgpu_test_support::require_testdata_bytes;

    use super::*;
    use crate::x509::{CertChain, parse_one};

    const SDK_GPU: &str =
        "nvidia/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata/sample_attestation_data/gpu";

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = u16::try_from(content.len()).expect("test element under 64 KiB").to_be_bytes();
        match content.len() {
            n if n < 0x80 => out.push(len[1]),
            n if n < 0x100 => out.extend([0x81, len[1]]),
            _ => out.extend([0x82, len[0], len[1]]),
        }
        out.extend_from_slice(content);
        out
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn fwid_entry(alg: &[u8], digest: &[u8]) -> Vec<u8> {
        der(tag::SEQUENCE, &cat(&[der(tag::OID, alg), der(tag::OCTET_STRING, digest)]))
    }

    const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

    /// Hopper's composite form around `fwid` (the SPKI is a placeholder SEQUENCE: it is not interpreted).
    fn hopper(fwid: &[u8]) -> Vec<u8> {
        der(tag::SEQUENCE, &cat(&[der(tag::INTEGER, &[1]), der(tag::SEQUENCE, &[]), fwid.to_vec()]))
    }

    /// A DICE TcbInfo with `fields` (each a complete context-tagged element).
    fn tcb_info(fields: &[Vec<u8>]) -> Vec<u8> {
        der(tag::SEQUENCE, &cat(fields))
    }

    fn shape(oid: &[u8], reason: &'static str) -> Result<[u8; 48], FwidError> {
        Err(FwidError::Shape { oid: oid::dotted(oid), reason })
    }

    fn der_err(oid: &[u8], source: DerError) -> Result<[u8; 48], FwidError> {
        Err(FwidError::Der { oid: oid::dotted(oid), source })
    }

    const H: &[u8] = oid::TCG_DICE_TCB_INFO;
    const B: &[u8] = oid::TCG_DICE_TCB_INFO_1;

    #[test]
    fn hopper_composite_form() {
        let digest = [0x5a; 48];
        assert_eq!(extension_fwid(H, &hopper(&fwid_entry(oid::SHA384, &digest))), Ok(digest));
        assert_eq!(
            extension_fwid(H, &hopper(&fwid_entry(SHA256, &[0; 32]))),
            shape(H, "FWID hash algorithm is not SHA-384")
        );
        assert_eq!(
            extension_fwid(H, &hopper(&fwid_entry(oid::SHA384, &[0; 47]))),
            shape(H, "FWID is not a 48-byte SHA-384 digest")
        );
        // One more element after the FWID, bytes after the outer SEQUENCE, and a missing FWID.
        let mut extra = hopper(&cat(&[fwid_entry(oid::SHA384, &digest), der(tag::INTEGER, &[0])]));
        assert_eq!(extension_fwid(H, &extra), der_err(H, DerError::Trailing(3)));
        extra = hopper(&fwid_entry(oid::SHA384, &digest));
        extra.push(0);
        assert_eq!(extension_fwid(H, &extra), der_err(H, DerError::Trailing(1)));
        let no_fwid = der(tag::SEQUENCE, &cat(&[der(tag::INTEGER, &[1]), der(tag::SEQUENCE, &[])]));
        assert_eq!(extension_fwid(H, &no_fwid), der_err(H, DerError::Truncated(5)));
        // The digest must be an OCTET STRING inside SEQUENCE { OID, OCTET STRING } and nothing more.
        let bit_string = der(tag::SEQUENCE, &cat(&[der(tag::OID, oid::SHA384), der(tag::BIT_STRING, &digest)]));
        assert_eq!(
            extension_fwid(H, &hopper(&bit_string)),
            der_err(H, DerError::UnexpectedTag { offset: 11, expected: tag::OCTET_STRING, found: tag::BIT_STRING })
        );
        let three = der(
            tag::SEQUENCE,
            &cat(&[der(tag::OID, oid::SHA384), der(tag::OCTET_STRING, &digest), der(tag::INTEGER, &[0])]),
        );
        assert_eq!(extension_fwid(H, &hopper(&three)), der_err(H, DerError::Trailing(3)));
    }

    #[test]
    fn outer_encoding_is_strict() {
        let digest = [1; 48];
        let good = hopper(&fwid_entry(oid::SHA384, &digest));
        assert_eq!(extension_fwid(H, &good[..good.len() - 1]), der_err(H, DerError::Truncated(2)));
        assert_eq!(extension_fwid(H, &[]), der_err(H, DerError::Truncated(0)));
        let mut set = good.clone();
        set[0] = 0x31;
        assert_eq!(
            extension_fwid(H, &set),
            der_err(H, DerError::UnexpectedTag { offset: 0, expected: tag::SEQUENCE, found: 0x31 })
        );
        // Indefinite length (BER, not DER).
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend_from_slice(&good[2..]);
        indefinite.extend([0, 0]);
        assert_eq!(extension_fwid(H, &indefinite), der_err(H, DerError::BadLength(1)));
    }

    #[test]
    fn dice_tcb_info_form() {
        let digest = [0xc3; 48];
        let vendor = der(0x80, b"NVIDIA");
        let fwids = |entries: &[Vec<u8>]| der(0xA6, &cat(entries));
        let flags = der(0x87, &[0, 0x80, 0, 0, 1]);
        let ok = tcb_info(&[
            vendor.clone(),
            fwids(&[fwid_entry(oid::SHA384, &digest), fwid_entry(oid::SHA384, &[0; 48])]),
            flags.clone(),
        ]);
        assert_eq!(extension_fwid(B, &ok), Ok(digest));
        // A TcbInfo under the Hopper OID is read as a TcbInfo too (the shape, not the OID, decides).
        assert_eq!(extension_fwid(H, &ok), Ok(digest));

        assert_eq!(extension_fwid(B, &tcb_info(&[vendor.clone(), flags.clone()])), shape(B, "TcbInfo has no fwids"));
        assert_eq!(extension_fwid(B, &tcb_info(&[])), shape(B, "TcbInfo has no fwids"));
        assert_eq!(extension_fwid(B, &tcb_info(&[fwids(&[])])), shape(B, "TcbInfo fwids is empty"));
        assert_eq!(
            extension_fwid(B, &tcb_info(&[der(0x0c, b"NVIDIA"), fwids(&[fwid_entry(oid::SHA384, &digest)])])),
            shape(B, "TcbInfo field is not context-tagged")
        );
        // A second fwids field must not override the first, and fields come in tag order.
        let twice =
            tcb_info(&[fwids(&[fwid_entry(oid::SHA384, &digest)]), fwids(&[fwid_entry(oid::SHA384, &[9; 48])])]);
        assert_eq!(extension_fwid(B, &twice), shape(B, "TcbInfo fields are repeated or out of order"));
        let reordered = tcb_info(&[fwids(&[fwid_entry(oid::SHA384, &digest)]), vendor.clone()]);
        assert_eq!(extension_fwid(B, &reordered), shape(B, "TcbInfo fields are repeated or out of order"));
        let primitive = tcb_info(&[der(0x86, &fwid_entry(oid::SHA384, &digest))]);
        assert_eq!(extension_fwid(B, &primitive), shape(B, "TcbInfo fwids is not a constructed [6]"));
        // Every entry must be well-formed, not just the first; the first must be SHA-384 of 48 bytes.
        let bad_second =
            tcb_info(&[fwids(&[fwid_entry(oid::SHA384, &digest), der(tag::SEQUENCE, &der(tag::OID, SHA256))])]);
        assert_eq!(extension_fwid(B, &bad_second), der_err(B, DerError::Truncated(11)));
        let sha256_first = tcb_info(&[fwids(&[fwid_entry(SHA256, &[0; 32]), fwid_entry(oid::SHA384, &digest)])]);
        assert_eq!(extension_fwid(B, &sha256_first), shape(B, "FWID hash algorithm is not SHA-384"));
        let short = tcb_info(&[fwids(&[fwid_entry(oid::SHA384, &[0; 32])])]);
        assert_eq!(extension_fwid(B, &short), shape(B, "FWID is not a 48-byte SHA-384 digest"));
        let not_seq = tcb_info(&[fwids(&[der(tag::OCTET_STRING, &digest)])]);
        assert_eq!(
            extension_fwid(B, &not_seq),
            der_err(B, DerError::UnexpectedTag { offset: 0, expected: tag::SEQUENCE, found: tag::OCTET_STRING })
        );
    }

    /// NVIDIA's real certificates: Hopper's composite extension and Blackwell's TcbInfo.
    #[test]
    fn real_hopper_and_blackwell_extensions() {
        for (rel, oid_bytes) in [
            ("nvidia/h100-550.90.07/cert-chain.pem".to_owned(), H),
            (format!("{SDK_GPU}/hopperCertChain.txt"), H),
            (format!("{SDK_GPU}/blackwellCertChain.txt"), B),
        ] {
            let chain = CertChain::from_pem(&require_testdata_bytes!(&rel)).expect("chain");
            let leaf = parse_one(&chain.ders()[0]).expect("leaf");
            let exts: Vec<_> = leaf.extensions().iter().filter(|e| e.oid.as_bytes() == oid_bytes).collect();
            assert_eq!(exts.len(), 1, "{rel}");
            let fwid = extension_fwid(oid_bytes, exts[0].value).expect("well-formed");
            assert_eq!(leaf_fwid(&leaf), Ok(Some(fwid)), "{rel}");
            // Cutting the extension value anywhere is refused, never read as a shorter FWID.
            for cut in 0..exts[0].value.len() {
                assert!(extension_fwid(oid_bytes, &exts[0].value[..cut]).is_err(), "{rel} cut at {cut}");
            }
            // Intermediate certificates carry no FWID.
            let ca = parse_one(&chain.ders()[1]).expect("CA");
            assert_eq!(leaf_fwid(&ca), Ok(None), "{rel}");
        }
    }

    #[test]
    fn two_fwid_extensions_are_ambiguous() {
        let value = hopper(&fwid_entry(oid::SHA384, &[7; 48]));
        let mut params = rcgen::CertificateParams::new(vec!["fwid.test".to_owned()]).expect("params");
        params.custom_extensions = vec![
            rcgen::CustomExtension::from_oid_content(&[2, 23, 133, 5, 4, 1], value.clone()),
            rcgen::CustomExtension::from_oid_content(&[2, 23, 133, 5, 4, 1, 1], value.clone()),
        ];
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let parsed = parse_one(cert.der()).expect("parses");
        assert_eq!(leaf_fwid(&parsed), Err(FwidError::Ambiguous));

        params.custom_extensions.truncate(1);
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(leaf_fwid(&parse_one(cert.der()).expect("parses")), Ok(Some([7; 48])));
    }
}
