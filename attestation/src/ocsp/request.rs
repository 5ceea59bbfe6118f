//! CertIDs (RFC 6960 §4.1.1) and OCSP request encoding. ccgpu asks with SHA-384 CertIDs, as NVIDIA's
//! responders expect; responses using SHA-1/256/512 CertIDs are still matched correctly.

use std::ops::RangeInclusive;

use aws_lc_rs::digest;
use x509_parser::certificate::X509Certificate;

use crate::der_write::{seq, tlv};
use crate::x509::{CertChain, TrustAnchor, describe, parse_one};

/// Hash algorithm of a CertID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (1.3.14.3.2.26).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384 (what ccgpu sends).
    Sha384,
    /// SHA-512.
    Sha512,
}

const SHA1_OID: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const SHA256_OID: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const SHA384_OID: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const SHA512_OID: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

impl HashAlg {
    pub(super) fn from_oid(oid: &[u8]) -> Option<Self> {
        match oid {
            SHA1_OID => Some(Self::Sha1),
            SHA256_OID => Some(Self::Sha256),
            SHA384_OID => Some(Self::Sha384),
            SHA512_OID => Some(Self::Sha512),
            _ => None,
        }
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Self::Sha1 => SHA1_OID,
            Self::Sha256 => SHA256_OID,
            Self::Sha384 => SHA384_OID,
            Self::Sha512 => SHA512_OID,
        }
    }

    pub(super) fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// Identifies one certificate to a responder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertId {
    /// Hash used for the two issuer hashes.
    pub hash: HashAlg,
    /// Hash of the issuer's subject name (DER).
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's public key (the subjectPublicKey BIT STRING value).
    pub issuer_key_hash: Vec<u8>,
    /// The certificate's serial number (INTEGER content bytes).
    pub serial: Vec<u8>,
}

impl CertId {
    /// The CertID of `cert` issued by `issuer`, with hash `hash`.
    pub fn new(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>, hash: HashAlg) -> Self {
        Self {
            hash,
            issuer_name_hash: hash.digest(issuer.subject().as_raw()),
            issuer_key_hash: hash.digest(&issuer.public_key().subject_public_key.data),
            serial: cert.raw_serial().to_vec(),
        }
    }

    /// DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        let alg = seq(&[&tlv(0x06, self.hash.oid()), &[0x05, 0x00]]);
        seq(&[&alg, &tlv(0x04, &self.issuer_name_hash), &tlv(0x04, &self.issuer_key_hash), &tlv(0x02, &self.serial)])
    }

    /// An OCSPRequest for this one certificate (no nonce: NVIDIA's responders answer from pre-produced
    /// responses).
    pub fn request_der(&self) -> Vec<u8> {
        let request = seq(&[&self.to_der()]);
        let request_list = seq(&[&request]);
        let tbs_request = seq(&[&request_list]);
        seq(&[&tbs_request])
    }
}

/// One certificate whose status must be asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspQuery {
    /// Description of the certificate (for messages).
    pub subject: String,
    /// What to ask.
    pub cert_id: CertId,
    /// The responder named in the certificate's Authority Information Access, if any.
    pub url: Option<String>,
}

impl OcspQuery {
    /// The queries for `positions` of `chain` (each certificate's issuer is the next one, or `anchor` after
    /// the last), with SHA-384 CertIDs.
    pub fn for_chain(chain: &CertChain, anchor: &TrustAnchor, positions: RangeInclusive<usize>) -> Vec<Self> {
        let Ok(anchor_cert) = parse_one(anchor.der()) else { return Vec::new() };
        let mut out = Vec::new();
        for i in positions {
            let Some(Ok(cert)) = chain.ders().get(i).map(|d| parse_one(d)) else { continue };
            let issuer = match chain.ders().get(i + 1).map(|d| parse_one(d)) {
                Some(Ok(issuer)) => issuer,
                Some(Err(_)) => continue,
                None => anchor_cert.clone(),
            };
            out.push(Self {
                subject: describe(&cert),
                cert_id: CertId::new(&cert, &issuer, HashAlg::Sha384),
                url: aia_ocsp_url(&cert),
            });
        }
        out
    }
}

fn aia_ocsp_url(cert: &X509Certificate<'_>) -> Option<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    const ID_AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    cert.extensions().iter().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::AuthorityInfoAccess(aia) => aia.accessdescs.iter().find_map(|d| match &d.access_location {
            GeneralName::URI(uri) if d.access_method.as_bytes() == ID_AD_OCSP => Some((*uri).to_owned()),
            _ => None,
        }),
        _ => None,
    })
}
