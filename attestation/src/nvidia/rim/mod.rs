//! NVIDIA Reference Integrity Manifests (RIMs): signed SWID XML documents carrying the golden
//! measurements of one driver or one VBIOS.
//!
//! Trusts only the RIM root anchor it is given. A RIM's golden values become usable only as a
//! [`VerifiedRim`], which exists only when the document's enveloped XML-DSig verified (C14N 1.1,
//! ECDSA P-384/SHA-384) with the embedded leaf key *and* that leaf's chain validated to the anchor at
//! the verification time. Parsing is bounded: size, node count, depth, attributes per element and
//! namespace declarations are limited (checked by a linear scan before the parser runs) and DTDs refused.

mod budget;
pub(crate) mod c14n;
mod document;
mod id;
mod service;
mod test_rims;
mod xmldsig;

use std::sync::Arc;

use thiserror::Error;
use time::OffsetDateTime;

pub use document::{GoldenMeasurement, RimIdentity, StructureError};
pub use id::{RimIds, rim_file_candidates};
pub use service::{MAX_SERVICE_ANSWER, RimServiceError, is_safe_rim_id, rim_from_service_answer};
pub use test_rims::{KNOWN_TEST_RIMS, known_test_rim};
pub use xmldsig::XmlDsigError;

use crate::cache::VerifierCache;
use crate::crypto;
use crate::x509::{CertChain, ChainError, ChainRule, TrustAnchor, ValidatedChain, validate_cached};

/// Largest RIM accepted (NVIDIA's are ~21 KB).
pub const MAX_RIM_LEN: usize = 1024 * 1024;
/// Most XML nodes accepted in a RIM (NVIDIA's have ~200).
const MAX_NODES: u32 = 20_000;
/// Deepest element nesting accepted (NVIDIA's RIMs nest 6 deep).
const MAX_DEPTH: usize = 16;

/// Why a RIM (or one aspect of it) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RimError {
    /// Over [`MAX_RIM_LEN`].
    #[error("RIM is {0} bytes, more than the {MAX_RIM_LEN}-byte limit")]
    TooLarge(usize),
    /// Not UTF-8.
    #[error("RIM is not UTF-8 text")]
    NotUtf8,
    /// Not well-formed XML (or uses a DTD, or exceeds the node, attribute or namespace limits).
    #[error("RIM is not acceptable XML: {0}")]
    Xml(String),
    /// Nested deeper than `MAX_DEPTH` (16).
    #[error("RIM nests elements deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Structure outside NVIDIA's SWID shape.
    #[error("RIM structure: {0}")]
    Structure(#[from] StructureError),
    /// The signature is refused.
    #[error("RIM signature: {0}")]
    Signature(#[from] XmlDsigError),
}

/// The signing chain's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RimChainError {
    /// No chain could be read (the document or its signature element is unusable).
    #[error("no signing certificate chain could be read: {0}")]
    Unavailable(RimError),
    /// The chain does not validate.
    #[error(transparent)]
    Invalid(#[from] ChainError),
}

/// A RIM whose signature and signing chain verified: the only source of golden values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRim {
    /// Identity from the signed document.
    pub identity: RimIdentity,
    /// Golden measurements from the signed document.
    pub golden: Vec<GoldenMeasurement>,
    /// The validated signing chain.
    pub chain: ValidatedChain,
    /// SHA-384 of the document bytes as received.
    pub digest: [u8; 48],
}

/// Every aspect of one RIM's verification, each with its own outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RimVerification {
    /// SHA-384 of the document bytes as received.
    pub digest: [u8; 48],
    /// Structure check, with the identity when it passed.
    pub identity: Result<RimIdentity, RimError>,
    /// Digest and signature over the document with the embedded leaf key.
    pub signature: Result<(), RimError>,
    /// The embedded signing chain to the RIM anchor at the verification time.
    pub chain: Result<ValidatedChain, RimChainError>,
    /// Present only when all three passed.
    pub verified: Option<VerifiedRim>,
    /// The embedded signing chain as given (for revocation checks), when it could be read.
    pub signing_chain: Option<CertChain>,
}

/// What a RIM document says and whether its signature holds under its embedded key: everything about a
/// RIM that depends neither on time nor on trust anchors, so it can be cached by document digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RimInspection {
    /// SHA-384 of the document bytes as received.
    pub digest: [u8; 48],
    identity: Result<RimIdentity, RimError>,
    /// Kept private: golden values leave this module only inside a [`VerifiedRim`].
    golden: Option<Vec<GoldenMeasurement>>,
    signature: Result<(), RimError>,
    chain: Result<CertChain, RimError>,
}

/// Parses a RIM and checks its structure and signature (with the embedded signing key).
pub fn inspect(xml: &[u8]) -> RimInspection {
    let digest = crypto::sha384(xml);
    match inspect_inner(xml) {
        Ok(mut inspection) => {
            inspection.digest = digest;
            inspection
        }
        Err(e) => {
            RimInspection { digest, identity: Err(e.clone()), golden: None, signature: Err(e.clone()), chain: Err(e) }
        }
    }
}

impl RimInspection {
    /// The embedded signing chain as given (not yet validated), when it could be read.
    pub fn signing_chain(&self) -> Option<&CertChain> {
        self.chain.as_ref().ok()
    }

    /// Validates the signing chain to `anchor` at `at` and, when everything holds, yields the verified RIM.
    pub fn appraise(&self, anchor: &TrustAnchor, at: OffsetDateTime, cache: Option<&VerifierCache>) -> RimVerification {
        let chain = match &self.chain {
            Ok(chain) => {
                validate_cached(chain, anchor, at, ChainRule::AnchorOptional, cache).map_err(RimChainError::Invalid)
            }
            Err(e) => Err(RimChainError::Unavailable(e.clone())),
        };
        let verified = match (&self.identity, &self.golden, &self.signature, &chain) {
            (Ok(identity), Some(golden), Ok(()), Ok(chain)) => Some(VerifiedRim {
                identity: identity.clone(),
                golden: golden.clone(),
                chain: chain.clone(),
                digest: self.digest,
            }),
            _ => None,
        };
        RimVerification {
            digest: self.digest,
            identity: self.identity.clone(),
            signature: self.signature.clone(),
            chain,
            verified,
            signing_chain: self.signing_chain().cloned(),
        }
    }
}

/// [`inspect`], from `cache` when the same document was inspected before.
pub fn inspect_cached(xml: &[u8], cache: &VerifierCache) -> Arc<RimInspection> {
    cache.inspection(xml, inspect)
}

/// Verifies one RIM document against `anchor` at time `at`.
pub fn verify(xml: &[u8], anchor: &TrustAnchor, at: OffsetDateTime) -> RimVerification {
    inspect(xml).appraise(anchor, at, None)
}

fn inspect_inner(xml: &[u8]) -> Result<RimInspection, RimError> {
    if xml.len() > MAX_RIM_LEN {
        return Err(RimError::TooLarge(xml.len()));
    }
    let text = std::str::from_utf8(xml).map_err(|_| RimError::NotUtf8)?;
    budget::check(xml, MAX_DEPTH)?;
    let options =
        roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..roxmltree::ParsingOptions::default() };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| RimError::Xml(e.to_string()))?;
    if doc.root_element().descendants().any(|n| n.is_element() && n.ancestors().count() > MAX_DEPTH + 1) {
        return Err(RimError::TooDeep);
    }
    let (identity, golden) = match document::read(&doc) {
        Ok((identity, golden)) => (Ok(identity), Some(golden)),
        Err(e) => (Err(RimError::Structure(e)), None),
    };
    let (signature, chain) = match xmldsig::parse(&doc) {
        Err(e) => (Err(RimError::Signature(e.clone())), Err(RimError::Signature(e))),
        Ok(parts) => {
            // Checked with the embedded leaf key whether or not its chain validates, so both outcomes are
            // reported; only the two together make the key authoritative.
            let mut scratch = Vec::with_capacity(xml.len());
            let signature = leaf_key(&parts.chain)
                .and_then(|key| xmldsig::verify(&doc, &parts, &key, &mut scratch))
                .map_err(RimError::Signature);
            (signature, Ok(parts.chain))
        }
    };
    Ok(RimInspection { digest: [0; 48], identity, golden, signature, chain })
}

fn leaf_key(chain: &CertChain) -> Result<crypto::EcPublicKey, XmlDsigError> {
    let der = chain.ders().first().ok_or_else(|| XmlDsigError::Key("no certificate".into()))?;
    let cert = crate::x509::parse_one(der).map_err(XmlDsigError::Key)?;
    crate::x509::leaf_public_key(&cert).map_err(|e| XmlDsigError::Key(e.to_string()))
}

#[cfg(test)]
mod tests;
