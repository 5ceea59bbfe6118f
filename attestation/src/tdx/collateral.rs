//! DCAP collateral for one TDX quote: the TCB info and QE identity (signed JSON, each with its issuer
//! chain), the PCK CRL (with its issuer chain) and the Intel root CA CRL — as Intel's PCS or a PCCS serves
//! them, or in the `QuoteCollateralV3` JSON form dcap-qvl and several verifiers exchange.
//!
//! Trusts: nothing. This module only takes the pieces apart, byte-exactly: a signed JSON document is kept
//! as the exact substring the signature covers, never re-serialized. The appraisal verifies every piece.

use serde::Deserialize;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Largest collateral document accepted (each piece; Intel's are ≤ 20 KB).
pub const MAX_COLLATERAL_LEN: usize = 256 * 1024;

/// Why collateral is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CollateralError {
    /// Over [`MAX_COLLATERAL_LEN`].
    #[error("{document} is {len} bytes, more than the {MAX_COLLATERAL_LEN}-byte limit")]
    TooLarge {
        /// Which document.
        document: &'static str,
        /// Its length.
        len: usize,
    },
    /// Not JSON of the expected shape.
    #[error("{document} does not parse: {reason}")]
    Json {
        /// Which document.
        document: &'static str,
        /// Why.
        reason: String,
    },
    /// A field of the wrong form.
    #[error("{document}: {reason}")]
    Field {
        /// Which document.
        document: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The collateral pieces, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxCollateral {
    /// The signed TCB info JSON (the exact bytes the signature covers).
    pub tcb_info: String,
    /// Its ECDSA P-256 signature, r‖s.
    pub tcb_info_signature: Vec<u8>,
    /// TCB Signing certificate and root, PEM.
    pub tcb_info_issuer_chain: Vec<u8>,
    /// The signed QE identity JSON.
    pub qe_identity: String,
    /// Its signature, r‖s.
    pub qe_identity_signature: Vec<u8>,
    /// Its issuer chain (the TCB Signing certificate and root), PEM.
    pub qe_identity_issuer_chain: Vec<u8>,
    /// The PCK CRL (Platform or Processor CA), DER.
    pub pck_crl: Vec<u8>,
    /// Its issuer chain (PCK CA and root), PEM.
    pub pck_crl_issuer_chain: Vec<u8>,
    /// Intel's root CA CRL, DER.
    pub root_ca_crl: Vec<u8>,
}

/// The PCS/PCCS responses of one collateral set, as fetched (bodies and issuer-chain headers).
#[derive(Debug, Clone, Copy)]
pub struct PcsResponses<'a> {
    /// Body of `GET /tdx/certification/v4/tcb?fmspc=…`: `{"tcbInfo":{…},"signature":"…"}`.
    pub tcb_info: &'a [u8],
    /// Its `TCB-Info-Issuer-Chain` header, URL-decoded PEM.
    pub tcb_info_issuer_chain: &'a [u8],
    /// Body of `GET /tdx/certification/v4/qe/identity`: `{"enclaveIdentity":{…},"signature":"…"}`.
    pub qe_identity: &'a [u8],
    /// Its `SGX-Enclave-Identity-Issuer-Chain` header, PEM.
    pub qe_identity_issuer_chain: &'a [u8],
    /// Body of `GET /sgx/certification/v4/pckcrl?ca=platform|processor` (DER, PEM or hex).
    pub pck_crl: &'a [u8],
    /// Its `SGX-PCK-CRL-Issuer-Chain` header, PEM.
    pub pck_crl_issuer_chain: &'a [u8],
    /// Intel's root CA CRL (DER, PEM or hex).
    pub root_ca_crl: &'a [u8],
}

#[derive(Deserialize)]
struct DcapQvlJson {
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    pck_crl: String,
    tcb_info_issuer_chain: String,
    tcb_info: String,
    tcb_info_signature: String,
    qe_identity_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
}

impl TdxCollateral {
    /// Reads dcap-qvl's `QuoteCollateralV3` JSON (CRLs and signatures as hex, chains as PEM).
    pub fn from_dcap_qvl_json(json: &[u8]) -> Result<Self, CollateralError> {
        limit("collateral JSON", json)?;
        let c: DcapQvlJson = serde_json::from_slice(json)
            .map_err(|e| CollateralError::Json { document: "collateral JSON", reason: e.to_string() })?;
        Ok(Self {
            tcb_info: c.tcb_info,
            tcb_info_signature: hex_field("collateral JSON", "tcb_info_signature", &c.tcb_info_signature)?,
            tcb_info_issuer_chain: c.tcb_info_issuer_chain.into_bytes(),
            qe_identity: c.qe_identity,
            qe_identity_signature: hex_field("collateral JSON", "qe_identity_signature", &c.qe_identity_signature)?,
            qe_identity_issuer_chain: c.qe_identity_issuer_chain.into_bytes(),
            pck_crl: crl_der("PCK CRL", c.pck_crl.as_bytes())?,
            pck_crl_issuer_chain: c.pck_crl_issuer_chain.into_bytes(),
            root_ca_crl: crl_der("root CA CRL", c.root_ca_crl.as_bytes())?,
        })
    }

    /// Assembles collateral from PCS/PCCS responses, keeping each signed JSON byte-exact.
    pub fn from_pcs(r: PcsResponses<'_>) -> Result<Self, CollateralError> {
        let (tcb_info, tcb_info_signature) = split_signed(r.tcb_info, "TCB info", "tcbInfo")?;
        let (qe_identity, qe_identity_signature) = split_signed(r.qe_identity, "QE identity", "enclaveIdentity")?;
        for (doc, b) in [
            ("TCB info issuer chain", r.tcb_info_issuer_chain),
            ("QE identity issuer chain", r.qe_identity_issuer_chain),
            ("PCK CRL issuer chain", r.pck_crl_issuer_chain),
        ] {
            limit(doc, b)?;
        }
        Ok(Self {
            tcb_info,
            tcb_info_signature,
            tcb_info_issuer_chain: r.tcb_info_issuer_chain.to_vec(),
            qe_identity,
            qe_identity_signature,
            qe_identity_issuer_chain: r.qe_identity_issuer_chain.to_vec(),
            pck_crl: crl_der("PCK CRL", r.pck_crl)?,
            pck_crl_issuer_chain: r.pck_crl_issuer_chain.to_vec(),
            root_ca_crl: crl_der("root CA CRL", r.root_ca_crl)?,
        })
    }
}

/// Splits a PCS response `{"<key>":{…},"signature":"<hex>"}` into the exact bytes of the signed object and
/// the decoded signature. The object must be the first member and the signature the second and last.
pub fn split_signed(body: &[u8], document: &'static str, key: &str) -> Result<(String, Vec<u8>), CollateralError> {
    limit(document, body)?;
    let bad = |reason: String| CollateralError::Field { document, reason };
    let text = std::str::from_utf8(body).map_err(|e| bad(format!("not UTF-8: {e}")))?.trim();
    let prefix = format!("{{\"{key}\":");
    let rest = text.strip_prefix(&prefix).ok_or_else(|| bad(format!("does not start with {prefix}")))?;
    let end = object_end(rest).ok_or_else(|| bad(format!("the {key} object is not closed")))?;
    let signed = &rest[..end];
    let tail = rest[end..].trim_start();
    let sig = tail
        .strip_prefix(",\"signature\":\"")
        .and_then(|t| t.strip_suffix("\"}"))
        .ok_or_else(|| bad(format!("after {key}, expected ,\"signature\":\"…\"}} and nothing else")))?;
    Ok((signed.to_owned(), hex_field(document, "signature", sig)?))
}

/// The length of the JSON object at the start of `s` (strings and escapes respected), if it closes.
fn object_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// A CRL as DER, from DER, PEM (`X509 CRL`) or hex text.
pub fn crl_der(document: &'static str, b: &[u8]) -> Result<Vec<u8>, CollateralError> {
    limit(document, b)?;
    let bad = |reason: String| CollateralError::Field { document, reason };
    if b.first() == Some(&0x30) {
        return Ok(b.to_vec());
    }
    let text = std::str::from_utf8(b).map_err(|_| bad("neither DER, PEM nor hex".into()))?.trim();
    if text.starts_with("-----BEGIN") {
        let p = pem::parse(text).map_err(|e| bad(format!("PEM: {e}")))?;
        if p.tag() != "X509 CRL" {
            return Err(bad(format!("PEM label {:?}, expected X509 CRL", p.tag())));
        }
        return Ok(p.into_contents());
    }
    hex_field(document, "CRL", text)
}

fn limit(document: &'static str, b: &[u8]) -> Result<(), CollateralError> {
    if b.len() > MAX_COLLATERAL_LEN { Err(CollateralError::TooLarge { document, len: b.len() }) } else { Ok(()) }
}

fn hex_field(document: &'static str, field: &str, s: &str) -> Result<Vec<u8>, CollateralError> {
    hex::decode(s).map_err(|e| CollateralError::Field { document, reason: format!("{field} is not hex: {e}") })
}

/// A fixed-length hex field (either case).
pub(super) fn hex_array<const N: usize>(
    document: &'static str,
    field: &str,
    s: &str,
) -> Result<[u8; N], CollateralError> {
    let v = hex_field(document, field, s)?;
    v.try_into().map_err(|v: Vec<u8>| CollateralError::Field {
        document,
        reason: format!("{field} is {} bytes, expected {N}", v.len()),
    })
}

/// An RFC 3339 timestamp field.
pub(super) fn parse_time(document: &'static str, field: &str, s: &str) -> Result<OffsetDateTime, CollateralError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| CollateralError::Field { document, reason: format!("{field} {s:?} is not RFC 3339: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_signed_keeps_exact_bytes() {
        let body = br#"{"tcbInfo":{"a":"}\"{","b":[1,{"c":2}]},"signature":"0a0b"}"#;
        let (signed, sig) = split_signed(body, "TCB info", "tcbInfo").expect("splits");
        assert_eq!(signed, r#"{"a":"}\"{","b":[1,{"c":2}]}"#);
        assert_eq!(sig, vec![0x0a, 0x0b]);
    }

    #[test]
    fn split_signed_refuses_other_shapes() {
        for body in [
            &br#"{"signature":"00","tcbInfo":{}}"#[..],
            br#"{"tcbInfo":{"a":1}"#,
            br#"{"tcbInfo":{},"signature":"00","x":1}"#,
            br#"{"tcbInfo":{},"signature":"zz"}"#,
        ] {
            assert!(split_signed(body, "TCB info", "tcbInfo").is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
