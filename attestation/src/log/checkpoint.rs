//! Signed checkpoints: an operator key (ECDSA P-384) signs the chain head every N lines, so a log
//! rewritten from some line on — chain hashes recomputed — fails at the next checkpoint, and an auditor
//! holding only the public key can tell the lines up to the last checkpoint are the ones that were written.
//!
//! What is signed: `"ccgpu-attestation-log checkpoint v1\n"`, the log id (32 hex digits), `"\n"`, then the
//! checkpoint line's own bytes up to (not including) `,"signature":"`. That covers the chain head
//! (`prev`), the line number, the time and the key id, exactly as written. The signature is ASN.1 DER,
//! hex-encoded, and is always the last field of the line.
//!
//! Trusts: only the public key the auditor passes in. The key id in a checkpoint is a hint for
//! diagnostics (which key signed), never a reason to accept.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair, ParsedPublicKey,
};

use super::digest::Sha384Digest;
use super::error::{BreakKind, LogError};
use super::record::{Checkpoint, HexBytes, LogId};

const DOMAIN: &[u8] = b"ccgpu-attestation-log checkpoint v1\n";
const SIGNATURE_FIELD: &[u8] = br#","signature":""#;

/// An operator's signing key for checkpoints (PKCS#8, P-384).
pub struct CheckpointSigner {
    key: EcdsaKeyPair,
    key_id: Sha384Digest,
    spki: Vec<u8>,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// Loads a PKCS#8 ECDSA P-384 private key, PEM (`PRIVATE KEY`) or DER.
    pub fn from_pkcs8(bytes: &[u8]) -> Result<Self, LogError> {
        let der = pem_or_der(bytes, "PRIVATE KEY")?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &der)
            .map_err(|e| LogError::Key(format!("not a PKCS#8 ECDSA P-384 private key ({e})")))?;
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| LogError::Key("cannot encode the public key".into()))?
            .as_ref()
            .to_vec();
        Ok(Self { key_id: Sha384Digest::of(&spki), key, spki })
    }

    /// A fresh random key, PKCS#8 DER (for tests and for `ccgpu log keygen`-style tooling).
    pub fn generate_pkcs8() -> Result<Vec<u8>, LogError> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| LogError::Key("key generation failed".into()))
    }

    /// SHA-384 of the public key's SubjectPublicKeyInfo.
    pub fn key_id(&self) -> Sha384Digest {
        self.key_id
    }

    /// The public key as SPKI PEM, to hand to auditors.
    pub fn public_key_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki.clone()))
    }

    /// Serializes `unsigned` with a signature over it: the complete line, without newline.
    pub(crate) fn sign_line(&self, log_id: &LogId, mut checkpoint: Checkpoint) -> Result<Vec<u8>, LogError> {
        checkpoint.key_id = self.key_id;
        checkpoint.signature = HexBytes(Vec::new());
        let unsigned = serde_json::to_vec(&checkpoint).map_err(|e| LogError::Key(format!("serializing: {e}")))?;
        let region = signed_region(&unsigned).ok_or_else(|| LogError::Key("checkpoint layout".into()))?;
        let sig = self
            .key
            .sign(&SystemRandom::new(), &signed_message(log_id, region))
            .map_err(|_| LogError::Key("signing failed".into()))?;
        checkpoint.signature = HexBytes(sig.as_ref().to_vec());
        serde_json::to_vec(&checkpoint).map_err(|e| LogError::Key(format!("serializing: {e}")))
    }
}

/// An auditor's public key for checking checkpoints.
#[derive(Debug)]
pub struct CheckpointKey {
    key: ParsedPublicKey,
    key_id: Sha384Digest,
}

impl CheckpointKey {
    /// Loads a P-384 SubjectPublicKeyInfo, PEM (`PUBLIC KEY`) or DER.
    pub fn from_spki(bytes: &[u8]) -> Result<Self, LogError> {
        let der = pem_or_der(bytes, "PUBLIC KEY")?;
        let key = ParsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &der)
            .map_err(|e| LogError::Key(format!("not an ECDSA P-384 SubjectPublicKeyInfo ({e})")))?;
        Ok(Self { key, key_id: Sha384Digest::of(&der) })
    }

    /// SHA-384 of the SubjectPublicKeyInfo.
    pub fn key_id(&self) -> Sha384Digest {
        self.key_id
    }

    /// Checks a checkpoint line (bytes as received) and its parsed form.
    pub(crate) fn verify_line(&self, log_id: &LogId, line: &[u8], checkpoint: &Checkpoint) -> Result<(), BreakKind> {
        if checkpoint.key_id != self.key_id {
            return Err(BreakKind::UnknownKey { key_id: checkpoint.key_id });
        }
        let region = signed_region(line).ok_or(BreakKind::BadSignature)?;
        self.key
            .verify_sig(&signed_message(log_id, region), &checkpoint.signature.0)
            .map_err(|_| BreakKind::BadSignature)
    }
}

/// The bytes a checkpoint signature covers.
pub(crate) fn signed_message(log_id: &LogId, region: &[u8]) -> Vec<u8> {
    let id = log_id.to_string();
    let mut m = Vec::with_capacity(DOMAIN.len() + id.len() + 1 + region.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(id.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(region);
    m
}

/// The line up to its signature field. A `"` cannot occur unescaped inside a JSON string, so the last
/// `,"signature":"` is the field itself; what follows it must be hex and the closing `"}`.
fn signed_region(line: &[u8]) -> Option<&[u8]> {
    let at = line.windows(SIGNATURE_FIELD.len()).rposition(|w| w == SIGNATURE_FIELD)?;
    let tail = line.get(at + SIGNATURE_FIELD.len()..)?.strip_suffix(b"\"}")?;
    tail.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')).then(|| &line[..at])
}

fn pem_or_der(bytes: &[u8], tag: &str) -> Result<Vec<u8>, LogError> {
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let p = pem::parse(bytes).map_err(|e| LogError::Key(format!("PEM: {e}")))?;
    if p.tag() != tag {
        return Err(LogError::Key(format!("PEM block is {:?}, expected {tag:?}", p.tag())));
    }
    Ok(p.into_contents())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn signs_and_verifies_the_line_as_written() {
        let signer = CheckpointSigner::from_pkcs8(&CheckpointSigner::generate_pkcs8().expect("key")).expect("load");
        let key = CheckpointKey::from_spki(signer.public_key_pem().as_bytes()).expect("spki");
        assert_eq!(key.key_id(), signer.key_id());
        let id = LogId([3; 16]);
        let cp = Checkpoint::unsigned(Sha384Digest([9; 48]), 5, datetime!(2025-01-01 0:00 UTC), Sha384Digest([0; 48]));
        let line = signer.sign_line(&id, cp).expect("sign");
        let parsed: Checkpoint = serde_json::from_slice(&line).expect("parse");
        key.verify_line(&id, &line, &parsed).expect("verifies");

        // Another log id, a changed head, a changed time: all refused.
        assert_eq!(key.verify_line(&LogId([4; 16]), &line, &parsed), Err(BreakKind::BadSignature));
        let text = String::from_utf8(line.clone()).expect("utf8");
        let moved = text.replace(&"09".repeat(48), &"0a".repeat(48));
        let parsed_moved: Checkpoint = serde_json::from_str(&moved).expect("parse");
        assert_eq!(key.verify_line(&id, moved.as_bytes(), &parsed_moved), Err(BreakKind::BadSignature));

        let other = CheckpointSigner::from_pkcs8(&CheckpointSigner::generate_pkcs8().expect("key")).expect("load");
        let other_key = CheckpointKey::from_spki(other.public_key_pem().as_bytes()).expect("spki");
        assert_eq!(other_key.verify_line(&id, &line, &parsed), Err(BreakKind::UnknownKey { key_id: signer.key_id() }));
    }

    #[test]
    fn refuses_wrong_keys() {
        assert!(CheckpointSigner::from_pkcs8(b"not a key").is_err());
        assert!(CheckpointKey::from_spki(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
        assert!(signed_region(br#"{"a":1,"signature":"zz"}"#).is_none());
        assert_eq!(signed_region(br#"{"a":1,"signature":"ab"}"#), Some(&br#"{"a":1"#[..]));
    }
}
