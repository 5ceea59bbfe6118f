//! Digests and signature verification, backed by aws-lc-rs.
//!
//! Trusts only the keys it is handed: callers decide which key is authoritative (a pinned anchor, or a
//! key from a certificate whose path they validated). Signatures are always checked over the bytes as
//! received, never over a re-encoding.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use thiserror::Error;

use crate::oid;

/// SHA-384 of `data`.
pub fn sha384(data: &[u8]) -> [u8; 48] {
    let mut out = [0u8; 48];
    out.copy_from_slice(digest::digest(&digest::SHA384, data).as_ref());
    out
}

/// SHA-512 of the concatenation of `parts`.
pub fn sha512_parts(parts: &[&[u8]]) -> [u8; 64] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 64];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Elliptic curves we accept for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384 (every NVIDIA key we have seen).
    P384,
}

/// Digest used by an ECDSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

/// Why a signature could not be checked or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The key is not an EC key on a curve we support.
    #[error("unsupported public key (algorithm {algorithm}, curve {curve})")]
    UnsupportedKey {
        /// Dotted OID of the key algorithm.
        algorithm: String,
        /// Dotted OID of the curve, or "none".
        curve: String,
    },
    /// The signature algorithm is not one we accept.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    Invalid,
}

/// An EC public key from a SubjectPublicKeyInfo, ready to verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcPublicKey {
    curve: Curve,
    /// Uncompressed SEC1 point as found in the SPKI bit string.
    point: Vec<u8>,
}

impl EcPublicKey {
    /// Builds a key from the SPKI's algorithm OID, its curve parameter OID and the key bit string.
    pub(crate) fn from_spki_parts(
        algorithm: &[u8],
        curve_param: Option<&[u8]>,
        point: &[u8],
    ) -> Result<Self, SignatureError> {
        let unsupported = || SignatureError::UnsupportedKey {
            algorithm: oid::dotted(algorithm),
            curve: curve_param.map_or_else(|| "none".to_owned(), oid::dotted),
        };
        if algorithm != oid::EC_PUBLIC_KEY {
            return Err(unsupported());
        }
        let curve = match curve_param {
            Some(c) if c == oid::CURVE_P384 => Curve::P384,
            Some(c) if c == oid::CURVE_P256 => Curve::P256,
            _ => return Err(unsupported()),
        };
        Ok(Self { curve, point: point.to_vec() })
    }

    /// The key's curve.
    pub(crate) fn curve(&self) -> Curve {
        self.curve
    }

    /// Verifies a DER-encoded ECDSA signature (as in X.509 and OCSP) made with `hash`.
    pub(crate) fn verify_der(&self, hash: Hash, message: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let alg: &'static dyn VerificationAlgorithm = match (self.curve, hash) {
            (Curve::P384, Hash::Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
            (Curve::P384, Hash::Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
            (Curve::P256, Hash::Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
            (Curve::P256, Hash::Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
        };
        UnparsedPublicKey::new(alg, &self.point).verify(message, sig).map_err(|_| SignatureError::Invalid)
    }

    /// Verifies a fixed-width `r‖s` ECDSA P-384/SHA-384 signature (SPDM reports, XML-DSig).
    pub(crate) fn verify_p384_fixed(&self, message: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        if self.curve != Curve::P384 {
            return Err(SignatureError::UnsupportedAlgorithm("ECDSA P-384/SHA-384 with a non-P-384 key".into()));
        }
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &self.point)
            .verify(message, sig)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// Maps an X.509/OCSP signature algorithm OID to the ECDSA hash it uses.
pub(crate) fn ecdsa_hash(algorithm: &[u8]) -> Result<Hash, SignatureError> {
    match algorithm {
        a if a == oid::ECDSA_SHA384 => Ok(Hash::Sha384),
        a if a == oid::ECDSA_SHA256 => Ok(Hash::Sha256),
        other => Err(SignatureError::UnsupportedAlgorithm(oid::dotted(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha384_known_answer() {
        assert_eq!(
            hex::encode(sha384(b"abc")),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
        );
    }

    #[test]
    fn rejects_non_ec_keys_and_unknown_curves() {
        let rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        assert!(matches!(EcPublicKey::from_spki_parts(&rsa, None, &[4]), Err(SignatureError::UnsupportedKey { .. })));
        let p521 = [0x2b, 0x81, 0x04, 0x00, 0x23];
        let Err(err) = EcPublicKey::from_spki_parts(oid::EC_PUBLIC_KEY, Some(&p521), &[4]) else {
            panic!("P-521 accepted")
        };
        assert_eq!(err.to_string(), "unsupported public key (algorithm 1.2.840.10045.2.1, curve 1.3.132.0.35)");
    }
}
