//! A simulated AMD PKI: hand-encoded certificates (rcgen cannot sign with RSASSA-PSS/SHA-384), signed with
//! aws-lc-rs RSA-4096 keys, and P-384 endorsement keys that sign reports.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PSS_SHA384};
use time::OffsetDateTime;
use time::macros::datetime;

use super::super::SimError;
use super::super::der_write::{seq, tlv};
use crate::snp::report::{REPORT_LEN, SIGNED_LEN, offset};
use crate::snp::{AmdRoots, Product, ProductRoots, Tcb, VekKind};

/// Validity of the simulated ARK, ASK and ASVK (AMD's run 25 years from 2020–2022).
const CA_NOT_BEFORE: OffsetDateTime = datetime!(2020-10-22 0:00 UTC);
const CA_NOT_AFTER: OffsetDateTime = datetime!(2045-10-22 0:00 UTC);

/// A simulated ARK, ASK and ASVK for one product.
#[derive(Debug)]
pub struct SnpPki {
    product: Product,
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    asvk_der: Vec<u8>,
    ark_key: RsaKeyPair,
    ask_key: RsaKeyPair,
    asvk_key: RsaKeyPair,
}

/// What a simulated VCEK/VLEK certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VekSpec {
    /// VCEK (issued by the ASK) or VLEK (issued by the ASVK).
    pub kind: VekKind,
    /// productName extension (`None` leaves it out).
    pub product_name: Option<String>,
    /// The TCB extensions (fmcSPL only when `fmc` is set).
    pub tcb: Tcb,
    /// hwID (VCEKs carry one).
    pub hw_id: Option<Vec<u8>>,
    /// cspID (VLEKs carry one).
    pub csp_id: Option<String>,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
}

impl VekSpec {
    /// A VCEK for the chip `chip_id` (64 bytes for Milan/Genoa, the first 8 for Turin) at `tcb`, valid
    /// 2023–2030 like AMD's.
    pub fn vcek(product: Product, tcb: Tcb, chip_id: &[u8]) -> Self {
        let hw_len = if product.has_fmc() { 8 } else { 64 };
        Self {
            kind: VekKind::Vcek,
            product_name: Some(match product {
                Product::Milan => "Milan-B0".to_owned(),
                p => p.name().to_owned(),
            }),
            tcb,
            hw_id: Some(chip_id.iter().copied().take(hw_len).collect()),
            csp_id: None,
            not_before: datetime!(2023-01-01 0:00 UTC),
            not_after: datetime!(2030-01-01 0:00 UTC),
        }
    }

    /// A VLEK for the provider `csp` at `tcb`.
    pub fn vlek(product: Product, tcb: Tcb, csp: &str) -> Self {
        Self {
            kind: VekKind::Vlek,
            product_name: Some(product.name().to_owned()),
            tcb,
            hw_id: None,
            csp_id: Some(csp.to_owned()),
            not_before: datetime!(2023-01-01 0:00 UTC),
            not_after: datetime!(2030-01-01 0:00 UTC),
        }
    }
}

/// A simulated VCEK/VLEK certificate and its private key.
#[derive(Debug)]
pub struct SimVek {
    /// The certificate (DER).
    pub der: Vec<u8>,
    key: EcdsaKeyPair,
}

impl SimVek {
    /// Signs `report` in place: ECDSA P-384/SHA-384 over `[0, 0x2A0)`, written as AMD's little-endian
    /// 72-byte `r` and `s` fields (the rest of the signature field is left as it is).
    pub fn sign_report(&self, report: &mut [u8; REPORT_LEN]) -> Result<(), SimError> {
        let sig = self
            .key
            .sign(&SystemRandom::new(), &report[..SIGNED_LEN])
            .map_err(|e| SimError::Key(format!("P-384 signing: {e}")))?;
        let rs = sig.as_ref();
        if rs.len() != 96 {
            return Err(SimError::Key(format!("P-384 signature of {} bytes", rs.len())));
        }
        for (range, be) in [(offset::SIGNATURE_R, &rs[..48]), (offset::SIGNATURE_S, &rs[48..])] {
            let field = &mut report[range];
            field.fill(0);
            for (i, b) in be.iter().rev().enumerate() {
                field[i] = *b;
            }
        }
        Ok(())
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }
}

impl SnpPki {
    /// Fresh RSA-4096 ARK, ASK and ASVK for `product`, named like AMD's (about a second of key generation).
    pub fn generate(product: Product) -> Result<Self, SimError> {
        let gen_key = || RsaKeyPair::generate(KeySize::Rsa4096).map_err(|e| SimError::Key(format!("RSA-4096: {e}")));
        let ark_key = gen_key()?;
        let ask_key = gen_key()?;
        let asvk_key = gen_key()?;
        let ark_name = amd_name(&format!("ARK-{product}"));
        let ca = |subject: &[u8], key: &RsaKeyPair, path_len: Option<u8>, serial: u8| -> Result<Vec<u8>, SimError> {
            let ku = if path_len.is_some() { KU_CERT_SIGN } else { KU_CERT_AND_CRL_SIGN };
            let extensions = vec![basic_constraints(path_len), critical_extension(15, &ku)];
            let tbs = tbs(&[serial], &ark_name, subject, CA_NOT_BEFORE, CA_NOT_AFTER, &rsa_spki(key)?, &extensions);
            sign_certificate(&tbs, &ark_key)
        };
        let ark_der = ca(&ark_name, &ark_key, None, 1)?;
        let ask_der = ca(&amd_name(&format!("SEV-{product}")), &ask_key, Some(0), 2)?;
        let asvk_der = ca(&amd_name(&format!("SEV-VLEK-{product}")), &asvk_key, Some(0), 3)?;
        Ok(Self { product, ark_der, ask_der, asvk_der, ark_key, ask_key, asvk_key })
    }

    /// The product.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The simulated ARK (DER): a foreign root to AMD's roots.
    pub fn ark_der(&self) -> &[u8] {
        &self.ark_der
    }

    /// The simulated ASK (DER).
    pub fn ask_der(&self) -> &[u8] {
        &self.ask_der
    }

    /// A CRL of the ARK (AMD's shape: v2, RSASSA-PSS SHA-384, issuer the ARK's name) listing `revoked`
    /// serials (e.g. [`Self::ASK_SERIAL`]), current from `this_update` to `next_update`.
    pub fn crl(
        &self,
        this_update: OffsetDateTime,
        next_update: Option<OffsetDateTime>,
        revoked: &[&[u8]],
    ) -> Result<Vec<u8>, SimError> {
        let entries: Vec<Vec<u8>> =
            revoked.iter().map(|serial| seq(&[&tlv(0x02, serial), &time_value(this_update)])).collect();
        let entry_refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let next = next_update.map(time_value).unwrap_or_default();
        let list = if entries.is_empty() { Vec::new() } else { seq(&entry_refs) };
        let tbs = seq(&[
            &tlv(0x02, &[1]),
            &pss_sha384(),
            &amd_name(&format!("ARK-{}", self.product)),
            &time_value(this_update),
            &next,
            &list,
        ]);
        sign_certificate(&tbs, &self.ark_key)
    }

    /// Serial of the simulated ASK.
    pub const ASK_SERIAL: &[u8] = &[2];
    /// Serial of the simulated ASVK.
    pub const ASVK_SERIAL: &[u8] = &[3];

    /// These roots, as a root set a caller may choose to trust.
    pub fn roots(&self) -> Result<AmdRoots, SimError> {
        let p = ProductRoots::from_der(
            self.product,
            self.ark_der.clone(),
            self.ask_der.clone(),
            Some(self.asvk_der.clone().into()),
        )
        .map_err(|e| SimError::Chain(e.to_string()))?;
        AmdRoots::new(vec![p]).map_err(|e| SimError::Chain(e.to_string()))
    }

    /// AMD's `cert_chain` shape: the ASK (or ASVK for `VekKind::Vlek`), then the ARK, as PEM.
    pub fn ask_ark_pem(&self, kind: VekKind) -> String {
        let intermediate = match kind {
            VekKind::Vcek => &self.ask_der,
            VekKind::Vlek => &self.asvk_der,
        };
        [intermediate, &self.ark_der].iter().map(|d| pem::encode(&pem::Pem::new("CERTIFICATE", d.to_vec()))).collect()
    }

    /// Issues a VCEK (by the ASK) or VLEK (by the ASVK) with a fresh P-384 key.
    pub fn issue_vek(&self, spec: &VekSpec) -> Result<SimVek, SimError> {
        let key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .map_err(|e| SimError::Key(format!("P-384: {e}")))?;
        let (issuer_cn, subject_cn, issuer_key) = match spec.kind {
            VekKind::Vcek => (format!("SEV-{}", self.product), "SEV-VCEK", &self.ask_key),
            VekKind::Vlek => (format!("SEV-VLEK-{}", self.product), "SEV-VLEK", &self.asvk_key),
        };
        let mut extensions = vec![amd_extension(&[1], &tlv(0x02, &[0]))];
        if let Some(name) = &spec.product_name {
            extensions.push(amd_extension(&[2], &tlv(0x16, name.as_bytes())));
        }
        if let Some(fmc) = spec.tcb.fmc {
            extensions.push(amd_extension(&[3, 9], &der_u8(fmc)));
        }
        for (arc, spl) in [(1, spec.tcb.bootloader), (2, spec.tcb.tee), (4, 0), (5, 0), (6, 0), (7, 0)] {
            extensions.push(amd_extension(&[3, arc], &der_u8(spl)));
        }
        extensions.push(amd_extension(&[3, 3], &der_u8(spec.tcb.snp)));
        extensions.push(amd_extension(&[3, 8], &der_u8(spec.tcb.microcode)));
        if let Some(hw) = &spec.hw_id {
            extensions.push(amd_extension(&[4], hw));
        }
        if let Some(csp) = &spec.csp_id {
            extensions.push(amd_extension(&[5], &tlv(0x16, csp.as_bytes())));
        }
        let spki = ec_spki(key.public_key().as_ref());
        let tbs = tbs(
            &[0],
            &amd_name(&issuer_cn),
            &amd_name(subject_cn),
            spec.not_before,
            spec.not_after,
            &spki,
            &extensions,
        );
        Ok(SimVek { der: sign_certificate(&tbs, issuer_key)?, key })
    }
}

/// keyUsage keyCertSign (bit 5).
const KU_CERT_SIGN: [u8; 4] = [0x03, 0x02, 0x02, 0x04];
/// keyUsage keyCertSign and cRLSign (bits 5, 6).
const KU_CERT_AND_CRL_SIGN: [u8; 4] = [0x03, 0x02, 0x01, 0x06];

/// AMD's distinguished name with common name `cn`.
fn amd_name(cn: &str) -> Vec<u8> {
    let rdn = |arc: u8, string_tag: u8, value: &str| {
        tlv(0x31, &seq(&[&tlv(0x06, &[0x55, 0x04, arc]), &tlv(string_tag, value.as_bytes())]))
    };
    seq(&[
        &rdn(11, 0x0c, "Engineering"),
        &rdn(6, 0x13, "US"),
        &rdn(7, 0x0c, "Santa Clara"),
        &rdn(8, 0x0c, "CA"),
        &rdn(10, 0x0c, "Advanced Micro Devices"),
        &rdn(3, 0x0c, cn),
    ])
}

/// AlgorithmIdentifier of RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48 (trailer left to its default).
fn pss_sha384() -> Vec<u8> {
    let sha384 = seq(&[&tlv(0x06, crate::oid::SHA384), &[0x05, 0x00]]);
    let mgf1 = seq(&[&tlv(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08]), &sha384]);
    let params = seq(&[&tlv(0xa0, &sha384), &tlv(0xa1, &mgf1), &tlv(0xa2, &tlv(0x02, &[48]))]);
    seq(&[&tlv(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]), &params])
}

fn time_value(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (tag, year) = if (1950..2050).contains(&t.year()) {
        (0x17, format!("{:02}", t.year().rem_euclid(100)))
    } else {
        (0x18, format!("{:04}", t.year()))
    };
    let text =
        format!("{year}{:02}{:02}{:02}{:02}{:02}Z", u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second());
    tlv(tag, text.as_bytes())
}

fn tbs(
    serial: &[u8],
    issuer: &[u8],
    subject: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    spki: &[u8],
    extensions: &[Vec<u8>],
) -> Vec<u8> {
    let ext_refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    seq(&[
        &tlv(0xa0, &tlv(0x02, &[2])),
        &tlv(0x02, serial),
        &pss_sha384(),
        issuer,
        &seq(&[&time_value(not_before), &time_value(not_after)]),
        subject,
        spki,
        &tlv(0xa3, &seq(&ext_refs)),
    ])
}

fn sign_certificate(tbs: &[u8], key: &RsaKeyPair) -> Result<Vec<u8>, SimError> {
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PSS_SHA384, &SystemRandom::new(), tbs, &mut sig)
        .map_err(|e| SimError::Key(format!("RSA-PSS signing: {e}")))?;
    let mut bits = vec![0u8];
    bits.extend(sig);
    Ok(seq(&[tbs, &pss_sha384(), &tlv(0x03, &bits)]))
}

fn rsa_spki(key: &RsaKeyPair) -> Result<Vec<u8>, SimError> {
    let der = key.public_key().as_der().map_err(|e| SimError::Key(format!("RSA public key: {e}")))?;
    Ok(der.as_ref().to_vec())
}

fn ec_spki(point: &[u8]) -> Vec<u8> {
    let alg = seq(&[&tlv(0x06, crate::oid::EC_PUBLIC_KEY), &tlv(0x06, crate::oid::CURVE_P384)]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    seq(&[&alg, &tlv(0x03, &bits)])
}

/// A critical standard extension 2.5.29.`n`.
fn critical_extension(n: u8, value: &[u8]) -> Vec<u8> {
    seq(&[&tlv(0x06, &[0x55, 0x1d, n]), &[0x01, 0x01, 0xff], &tlv(0x04, value)])
}

/// An extension under 1.3.6.1.4.1.3704.1 (`sub` arcs appended), not critical.
fn amd_extension(sub: &[u8], value: &[u8]) -> Vec<u8> {
    let mut oid = vec![0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01];
    oid.extend_from_slice(sub);
    seq(&[&tlv(0x06, &oid), &tlv(0x04, value)])
}

fn basic_constraints(path_len: Option<u8>) -> Vec<u8> {
    let value = match path_len {
        Some(n) => seq(&[&[0x01, 0x01, 0xff], &tlv(0x02, &[n])]),
        None => seq(&[&[0x01, 0x01, 0xff]]),
    };
    critical_extension(19, &value)
}

/// A DER INTEGER holding `v` (0..=255).
fn der_u8(v: u8) -> Vec<u8> {
    if v < 0x80 { tlv(0x02, &[v]) } else { tlv(0x02, &[0, v]) }
}
