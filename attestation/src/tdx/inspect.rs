//! The time-independent parts of the TDX appraisal that a [`VerifierCache`] may remember, each keyed by
//! every byte it depends on: a collateral document's signature under its signer certificate, with the
//! document parsed; a CRL's signature under its issuer's key. Validity windows, chains to the anchor and
//! revocation lists are judged on every appraisal. PEM chains are remembered decoded (syntax only).

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::checks::verify_p256;
use super::qe_identity::QeIdentity;
use super::tcb_info::TcbInfo;
use crate::cache::VerifierCache;
use crate::crypto::ecdsa_hash;
use crate::x509::{CertChain, leaf_public_key, parse_one};

/// A TCB info whose signature verified under the signer, parsed.
pub(super) struct SignedTcbInfo(pub Result<TcbInfo, String>);
/// A QE identity whose signature verified under the signer, parsed.
pub(super) struct SignedQeIdentity(pub Result<QeIdentity, String>);
/// Whether a CRL's signature verified under an issuer key.
struct CrlSignature(Result<(), String>);
/// A PEM chain decoded, each certificate parsed once (its validation is not cached).
struct PemChain(Result<CertChain, String>);

/// Decodes a PEM chain (PEM and X.509 syntax only; nothing about it is verified here).
pub(super) fn chain(cache: Option<&VerifierCache>, pem: &[u8]) -> Result<CertChain, String> {
    let inspect: fn(&[u8]) -> PemChain = |p| PemChain(CertChain::from_pem(p).map_err(|e| e.to_string()));
    match cache {
        Some(c) => c.inspection(pem, inspect).0.clone(),
        None => inspect(pem).0,
    }
}

/// Verifies `signature` over the TCB info `json` with `signer_der`'s key and parses it.
pub(super) fn tcb_info(
    cache: Option<&VerifierCache>,
    signer_der: &[u8],
    json: &[u8],
    signature: &[u8],
) -> Result<TcbInfo, String> {
    let framed = frame(&[signer_der, json, signature]);
    let inspect: fn(&[u8]) -> SignedTcbInfo =
        |f| SignedTcbInfo(signed(f, "TCB info").and_then(|d| TcbInfo::parse(d).map_err(|e| e.to_string())));
    match cache {
        Some(c) => c.inspection(&framed, inspect).0.clone(),
        None => inspect(&framed).0,
    }
}

/// Verifies `signature` over the QE identity `json` with `signer_der`'s key and parses it.
pub(super) fn qe_identity(
    cache: Option<&VerifierCache>,
    signer_der: &[u8],
    json: &[u8],
    signature: &[u8],
) -> Result<QeIdentity, String> {
    let framed = frame(&[signer_der, json, signature]);
    let inspect: fn(&[u8]) -> SignedQeIdentity =
        |f| SignedQeIdentity(signed(f, "QE identity").and_then(|d| QeIdentity::parse(d).map_err(|e| e.to_string())));
    match cache {
        Some(c) => c.inspection(&framed, inspect).0.clone(),
        None => inspect(&framed).0,
    }
}

/// Verifies the signature of the CRL `der` with `issuer_der`'s key.
pub(super) fn crl_signature(cache: Option<&VerifierCache>, issuer_der: &[u8], der: &[u8]) -> Result<(), String> {
    let framed = frame(&[issuer_der, der]);
    let inspect: fn(&[u8]) -> CrlSignature = |f| CrlSignature(crl_signed(f));
    match cache {
        Some(c) => c.inspection(&framed, inspect).0.clone(),
        None => inspect(&framed).0,
    }
}

/// The document of a framed (signer, document, signature) whose P-256 signature verifies, as UTF-8.
fn signed<'a>(framed: &'a [u8], what: &str) -> Result<&'a str, String> {
    let [signer, doc, sig] = unframe::<3>(framed).ok_or("bad frame")?;
    let cert = parse_one(signer).map_err(|e| format!("the {what} signer: {e}"))?;
    if leaf_public_key(&cert).map(|k| k.curve()).ok() != Some(crate::crypto::Curve::P256) || sig.len() != 64 {
        return Err(format!("the {what} signature is not ECDSA P-256 r‖s"));
    }
    if !verify_p256(&cert.public_key().subject_public_key.data, doc, sig) {
        return Err(format!("the {what} signature does not verify over the document as received"));
    }
    std::str::from_utf8(doc).map_err(|e| format!("the {what} is not UTF-8: {e}"))
}

fn crl_signed(framed: &[u8]) -> Result<(), String> {
    let [issuer, der] = unframe::<2>(framed).ok_or("bad frame")?;
    let cert = parse_one(issuer)?;
    let (_, crl) = CertificateRevocationList::from_der(der).map_err(|e| e.to_string())?;
    let key = leaf_public_key(&cert).map_err(|e| e.to_string())?;
    let hash = ecdsa_hash(crl.signature_algorithm.algorithm.as_bytes()).map_err(|e| e.to_string())?;
    key.verify_der(hash, crl.tbs_cert_list.as_ref(), &crl.signature_value.data).map_err(|e| e.to_string())
}

/// Length-prefixed parts, so that no two inputs frame to the same bytes.
fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
    for p in parts {
        out.extend_from_slice(&u64::try_from(p.len()).unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn unframe<const N: usize>(mut b: &[u8]) -> Option<[&[u8]; N]> {
    let mut out = [&b[..0]; N];
    for slot in &mut out {
        let (len, rest) = b.split_at_checked(8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        let (part, rest) = rest.split_at_checked(len)?;
        *slot = part;
        b = rest;
    }
    b.is_empty().then_some(out)
}
