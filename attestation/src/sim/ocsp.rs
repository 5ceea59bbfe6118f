//! Simulated OCSP responses: any status, any times, signed by a delegated responder of a simulated PKI,
//! for testing every branch of the OCSP checks.

use time::OffsetDateTime;

use super::der_write::{seq, tlv};
use super::pki::{Pki, SimError};
use crate::ocsp::CertId;
use crate::x509::parse_one;

/// What a simulated response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimStatus {
    /// good
    Good,
    /// revoked at a time with an optional CRLReason code
    Revoked(OffsetDateTime, Option<u8>),
    /// unknown
    Unknown,
}

/// A response about chain position `position` of `pki`, signed by a delegated responder issued by the
/// certificate's issuer (position + 1). `responder_ocsp_eku = false` makes a responder without
/// id-kp-OCSPSigning (to test that it is refused).
#[allow(clippy::too_many_arguments)]
pub fn ocsp_response(
    pki: &Pki,
    position: usize,
    status: SimStatus,
    produced_at: OffsetDateTime,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    responder_ocsp_eku: bool,
) -> Result<Vec<u8>, SimError> {
    let ders = pki.chain.ders();
    let (cert_der, issuer_der) = match (ders.get(position), ders.get(position + 1)) {
        (Some(c), Some(i)) => (c, i),
        _ => return Err(SimError::Chain(format!("no certificate and issuer at position {position}"))),
    };
    let cert = parse_one(cert_der).map_err(SimError::Chain)?;
    let issuer = parse_one(issuer_der).map_err(SimError::Chain)?;
    let cert_id = CertId::new(&cert, &issuer, crate::ocsp::HashAlg::Sha384);
    let validity = (produced_at - time::Duration::days(30), produced_at + time::Duration::days(30));
    let (responder_der, responder_key) =
        pki.issue(position + 1, "Simulated OCSP Responder", responder_ocsp_eku, validity)?;
    let responder = parse_one(&responder_der).map_err(SimError::Chain)?;

    let gt = |t: OffsetDateTime| {
        let s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        tlv(0x18, s.as_bytes())
    };
    let status_der = match status {
        SimStatus::Good => vec![0x80, 0x00],
        SimStatus::Revoked(at, reason) => {
            let mut inner = gt(at);
            if let Some(code) = reason {
                inner.extend(tlv(0xa0, &tlv(0x0a, &[code])));
            }
            tlv(0xa1, &inner)
        }
        SimStatus::Unknown => vec![0x82, 0x00],
    };
    let mut single = [cert_id.to_der(), status_der, gt(this_update)].concat();
    if let Some(n) = next_update {
        single.extend(tlv(0xa0, &gt(n)));
    }
    let responder_id = tlv(0xa1, responder.subject().as_raw());
    let tbs = seq(&[&responder_id, &gt(produced_at), &seq(&[&seq(&[&single])])]);
    let sig = {
        let key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &responder_key,
        )
        .map_err(|e| SimError::Key(e.to_string()))?;
        key.sign(&aws_lc_rs::rand::SystemRandom::new(), &tbs)
            .map_err(|e| SimError::Key(e.to_string()))?
            .as_ref()
            .to_vec()
    };
    let alg = seq(&[&tlv(0x06, crate::oid::ECDSA_SHA384)]);
    let mut bits = vec![0u8];
    bits.extend(sig);
    let certs = tlv(0xa0, &seq(&[&responder_der]));
    let basic = seq(&[&tbs, &alg, &tlv(0x03, &bits), &certs]);
    let basic_oid = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
    let bytes = seq(&[&tlv(0x06, &basic_oid), &tlv(0x04, &basic)]);
    Ok(seq(&[&tlv(0x0a, &[0]), &tlv(0xa0, &bytes)]))
}
