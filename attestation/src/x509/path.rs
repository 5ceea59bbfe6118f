//! Certification path validation to one pinned trust anchor, at a given time.
//!
//! This is deliberately the narrow profile NVIDIA's chains need, implemented strictly rather than a
//! general path builder: the chain is given in order (leaf first), each certificate must be issued by the
//! next (names and signature), every certificate — the anchor included — must be valid at the
//! verification time, issuers must be CAs allowed to sign certificates within their path length, and any
//! critical extension we do not understand fails the chain. The chain either ends with the anchor itself
//! (byte-identical) or with a certificate the anchor issued; a self-signed last certificate that is not
//! the anchor is reported as a foreign root.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Version;

use super::cert::{CertChain, describe, parse_one};
use crate::cache::VerifierCache;
use crate::crypto::{EcPublicKey, SignatureError, ecdsa_hash};
use crate::oid;

/// A pinned root certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    name: Cow<'static, str>,
    der: Cow<'static, [u8]>,
}

impl fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchor").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TrustAnchor {
    /// An anchor from one DER certificate, with a name used in messages.
    pub fn from_der(name: impl Into<Cow<'static, str>>, der: impl Into<Cow<'static, [u8]>>) -> Result<Self, String> {
        let der = der.into();
        parse_one(&der)?;
        Ok(Self { name: name.into(), der })
    }

    /// An anchor from a PEM file holding exactly one certificate.
    pub fn from_pem(name: impl Into<Cow<'static, str>>, pem_bytes: &[u8]) -> Result<Self, String> {
        let chain = CertChain::from_pem(pem_bytes).map_err(|e| e.to_string())?;
        match chain.ders() {
            [one] => Self::from_der(name, one.clone()),
            more => Err(format!("an anchor file must hold exactly one certificate, found {}", more.len())),
        }
    }

    /// The anchor's name (e.g. "NVIDIA Device Identity CA").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The anchor's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// How long the chain must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainRule {
    /// Exactly this many certificates, the last being the anchor itself (NVIDIA device chains: 5).
    ExactWithAnchor(usize),
    /// Any length up to the bundle limit; the anchor may be included last or omitted (RIM chains).
    AnchorOptional,
}

/// What is wrong with one certificate of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertProblem {
    /// Does not parse.
    #[error("does not parse: {0}")]
    Malformed(String),
    /// Not an X.509 v3 certificate.
    #[error("is X.509 version {0}, not 3")]
    NotV3(u32),
    /// The signature algorithm inside the signed part differs from the outer one.
    #[error("signature algorithm in tbsCertificate differs from the outer signatureAlgorithm")]
    AlgorithmMismatch,
    /// notAfter is before the verification time.
    #[error("expired at {not_after}, before the verification time {at}")]
    Expired {
        /// notAfter (RFC 3339).
        not_after: String,
        /// Verification time (RFC 3339).
        at: String,
    },
    /// notBefore is after the verification time.
    #[error("is not valid before {not_before}, after the verification time {at}")]
    NotYetValid {
        /// notBefore (RFC 3339).
        not_before: String,
        /// Verification time (RFC 3339).
        at: String,
    },
    /// The issuer name is not the next certificate's subject.
    #[error("is issued by {issuer}, but the next certificate is {next}")]
    IssuerMismatch {
        /// Issuer name of this certificate.
        issuer: String,
        /// Subject of the next certificate.
        next: String,
    },
    /// The signature does not verify with the issuer's key (or cannot be checked).
    #[error("signature by {issuer}: {source}")]
    Signature {
        /// Issuer description.
        issuer: String,
        /// Why.
        source: SignatureError,
    },
    /// The public key cannot be used.
    #[error("public key: {0}")]
    Key(SignatureError),
    /// Used as an issuer but not a CA.
    #[error("issues a certificate but is not a CA (basicConstraints cA is absent or false)")]
    NotCa,
    /// Used as an issuer but its key usage forbids certificate signing.
    #[error("issues a certificate but its keyUsage lacks keyCertSign")]
    NoKeyCertSign,
    /// Leaf key usage forbids signatures.
    #[error("signs evidence but its keyUsage lacks digitalSignature")]
    NoDigitalSignature,
    /// The signing (leaf) certificate is a CA.
    #[error("signs evidence but is a CA certificate (basicConstraints cA true); signers are end entities")]
    LeafIsCa,
    /// Too many CAs below this one.
    #[error("pathLenConstraint {limit} allows fewer CAs below it than the {below} in this chain")]
    PathLen {
        /// The constraint.
        limit: u32,
        /// Intermediate CAs below.
        below: usize,
    },
    /// A critical extension we do not understand.
    #[error("has unknown critical extension {0}")]
    UnknownCriticalExtension(String),
    /// An extension that does not parse.
    #[error("extension {oid}: {reason}")]
    BadExtension {
        /// Dotted OID.
        oid: String,
        /// Parser message.
        reason: String,
    },
}

/// Why a chain does not validate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    /// Wrong number of certificates.
    #[error("chain has {found} certificates, expected exactly {expected}")]
    Length {
        /// Required length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The chain ends in a root that is not the pinned anchor.
    #[error("chain ends in root {found}, not the pinned {anchor}")]
    ForeignRoot {
        /// The root found.
        found: String,
        /// The anchor's name.
        anchor: String,
    },
    /// The pinned anchor itself failed a check (e.g. it is outside its validity at the given time).
    #[error("pinned root {anchor} {problem}")]
    Anchor {
        /// The anchor's name.
        anchor: String,
        /// What is wrong.
        problem: CertProblem,
    },
    /// One certificate failed a check.
    #[error("certificate {position} ({subject}) {problem}")]
    Cert {
        /// 0-based position (0 = leaf).
        position: usize,
        /// Description of the certificate.
        subject: String,
        /// What is wrong.
        problem: CertProblem,
    },
}

impl ChainError {
    /// True when the only problem is time validity (NVIDIA's `expired` certificate status).
    pub fn is_expired(&self) -> bool {
        matches!(
            self,
            Self::Cert { problem: CertProblem::Expired { .. }, .. }
                | Self::Anchor { problem: CertProblem::Expired { .. }, .. }
        )
    }
}

/// A chain that validated to the anchor at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedChain {
    /// The leaf's public key, now authoritative.
    pub leaf_key: EcPublicKey,
    /// Latest notBefore of the path (the anchor included): the chain is valid from here…
    pub valid_from: OffsetDateTime,
    /// …until the earliest notAfter (NVIDIA's `x-nvidia-cert-expiration-date`).
    pub valid_until: OffsetDateTime,
    /// Leaf serial number as a decimal string (NVIDIA's `ueid`).
    pub leaf_serial_decimal: String,
    /// Subject common names of the chain as given, leaf first.
    pub subjects: Vec<String>,
}

/// Validates `chain` to `anchor` at time `at` under `rule`, without a cache (for tests, benches and fuzz
/// targets; the verifiers always go through `validate_cached`).
#[cfg(feature = "sim")]
pub fn validate(
    chain: &CertChain,
    anchor: &TrustAnchor,
    at: OffsetDateTime,
    rule: ChainRule,
) -> Result<ValidatedChain, ChainError> {
    validate_cached(chain, anchor, at, rule, None)
}

/// Validates `chain` to `anchor` at time `at` under `rule`, skipping signature checks of links `cache` has
/// already seen verify (byte-identical issuer key and certificate). Every other check runs every time.
pub fn validate_cached(
    chain: &CertChain,
    anchor: &TrustAnchor,
    at: OffsetDateTime,
    rule: ChainRule,
    cache: Option<&VerifierCache>,
) -> Result<ValidatedChain, ChainError> {
    let certs = chain.parsed().map_err(|e| ChainError::Cert {
        position: 0,
        subject: "?".into(),
        problem: CertProblem::Malformed(e.to_string()),
    })?;
    let anchor_cert = parse_one(anchor.der())
        .map_err(|e| ChainError::Anchor { anchor: anchor.name().to_owned(), problem: CertProblem::Malformed(e) })?;
    let subjects: Vec<String> = certs.iter().map(describe).collect();

    // Split off the anchor if the chain carries it.
    let ends_with_anchor = chain.ders().last().is_some_and(|last| last.as_slice() == anchor.der());
    let path: &[X509Certificate<'_>] = match rule {
        ChainRule::ExactWithAnchor(n) => {
            if certs.len() != n {
                return Err(ChainError::Length { expected: n, found: certs.len() });
            }
            if !ends_with_anchor {
                let last = certs.last().map(describe).unwrap_or_default();
                return Err(ChainError::ForeignRoot { found: last, anchor: anchor.name().to_owned() });
            }
            &certs[..n - 1]
        }
        ChainRule::AnchorOptional if ends_with_anchor => &certs[..certs.len() - 1],
        ChainRule::AnchorOptional => {
            let last = certs.last().ok_or(ChainError::Length { expected: 1, found: 0 })?;
            if last.issuer().as_raw() == last.subject().as_raw() {
                return Err(ChainError::ForeignRoot { found: describe(last), anchor: anchor.name().to_owned() });
            }
            &certs[..]
        }
    };
    if path.is_empty() {
        return Err(ChainError::Length { expected: 2, found: certs.len() });
    }

    let at_str = rfc3339(at);
    let mut valid_from = OffsetDateTime::UNIX_EPOCH;
    let mut valid_until = OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap_or(OffsetDateTime::UNIX_EPOCH); // 9999-12-31T23:59:59Z

    let mut verified_links = Vec::new();
    for (position, cert) in path.iter().enumerate() {
        let issuer = path.get(position + 1).unwrap_or(&anchor_cert);
        let fail = |problem| ChainError::Cert { position, subject: subjects[position].clone(), problem };
        check_common(cert, at, &at_str, &mut valid_from, &mut valid_until).map_err(fail)?;
        if position == 0 {
            check_leaf(cert).map_err(fail)?;
        }
        if cert.issuer().as_raw() != issuer.subject().as_raw() {
            return Err(fail(CertProblem::IssuerMismatch {
                issuer: cert.issuer().to_string(),
                next: issuer.subject().to_string(),
            }));
        }
        // The issuer is checked as a CA here; its own signature and dates on the next iteration.
        let issuer_fail = |problem| {
            if position + 1 < path.len() {
                ChainError::Cert { position: position + 1, subject: subjects[position + 1].clone(), problem }
            } else {
                ChainError::Anchor { anchor: anchor.name().to_owned(), problem }
            }
        };
        check_issuer(issuer, position).map_err(issuer_fail)?;
        let issuer_key = public_key(issuer).map_err(issuer_fail)?;
        let link = cache.map(|_| VerifierCache::link_key(issuer.public_key().raw, cert.as_raw()));
        if !link.as_ref().is_some_and(|k| cache.is_some_and(|c| c.link_verified(k))) {
            let hash = ecdsa_hash(cert.signature_algorithm.algorithm.as_bytes())
                .map_err(|source| fail(CertProblem::Signature { issuer: describe(issuer), source }))?;
            issuer_key
                .verify_der(hash, cert.tbs_certificate.as_ref(), &cert.signature_value.data)
                .map_err(|source| fail(CertProblem::Signature { issuer: describe(issuer), source }))?;
            verified_links.extend(link);
        }
    }
    check_common(&anchor_cert, at, &at_str, &mut valid_from, &mut valid_until)
        .map_err(|problem| ChainError::Anchor { anchor: anchor.name().to_owned(), problem })?;
    // Only links of a path that reached the anchor are remembered: crafted chains cannot fill the cache.
    if let Some(cache) = cache {
        cache.remember_links(verified_links);
    }

    let leaf = &path[0];
    let leaf_key =
        public_key(leaf).map_err(|problem| ChainError::Cert { position: 0, subject: subjects[0].clone(), problem })?;
    Ok(ValidatedChain {
        leaf_key,
        valid_from,
        valid_until,
        leaf_serial_decimal: leaf.tbs_certificate.serial.to_string(),
        subjects,
    })
}

/// The public key of a certificate as an EC key.
pub(crate) fn public_key(cert: &X509Certificate<'_>) -> Result<EcPublicKey, CertProblem> {
    let spki = cert.public_key();
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
    EcPublicKey::from_spki_parts(
        spki.algorithm.algorithm.as_bytes(),
        curve.as_ref().map(|c| c.as_bytes()),
        &spki.subject_public_key.data,
    )
    .map_err(CertProblem::Key)
}

/// Checks every certificate gets: version, algorithm consistency, validity at `at`, critical extensions.
fn check_common(
    cert: &X509Certificate<'_>,
    at: OffsetDateTime,
    at_str: &str,
    valid_from: &mut OffsetDateTime,
    valid_until: &mut OffsetDateTime,
) -> Result<(), CertProblem> {
    if cert.version() != X509Version::V3 {
        return Err(CertProblem::NotV3(cert.version().0 + 1));
    }
    if cert.tbs_certificate.signature != cert.signature_algorithm {
        return Err(CertProblem::AlgorithmMismatch);
    }
    let (not_before, not_after) = check_validity(cert, at, at_str)?;
    *valid_from = (*valid_from).max(not_before);
    *valid_until = (*valid_until).min(not_after);
    for ext in cert.extensions() {
        if ext.critical && !is_understood(ext.oid.as_bytes()) {
            return Err(CertProblem::UnknownCriticalExtension(oid::dotted(ext.oid.as_bytes())));
        }
    }
    Ok(())
}

/// Checks `cert` is valid at `at` (`at_str` is `at` in RFC 3339, for the message); returns its notBefore and
/// notAfter. Shared by every chain profile (NVIDIA's and AMD's).
pub(crate) fn check_validity(
    cert: &X509Certificate<'_>,
    at: OffsetDateTime,
    at_str: &str,
) -> Result<(OffsetDateTime, OffsetDateTime), CertProblem> {
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    if at > not_after {
        return Err(CertProblem::Expired { not_after: rfc3339(not_after), at: at_str.to_owned() });
    }
    if at < not_before {
        return Err(CertProblem::NotYetValid { not_before: rfc3339(not_before), at: at_str.to_owned() });
    }
    Ok((not_before, not_after))
}

/// Extensions we either enforce or that carry no constraint we would have to enforce.
fn is_understood(ext_oid: &[u8]) -> bool {
    const ID_CE: [u8; 2] = [0x55, 0x1d]; // 2.5.29
    match ext_oid {
        // keyUsage 15, subjectAltName 17, basicConstraints 19, certificatePolicies 32, extKeyUsage 37,
        // subjectKeyIdentifier 14, authorityKeyIdentifier 35, cRLDistributionPoints 31.
        [a, b, n] if [*a, *b] == ID_CE => matches!(n, 14 | 15 | 17 | 19 | 31 | 32 | 35 | 37),
        // authorityInfoAccess (1.3.6.1.5.5.7.1.1)
        [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01] => true,
        o => {
            o == oid::TCG_DICE_TCB_INFO
                || o == oid::TCG_DICE_TCB_INFO_1
                || o == oid::TCG_DICE_UEID
                || o == oid::TCG_DICE_MULTI_TCB_INFO
        }
    }
}

fn check_leaf(cert: &X509Certificate<'_>) -> Result<(), CertProblem> {
    // Evidence and RIMs are signed by end-entity keys; a CA certificate in the signer's place is refused.
    let bc = cert.basic_constraints().map_err(|e| bad_ext("2.5.29.19", e))?;
    if bc.is_some_and(|bc| bc.value.ca) {
        return Err(CertProblem::LeafIsCa);
    }
    let ku = cert.key_usage().map_err(|e| bad_ext("2.5.29.15", e))?;
    if ku.is_some_and(|ku| !ku.value.digital_signature()) {
        return Err(CertProblem::NoDigitalSignature);
    }
    Ok(())
}

/// Checks `issuer` may sign certificates when `below` is the position of the certificate it signed
/// (so `below` intermediate CAs sit under it, excluding the leaf).
fn check_issuer(issuer: &X509Certificate<'_>, below: usize) -> Result<(), CertProblem> {
    let bc = issuer.basic_constraints().map_err(|e| bad_ext("2.5.29.19", e))?;
    let Some(bc) = bc.filter(|bc| bc.value.ca) else { return Err(CertProblem::NotCa) };
    if let Some(limit) = bc.value.path_len_constraint
        && usize::try_from(limit).is_ok_and(|l| l < below)
    {
        return Err(CertProblem::PathLen { limit, below });
    }
    let ku = issuer.key_usage().map_err(|e| bad_ext("2.5.29.15", e))?;
    if ku.is_some_and(|ku| !ku.value.key_cert_sign()) {
        return Err(CertProblem::NoKeyCertSign);
    }
    Ok(())
}

fn bad_ext(oid: &str, e: impl fmt::Display) -> CertProblem {
    CertProblem::BadExtension { oid: oid.to_owned(), reason: e.to_string() }
}

/// RFC 3339 with a `Z` suffix (the form NVIDIA's claims use).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}
