//! Certificate bundles as received (PEM or DER list) and helpers to describe a certificate in messages.

use thiserror::Error;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::der::{DerError, DerReader, tag};

/// Start of every PEM block's BEGIN line.
const PEM_BEGIN: &[u8] = b"-----BEGIN ";

/// Most certificates accepted in one chain (NVIDIA's are 4 or 5 long).
pub const MAX_CHAIN_LEN: usize = 8;

/// A bundle that is not a list of well-formed certificates.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainParseError {
    /// Not valid PEM.
    #[error("not a PEM certificate bundle: {0}")]
    Pem(String),
    /// A PEM block that is not a certificate.
    #[error("PEM block {position} is a {label}, not a CERTIFICATE")]
    NotCertificate {
        /// 0-based block index.
        position: usize,
        /// The block's label.
        label: String,
    },
    /// No certificate at all.
    #[error("no certificates")]
    Empty,
    /// Too many certificates.
    #[error("{0} certificates, more than the {MAX_CHAIN_LEN} allowed")]
    TooLong(usize),
    /// A certificate that does not parse.
    #[error("certificate {position}: {reason}")]
    Malformed {
        /// 0-based chain position.
        position: usize,
        /// Parser message.
        reason: String,
    },
}

/// An ordered certificate chain, leaf first, each entry a DER certificate that parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChain {
    ders: Vec<Vec<u8>>,
}

impl CertChain {
    /// Parses concatenated PEM `CERTIFICATE` blocks (leaf first).
    pub fn from_pem(pem_bytes: &[u8]) -> Result<Self, ChainParseError> {
        let blocks = pem::parse_many(pem_bytes).map_err(|e| ChainParseError::Pem(e.to_string()))?;
        // The PEM parser skips a BEGIN line it cannot match with an END: a cut bundle would lose its
        // last certificate silently.
        let begins = pem_bytes.windows(PEM_BEGIN.len()).filter(|w| *w == PEM_BEGIN).count();
        if begins != blocks.len() {
            return Err(ChainParseError::Pem(format!("{begins} BEGIN lines but {} complete PEM blocks", blocks.len())));
        }
        let mut ders = Vec::with_capacity(blocks.len());
        for (position, block) in blocks.into_iter().enumerate() {
            if block.tag() != "CERTIFICATE" {
                return Err(ChainParseError::NotCertificate { position, label: block.tag().to_owned() });
            }
            ders.push(block.into_contents());
        }
        Self::from_der_list(ders)
    }

    /// Takes DER certificates (leaf first); each must parse as exactly one certificate.
    pub fn from_der_list(ders: Vec<Vec<u8>>) -> Result<Self, ChainParseError> {
        if ders.is_empty() {
            return Err(ChainParseError::Empty);
        }
        if ders.len() > MAX_CHAIN_LEN {
            return Err(ChainParseError::TooLong(ders.len()));
        }
        for (position, der) in ders.iter().enumerate() {
            parse_one(der).map_err(|reason| ChainParseError::Malformed { position, reason })?;
        }
        Ok(Self { ders })
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.ders.len()
    }

    /// Always false: a chain holds at least one certificate.
    pub fn is_empty(&self) -> bool {
        self.ders.is_empty()
    }

    /// DER of each certificate, leaf first.
    pub fn ders(&self) -> &[Vec<u8>] {
        &self.ders
    }

    /// The SubjectPublicKeyInfo (DER) of the certificate at `position`: what its issuer signed about the
    /// subject's key. Unlike the certificate's bytes it cannot be re-encoded without breaking the
    /// signature (an ECDSA signature `s` can be replaced by `n - s`, so two different certificate
    /// encodings can carry one valid statement): identify a device by this, never by whole-DER bytes.
    pub fn public_key(&self, position: usize) -> Option<&[u8]> {
        let der = self.ders.get(position)?;
        parse_one(der).ok().map(|c| c.tbs_certificate.subject_pki.raw)
    }

    /// Parsed view of every certificate (cannot fail: checked at construction, but reported if it does).
    pub(crate) fn parsed(&self) -> Result<Vec<X509Certificate<'_>>, ChainParseError> {
        self.ders
            .iter()
            .enumerate()
            .map(|(position, der)| parse_one(der).map_err(|reason| ChainParseError::Malformed { position, reason }))
            .collect()
    }

    /// A short description of each certificate (`CN=…`, else the whole subject), leaf first.
    pub fn subjects(&self) -> Vec<String> {
        self.ders
            .iter()
            .map(|der| parse_one(der).map_or_else(|e| format!("(unparsable: {e})"), |c| describe(&c)))
            .collect()
    }

    /// PEM encoding of the chain.
    pub fn to_pem(&self) -> String {
        self.ders.iter().map(|d| pem::encode(&pem::Pem::new("CERTIFICATE", d.clone()))).collect()
    }
}

/// Parses exactly one DER certificate with nothing after it.
pub(crate) fn parse_one(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes after the certificate", rest.len()));
    }
    strict_framing(der).map_err(|e| format!("not DER: {e}"))?;
    Ok(cert)
}

/// The parts of a certificate outside the signed `tbsCertificate` — the outer SEQUENCE, the signature
/// algorithm and the signature BIT STRING — must be DER (minimal definite lengths). x509-parser accepts
/// BER lengths there, which would let anyone re-encode a certificate without touching its signature.
fn strict_framing(der: &[u8]) -> Result<(), DerError> {
    let mut outer = DerReader::new(der);
    let cert = outer.expect(tag::SEQUENCE)?;
    outer.finish()?;
    let mut parts = DerReader::new(cert.value);
    parts.expect(tag::SEQUENCE)?;
    let algorithm = parts.expect(tag::SEQUENCE)?;
    parts.expect(tag::BIT_STRING)?;
    parts.finish()?;
    let mut alg = DerReader::new(algorithm.value);
    alg.expect(tag::OID)?;
    while !alg.is_empty() {
        alg.read()?;
    }
    Ok(())
}

/// A short human description of a certificate: its subject common name, else the whole subject.
pub(crate) fn describe(cert: &X509Certificate<'_>) -> String {
    let subject = cert.subject();
    match subject.iter_common_name().next().and_then(|cn| cn.as_str().ok()) {
        Some(cn) => format!("CN={cn}"),
        None => subject.to_string(),
    }
}
