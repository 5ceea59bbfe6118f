//! Simulated PKIs shaped like NVIDIA's: a device chain (root → identity → provisioner → device → per-boot
//! attestation key carrying an FWID) and a RIM signing chain (root → CA → L3 → signer).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P384_SHA384, PublicKeyData as _, SerialNumber,
};
use thiserror::Error;
use time::OffsetDateTime;
use time::macros::datetime;

use super::der_write::{seq, tlv};
use crate::x509::{CertChain, TrustAnchor};

/// Building simulated certificates or signatures failed.
#[derive(Debug, Error)]
pub enum SimError {
    /// Certificate generation.
    #[error("simulated certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// Key handling or signing.
    #[error("simulated key: {0}")]
    Key(String),
    /// Chain assembly.
    #[error("simulated chain: {0}")]
    Chain(String),
    /// RIM signing.
    #[error("simulated RIM: {0}")]
    Rim(String),
}

/// A generated chain with its root as an anchor and the leaf's signing key.
#[derive(Debug)]
pub struct Pki {
    /// Certificates leaf first, root last.
    pub chain: CertChain,
    /// The root, as an anchor a caller may choose to trust.
    pub anchor: TrustAnchor,
    /// Per chain position (leaf first): the certificate's parameters and its PKCS#8 private key.
    levels: Vec<(CertificateParams, Vec<u8>)>,
}

impl Pki {
    /// Signs `message` with the leaf key: ECDSA P-384/SHA-384, raw `r‖s`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SimError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, self.pkcs8(0)?)
            .map_err(|e| SimError::Key(e.to_string()))?;
        let sig = key.sign(&SystemRandom::new(), message).map_err(|e| SimError::Key(e.to_string()))?;
        Ok(sig.as_ref().to_vec())
    }

    /// Signs `message` with the key of chain position `position`: ECDSA P-384/SHA-384, DER (as X.509 and
    /// OCSP signatures are encoded).
    pub fn sign_der_at(&self, position: usize, message: &[u8]) -> Result<Vec<u8>, SimError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, self.pkcs8(position)?)
            .map_err(|e| SimError::Key(e.to_string()))?;
        let sig = key.sign(&SystemRandom::new(), message).map_err(|e| SimError::Key(e.to_string()))?;
        Ok(sig.as_ref().to_vec())
    }

    fn pkcs8(&self, position: usize) -> Result<&[u8], SimError> {
        self.levels
            .get(position)
            .map(|(_, k)| k.as_slice())
            .ok_or_else(|| SimError::Key(format!("no chain position {position}")))
    }

    /// Issues a new certificate under the certificate at chain position `issuer` (a delegated OCSP
    /// responder when `ocsp_signing`), returning its DER and PKCS#8 key. `valid` bounds its validity.
    pub fn issue(
        &self,
        issuer: usize,
        cn: &str,
        ocsp_signing: bool,
        valid: (OffsetDateTime, OffsetDateTime),
    ) -> Result<(Vec<u8>, Vec<u8>), SimError> {
        let (issuer_params, issuer_key) =
            self.levels.get(issuer).ok_or_else(|| SimError::Key(format!("no chain position {issuer}")))?;
        let issuer_key = KeyPair::try_from(issuer_key.as_slice())?;
        let issuer = Issuer::new(issuer_params.clone(), issuer_key);
        let mut p = params(&Level { cn: cn.to_owned(), ca: None, extensions: vec![] }, 0x5eed);
        p.not_before = valid.0;
        p.not_after = valid.1;
        if ocsp_signing {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::OcspSigning];
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.der().to_vec(), key.serialize_der()))
    }

    /// The chain as PEM.
    pub fn chain_pem(&self) -> String {
        self.chain.to_pem()
    }
}

/// Validity of simulated certificates: the same window as NVIDIA's device certificates.
const NOT_BEFORE: OffsetDateTime = datetime!(2023-01-01 0:00 UTC);
const NOT_AFTER: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);

struct Level {
    cn: String,
    ca: Option<u8>,
    extensions: Vec<CustomExtension>,
}

fn params(level: &Level, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, level.cn.clone());
    dn.push(DnType::OrganizationName, "ccgpu simulation");
    p.distinguished_name = dn;
    p.not_before = NOT_BEFORE;
    p.not_after = NOT_AFTER;
    p.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
    match level.ca {
        Some(path_len) => {
            p.is_ca = IsCa::Ca(if path_len == u8::MAX {
                BasicConstraints::Unconstrained
            } else {
                BasicConstraints::Constrained(path_len)
            });
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        None => {
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        }
    }
    p.custom_extensions = level.extensions.clone();
    p
}

/// One certificate made by [`grow`]: its DER, parameters and PKCS#8 key.
type Made = (Vec<u8>, CertificateParams, Vec<u8>);

/// Extends `issued` (root first) with `levels`, each signed by the previous one (the first self-signed
/// when `issued` is empty), with fresh P-384 keys (`leaf_key` for the last level, if given).
fn grow(
    issued: &[Made],
    levels: Vec<Level>,
    leaf_key: Option<KeyPair>,
    serial_base: u64,
) -> Result<Vec<Made>, SimError> {
    let mut out = issued.to_vec();
    let mut leaf_key = leaf_key;
    let levels_len = levels.len();
    for (i, level) in levels.into_iter().enumerate() {
        let key = match (i + 1 == levels_len, leaf_key.take()) {
            (true, Some(k)) => k,
            _ => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?,
        };
        let p = params(&level, serial_base + out.len() as u64 + 1);
        let cert = match out.last() {
            None => p.self_signed(&key)?,
            Some((_, issuer_params, issuer_key)) => {
                p.signed_by(&key, &Issuer::new(issuer_params.clone(), KeyPair::try_from(issuer_key.as_slice())?))?
            }
        };
        out.push((cert.der().to_vec(), p, key.serialize_der()));
    }
    Ok(out)
}

/// A [`Pki`] from root-first certificates.
fn assemble(made: Vec<Made>, anchor_name: &str) -> Result<Pki, SimError> {
    let root = made.first().map(|m| m.0.clone()).ok_or_else(|| SimError::Chain("no levels".into()))?;
    let mut ders = Vec::with_capacity(made.len());
    let mut keys = Vec::with_capacity(made.len());
    for (der, p, key) in made.into_iter().rev() {
        ders.push(der);
        keys.push((p, key));
    }
    let chain = CertChain::from_der_list(ders).map_err(|e| SimError::Chain(e.to_string()))?;
    let anchor = TrustAnchor::from_der(anchor_name.to_owned(), root).map_err(SimError::Chain)?;
    Ok(Pki { chain, anchor, levels: keys })
}

fn serial_base(anchor_name: &str) -> u64 {
    u64::from_be_bytes(crate::crypto::sha384(anchor_name.as_bytes())[..8].try_into().unwrap_or([1; 8])) >> 8
}

/// Builds root-first `levels` into a chain (returned leaf first) with fresh P-384 keys.
fn build(levels: Vec<Level>, leaf_key: Option<KeyPair>, anchor_name: &str) -> Result<Pki, SimError> {
    assemble(grow(&[], levels, leaf_key, serial_base(anchor_name))?, anchor_name)
}

/// A simulated GPU device PKI (5 certificates, like NVIDIA's).
#[derive(Debug)]
pub struct DevicePki;

impl DevicePki {
    /// A fresh device chain for `chip` (e.g. `GH100`) whose attestation certificate carries `fwid` in
    /// NVIDIA's Hopper FWID extension.
    pub fn generate(chip: &str, fwid: &[u8; 48]) -> Result<Pki, SimError> {
        Ok(Self::generate_fleet(chip, fwid, 1)?.remove(0))
    }

    /// `count` GPUs of one simulated vendor PKI, as real GPUs are: one root, identity and provisioner CA
    /// shared, and per GPU its own device ("GSP BROM") certificate and attestation key. Every chain has
    /// the same anchor.
    pub fn generate_fleet(chip: &str, fwid: &[u8; 48], count: usize) -> Result<Vec<Pki>, SimError> {
        const ANCHOR: &str = "Simulated Device Identity CA";
        let top = vec![
            Level { cn: ANCHOR.into(), ca: Some(u8::MAX), extensions: vec![] },
            Level { cn: format!("Simulated {chip} Identity"), ca: Some(u8::MAX), extensions: vec![] },
            Level { cn: format!("Simulated {chip} Provisioner ICA 1"), ca: Some(u8::MAX), extensions: vec![] },
        ];
        let shared = grow(&[], top, None, serial_base(ANCHOR))?;
        (0..count)
            .map(|i| {
                let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
                let fwid_ext = hopper_fwid_extension(&ec_spki(leaf_key.der_bytes()), fwid);
                let device = vec![
                    Level { cn: format!("{chip} A01 GSP BROM"), ca: Some(u8::MAX), extensions: vec![] },
                    Level { cn: format!("{chip} A01 GSP FMC LF"), ca: None, extensions: vec![fwid_ext] },
                ];
                // Distinct serials per GPU, as NVIDIA's per-device certificates have.
                assemble(grow(&shared, device, Some(leaf_key), serial_base(ANCHOR) + 16 * (i as u64 + 1))?, ANCHOR)
            })
            .collect()
    }
}

/// SubjectPublicKeyInfo of a P-384 point.
fn ec_spki(point: &[u8]) -> Vec<u8> {
    let alg = seq(&[&tlv(0x06, crate::oid::EC_PUBLIC_KEY), &tlv(0x06, crate::oid::CURVE_P384)]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    seq(&[&alg, &tlv(0x03, &bits)])
}

/// `SEQUENCE { INTEGER 1, SubjectPublicKeyInfo, SEQUENCE { OID sha384, OCTET STRING fwid } }` under
/// 2.23.133.5.4.1, as NVIDIA's Hopper attestation certificates carry it.
fn hopper_fwid_extension(spki_der: &[u8], fwid: &[u8; 48]) -> CustomExtension {
    let sha384_oid = tlv(0x06, crate::oid::SHA384);
    let content = seq(&[&tlv(0x02, &[1]), spki_der, &seq(&[&sha384_oid, &tlv(0x04, fwid)])]);
    CustomExtension::from_oid_content(&[2, 23, 133, 5, 4, 1], content)
}

/// A simulated RIM signing PKI (4 certificates, like NVIDIA's).
#[derive(Debug)]
pub struct RimPki;

impl RimPki {
    /// A fresh RIM signing chain.
    pub fn generate() -> Result<Pki, SimError> {
        let levels = vec![
            Level { cn: "Simulated CoRIM signing Root CA".into(), ca: Some(u8::MAX), extensions: vec![] },
            Level { cn: "Simulated Reference Value CA".into(), ca: Some(u8::MAX), extensions: vec![] },
            Level { cn: "Simulated Reference Value L3".into(), ca: Some(0), extensions: vec![] },
            Level { cn: "Simulated RIM L4 Signer".into(), ca: None, extensions: vec![] },
        ];
        build(levels, None, "Simulated CoRIM signing Root CA")
    }
}
