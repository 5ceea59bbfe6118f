//! Checks of AMD's three-link chain, ARK → ASK/ASVK → VCEK/VLEK, in AMD's fixed profile: the ARK and
//! ASK/ASVK are RSA-4096 CAs, every link is signed with RSASSA-PSS (SHA-384, MGF1 with SHA-384, salt 48
//! bytes, trailer 1), the endorsement key is an ECDSA P-384 key, every certificate must be valid at the
//! verification time, and a critical extension we do not understand fails the certificate.
//!
//! Signatures are verified with aws-lc-rs over the `tbsCertificate` bytes as received. A verified link can
//! be remembered in a [`VerifierCache`] (keyed by the issuer's SubjectPublicKeyInfo and the complete child
//! certificate), which never changes a verdict: dates, names and profile are re-checked every time.

use aws_lc_rs::signature::{RSA_PSS_2048_8192_SHA384, UnparsedPublicKey};
use thiserror::Error;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Version;

use crate::cache::VerifierCache;
use crate::crypto::EcPublicKey;
use crate::der::{DerError, DerReader, tag};
use crate::oid;
use crate::x509::{CertProblem, check_validity, describe, rfc3339};

/// rsaEncryption (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-RSASSA-PSS (1.2.840.113549.1.1.10).
const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// id-mgf1 (1.2.840.113549.1.1.8).
const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
/// The only RSA modulus size AMD uses for the ARK, ASK and ASVK.
const RSA_MODULUS_BYTES: usize = 512;
/// DER tag of NULL.
const NULL: u8 = 0x05;

/// What is wrong with one AMD certificate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmdCertError {
    /// Does not parse.
    #[error("does not parse: {0}")]
    Malformed(String),
    /// Not X.509 v3.
    #[error("is X.509 version {0}, not 3")]
    NotV3(u32),
    /// Outside its validity period at the verification time (the same check as for NVIDIA's chains).
    #[error(transparent)]
    Time(CertProblem),
    /// A signature algorithm outside AMD's profile.
    #[error("signature algorithm {0}")]
    Algorithm(String),
    /// The issuer name is not the issuer's subject.
    #[error("is issued by {issuer}, not by {expected}")]
    IssuerMismatch {
        /// Issuer named in the certificate.
        issuer: String,
        /// The certificate it must be issued by.
        expected: String,
    },
    /// The signature does not verify under the issuer's key.
    #[error("signature by {issuer} does not verify")]
    Signature {
        /// The issuer.
        issuer: String,
    },
    /// A key outside AMD's profile.
    #[error("public key: {0}")]
    Key(String),
    /// A CA certificate without cA, or with a path length constraint below its position.
    #[error("is not a CA that may issue this certificate: {0}")]
    NotCa(String),
    /// The endorsement key certificate claims to be a CA.
    #[error("is an endorsement key certificate but says it is a CA")]
    LeafIsCa,
    /// A critical extension we do not understand.
    #[error("has unknown critical extension {0}")]
    UnknownCriticalExtension(String),
    /// A standard extension that does not parse.
    #[error("extension {oid}: {reason}")]
    BadExtension {
        /// Dotted OID.
        oid: String,
        /// Parser message.
        reason: String,
    },
}

/// Role of a certificate in the chain (decides which profile rules apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The self-signed root.
    Ark,
    /// ASK or ASVK.
    Intermediate,
    /// VCEK or VLEK.
    EndorsementKey,
}

/// Checks everything about `cert` that does not involve its issuer: version, algorithm, validity at `at`,
/// key and CA profile for its `role`, critical extensions.
pub(crate) fn check_profile(cert: &X509Certificate<'_>, role: Role, at: OffsetDateTime) -> Result<(), AmdCertError> {
    if cert.version() != X509Version::V3 {
        return Err(AmdCertError::NotV3(cert.version().0 + 1));
    }
    check_pss_sha384(cert)?;
    check_validity(cert, at, &rfc3339(at)).map_err(AmdCertError::Time)?;
    for ext in cert.extensions() {
        if ext.critical && !is_understood(ext.oid.as_bytes()) {
            return Err(AmdCertError::UnknownCriticalExtension(oid::dotted(ext.oid.as_bytes())));
        }
    }
    let bc = cert.basic_constraints().map_err(|e| bad_ext("2.5.29.19", e))?;
    let ku = cert.key_usage().map_err(|e| bad_ext("2.5.29.15", e))?;
    match role {
        Role::Ark | Role::Intermediate => {
            rsa_4096_key(cert)?;
            let Some(bc) = bc.filter(|bc| bc.value.ca) else {
                return Err(AmdCertError::NotCa("basicConstraints cA is absent or false".into()));
            };
            // The intermediate sits above the endorsement key only: pathLenConstraint 0 is enough; the ARK
            // has one CA below it.
            let below = u32::from(role == Role::Ark);
            if bc.value.path_len_constraint.is_some_and(|limit| limit < below) {
                return Err(AmdCertError::NotCa(format!("pathLenConstraint allows fewer than {below} CAs below")));
            }
            if ku.is_some_and(|ku| !ku.value.key_cert_sign()) {
                return Err(AmdCertError::NotCa("keyUsage lacks keyCertSign".into()));
            }
        }
        Role::EndorsementKey => {
            if bc.is_some_and(|bc| bc.value.ca) {
                return Err(AmdCertError::LeafIsCa);
            }
            if ku.is_some_and(|ku| !ku.value.digital_signature()) {
                return Err(AmdCertError::Key("keyUsage lacks digitalSignature".into()));
            }
            endorsement_key(cert)?;
        }
    }
    Ok(())
}

/// Checks that `issuer` issued `cert`: names, and the RSASSA-PSS signature under the issuer's key
/// (skipped when `cache` has seen this exact link verify).
pub(crate) fn check_link(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    cache: Option<&VerifierCache>,
) -> Result<(), AmdCertError> {
    if cert.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(AmdCertError::IssuerMismatch { issuer: cert.issuer().to_string(), expected: describe(issuer) });
    }
    check_pss_sha384(cert)?;
    let spki = issuer.public_key();
    if spki.algorithm.algorithm.as_bytes() != RSA_ENCRYPTION {
        return Err(AmdCertError::Key(format!(
            "issuer {} has a {} key, not RSA",
            describe(issuer),
            oid::dotted(spki.algorithm.algorithm.as_bytes())
        )));
    }
    let key = cache.map(|_| VerifierCache::link_key(spki.raw, cert.as_raw()));
    if key.as_ref().is_some_and(|k| cache.is_some_and(|c| c.link_verified(k))) {
        return Ok(());
    }
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, &spki.subject_public_key.data)
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| AmdCertError::Signature { issuer: describe(issuer) })?;
    // The issuer here is the pinned ARK or an ASK/ASVK verified under it: every remembered link is anchored.
    if let (Some(cache), Some(key)) = (cache, key) {
        cache.remember_links([key]);
    }
    Ok(())
}

/// The endorsement key (P-384) of a VCEK/VLEK.
pub(crate) fn endorsement_key(cert: &X509Certificate<'_>) -> Result<EcPublicKey, AmdCertError> {
    let spki = cert.public_key();
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
    let key = EcPublicKey::from_spki_parts(
        spki.algorithm.algorithm.as_bytes(),
        curve.as_ref().map(|c| c.as_bytes()),
        &spki.subject_public_key.data,
    )
    .map_err(|e| AmdCertError::Key(e.to_string()))?;
    if key.curve() != crate::crypto::Curve::P384 {
        return Err(AmdCertError::Key("the endorsement key is not on P-384".into()));
    }
    Ok(key)
}

/// The outer structure, read strictly (x509-parser is lenient about the unsigned parts): `Certificate ::=
/// SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }` and nothing else; the
/// algorithm inside the signed `tbsCertificate` must be byte-identical to the outer one, and must be
/// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt length 48 and trailer 1 (the trailer may be explicit, as in
/// older AMD certificates, or left to its default).
fn check_pss_sha384(cert: &X509Certificate<'_>) -> Result<(), AmdCertError> {
    check_pss_sha384_der(cert.as_raw(), Signed::Certificate)
}

/// What a signed DER structure is: its `tbs` part starts differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signed {
    /// A certificate: `[0] version`, `serialNumber`, then the signature algorithm.
    Certificate,
    /// A CRL: an optional `version`, then the signature algorithm.
    Crl,
}

/// [`check_pss_sha384`] on the raw DER of a certificate or a CRL.
pub(crate) fn check_pss_sha384_der(raw: &[u8], kind: Signed) -> Result<(), AmdCertError> {
    let structure = |e: DerError| AmdCertError::Malformed(format!("signed structure: {e}"));
    let mut outer = DerReader::new(crate::der::single(raw, tag::SEQUENCE).map_err(structure)?);
    let tbs = outer.expect(tag::SEQUENCE).map_err(structure)?;
    let alg = outer.expect(tag::SEQUENCE).map_err(structure)?;
    let signature = outer.expect(tag::BIT_STRING).map_err(structure)?;
    outer.finish().map_err(structure)?;
    if signature.value.first() != Some(&0) {
        return Err(AmdCertError::Malformed("signatureValue has unused bits".into()));
    }
    let mut t = DerReader::new(tbs.value);
    match kind {
        Signed::Certificate => {
            t.optional(0xa0).map_err(structure)?;
            t.expect(tag::INTEGER).map_err(structure)?;
        }
        Signed::Crl => {
            t.optional(tag::INTEGER).map_err(structure)?;
        }
    }
    let inner = t.expect(tag::SEQUENCE).map_err(structure)?;
    if inner.value != alg.value {
        return Err(AmdCertError::Algorithm("in the signed part differs from the outer signatureAlgorithm".into()));
    }
    let mut a = DerReader::new(alg.value);
    let algorithm = a.expect(tag::OID).map_err(structure)?;
    if algorithm.value != RSASSA_PSS {
        return Err(AmdCertError::Algorithm(format!("{} is not RSASSA-PSS", oid::dotted(algorithm.value))));
    }
    let params = a.optional(tag::SEQUENCE).map_err(structure)?;
    a.finish().map_err(structure)?;
    let Some(params) = params else {
        return Err(AmdCertError::Algorithm("RSASSA-PSS without parameters".into()));
    };
    pss_params(params.value).map_err(|e| AmdCertError::Algorithm(format!("RSASSA-PSS parameters: {e}")))
}

/// Parses the content of `RSASSA-PSS-params` and requires AMD's values.
fn pss_params(content: &[u8]) -> Result<(), String> {
    let der = |e: DerError| e.to_string();
    let mut r = DerReader::new(content);
    let hash = r.expect(0xa0).map_err(der)?;
    sha384_alg(hash.value).map_err(|e| format!("hashAlgorithm {e}"))?;
    let mgf = r.expect(0xa1).map_err(der)?;
    let mut m = DerReader::new(crate::der::single(mgf.value, tag::SEQUENCE).map_err(der)?);
    if m.expect(tag::OID).map_err(der)?.value != MGF1 {
        return Err("maskGenAlgorithm is not MGF1".into());
    }
    let inner = m.expect(tag::SEQUENCE).map_err(der)?;
    m.finish().map_err(der)?;
    sha384_inner(inner.value).map_err(|e| format!("MGF1 hash {e}"))?;
    let salt = r.expect(0xa2).map_err(der)?;
    if crate::der::single(salt.value, tag::INTEGER).map_err(der)? != [48] {
        return Err("saltLength is not 48".into());
    }
    if let Some(trailer) = r.optional(0xa3).map_err(der)?
        && crate::der::single(trailer.value, tag::INTEGER).map_err(der)? != [1]
    {
        return Err("trailerField is not 1".into());
    }
    r.finish().map_err(der)
}

/// `[n] { SEQUENCE { OID sha384, NULL? } }` content.
fn sha384_alg(explicit: &[u8]) -> Result<(), String> {
    let seq = crate::der::single(explicit, tag::SEQUENCE).map_err(|e| e.to_string())?;
    sha384_inner(seq)
}

fn sha384_inner(seq_content: &[u8]) -> Result<(), String> {
    let mut r = DerReader::new(seq_content);
    if r.expect(tag::OID).map_err(|e| e.to_string())?.value != oid::SHA384 {
        return Err("is not SHA-384".into());
    }
    if let Some(null) = r.optional(NULL).map_err(|e| e.to_string())?
        && !null.value.is_empty()
    {
        return Err("has a non-empty NULL parameter".into());
    }
    r.finish().map_err(|e| e.to_string())
}

/// The key must be rsaEncryption with a 4096-bit modulus.
fn rsa_4096_key(cert: &X509Certificate<'_>) -> Result<(), AmdCertError> {
    let spki = cert.public_key();
    if spki.algorithm.algorithm.as_bytes() != RSA_ENCRYPTION {
        return Err(AmdCertError::Key(format!(
            "{} is not rsaEncryption",
            oid::dotted(spki.algorithm.algorithm.as_bytes())
        )));
    }
    let modulus = (|| -> Result<usize, DerError> {
        let body = crate::der::single(&spki.subject_public_key.data, tag::SEQUENCE)?;
        let mut r = DerReader::new(body);
        let n = r.expect(tag::INTEGER)?.value;
        r.expect(tag::INTEGER)?;
        r.finish()?;
        Ok(n.strip_prefix(&[0]).unwrap_or(n).len())
    })()
    .map_err(|e| AmdCertError::Key(format!("RSAPublicKey: {e}")))?;
    if modulus != RSA_MODULUS_BYTES {
        return Err(AmdCertError::Key(format!("RSA modulus is {} bits, AMD's are 4096", modulus * 8)));
    }
    Ok(())
}

/// Extensions that are either enforced here or carry no constraint we would have to enforce.
fn is_understood(ext_oid: &[u8]) -> bool {
    // subjectKeyIdentifier 14, keyUsage 15, basicConstraints 19, cRLDistributionPoints 31,
    // authorityKeyIdentifier 35.
    matches!(ext_oid, [0x55, 0x1d, 14 | 15 | 19 | 31 | 35])
}

fn bad_ext(oid: &str, e: impl std::fmt::Display) -> AmdCertError {
    AmdCertError::BadExtension { oid: oid.to_owned(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA384_ALG: [u8; 15] =
        [0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00];

    fn params(trailer: Option<u8>, salt: u8) -> Vec<u8> {
        let mut mgf = vec![0x30, 0x1a, 0x06, 0x09];
        mgf.extend(MGF1);
        mgf.extend(SHA384_ALG);
        let mut out = vec![0xa0, 0x0f];
        out.extend(SHA384_ALG);
        out.extend([0xa1, 0x1c]);
        out.extend(mgf);
        out.extend([0xa2, 0x03, 0x02, 0x01, salt]);
        if let Some(t) = trailer {
            out.extend([0xa3, 0x03, 0x02, 0x01, t]);
        }
        out
    }

    #[test]
    fn amd_pss_parameters_with_and_without_trailer() {
        assert_eq!(pss_params(&params(Some(1), 48)), Ok(()));
        assert_eq!(pss_params(&params(None, 48)), Ok(()));
        assert_eq!(pss_params(&params(None, 32)).expect_err("refused"), "saltLength is not 48");
        assert_eq!(pss_params(&params(Some(2), 48)).expect_err("refused"), "trailerField is not 1");
        let mut extra = params(None, 48);
        extra.extend([0x05, 0x00]);
        assert!(pss_params(&extra).is_err());
        assert!(pss_params(&[]).is_err());
    }
}
