//! The relying party's key: the P-384 public key whose private half signs the EAR (IETF EAT Attestation
//! Result) the agent accepts in remote mode.
//!
//! It is trusted because it comes from the measured configuration (`[remote] public_key_pem`), and it is
//! parsed once, when the configuration is read: a configuration with a key that does not parse is
//! refused before bring-up starts, and the verifier only ever holds a parsed key.

use std::fmt;

use jsonwebtoken::DecodingKey;
use thiserror::Error;

/// A key that does not parse as an EC public key (SubjectPublicKeyInfo) in PEM.
#[derive(Debug, Error)]
#[error(transparent)]
pub struct KeyError(jsonwebtoken::errors::Error);

/// The relying party's EAR-signing public key (P-384 SubjectPublicKeyInfo, PEM), parsed.
#[derive(Clone)]
pub struct EarKey {
    pem: String,
    key: DecodingKey,
}

impl EarKey {
    /// The key in `pem`.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ec_pem(pem.as_bytes()).map_err(KeyError)?;
        Ok(Self { pem: pem.to_owned(), key })
    }

    /// The key as configured, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The key, for verifying the EAR's signature.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl fmt::Debug for EarKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EarKey").field("pem", &self.pem).finish_non_exhaustive()
    }
}

impl PartialEq for EarKey {
    fn eq(&self, other: &Self) -> bool {
        self.pem == other.pem
    }
}

impl Eq for EarKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_p384_public_key_parses_and_anything_else_is_refused() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
        let key = EarKey::from_pem(&pair.public_key_pem()).expect("P-384 SPKI");
        assert_eq!(key.pem(), pair.public_key_pem());
        assert!(EarKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
        assert!(EarKey::from_pem("not PEM").is_err());
    }
}
