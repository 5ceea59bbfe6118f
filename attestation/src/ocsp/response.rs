//! Parsing an OCSPResponse / BasicOCSPResponse (RFC 6960 §4.2.1) into types, keeping the signed
//! `tbsResponseData` bytes exactly as received.

use std::fmt;

use serde::Serialize;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::OcspError;
use super::request::{CertId, HashAlg};
use crate::der::{DerReader, tag};

const ID_PKIX_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
const GENERALIZED_TIME: u8 = 0x18;
const ENUMERATED: u8 = 0x0a;
/// Most single responses accepted in one response (NVIDIA's carry one).
const MAX_RESPONSES: usize = 64;
/// Most certificates accepted in a response.
const MAX_CERTS: usize = 8;

/// CRLReason (RFC 5280 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    fn from_code(code: u8) -> Option<Self> {
        use RevocationReason::*;
        Some(match code {
            0 => Unspecified,
            1 => KeyCompromise,
            2 => CaCompromise,
            3 => AffiliationChanged,
            4 => Superseded,
            5 => CessationOfOperation,
            6 => CertificateHold,
            8 => RemoveFromCrl,
            9 => PrivilegeWithdrawn,
            10 => AaCompromise,
            _ => return None,
        })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        f.write_str(&s)
    }
}

/// A certificate's status as a response states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked.
    Good,
    /// Revoked (or held) at a time, with an optional reason.
    Revoked {
        /// Revocation time.
        at: OffsetDateTime,
        /// Reason, when given.
        reason: Option<RevocationReason>,
    },
    /// Not known to the responder.
    Unknown,
}

/// One SingleResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleResponse {
    /// The certificate it is about.
    pub cert_id: CertId,
    /// Its status.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate, when given.
    pub next_update: Option<OffsetDateTime>,
}

/// Who signed the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponderId {
    /// By subject name (raw DER of the Name).
    ByName(Vec<u8>),
    /// By SHA-1 of the responder's public key.
    ByKey(Vec<u8>),
}

/// A successful basic OCSP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspResponse {
    /// The signed `tbsResponseData` exactly as received.
    pub tbs: Vec<u8>,
    /// Responder id.
    pub responder_id: ResponderId,
    /// producedAt.
    pub produced_at: OffsetDateTime,
    /// The single responses.
    pub responses: Vec<SingleResponse>,
    /// Signature algorithm OID content bytes.
    pub signature_algorithm: Vec<u8>,
    /// Signature (DER ECDSA for NVIDIA's responders).
    pub signature: Vec<u8>,
    /// Certificates carried (the delegated responder's first).
    pub certs: Vec<Vec<u8>>,
}

impl OcspResponse {
    /// Parses a DER OCSPResponse; anything but a `successful` basic response is an error.
    pub fn parse(der: &[u8]) -> Result<Self, OcspError> {
        let fmt_err = |s: &str| OcspError::Format(s.to_owned());
        let mut outer = DerReader::new(der);
        let resp = outer.expect(tag::SEQUENCE)?;
        outer.finish()?;
        let mut r = DerReader::new(resp.value);
        let status = r.expect(ENUMERATED)?;
        match status.value {
            [0] => {}
            [code] => {
                let name = match code {
                    1 => "malformedRequest",
                    2 => "internalError",
                    3 => "tryLater",
                    5 => "sigRequired",
                    6 => "unauthorized",
                    _ => "an unknown status",
                };
                return Err(OcspError::Status(format!("{name} ({code})")));
            }
            _ => return Err(fmt_err("responseStatus is not a one-byte ENUMERATED")),
        }
        let bytes = r.expect(0xa0)?;
        r.finish()?;
        let mut rb = DerReader::new(bytes.value);
        let rb_seq = rb.expect(tag::SEQUENCE)?;
        rb.finish()?;
        let mut rb = DerReader::new(rb_seq.value);
        if rb.expect(tag::OID)?.value != ID_PKIX_OCSP_BASIC {
            return Err(fmt_err("responseType is not id-pkix-ocsp-basic"));
        }
        let basic = rb.expect(tag::OCTET_STRING)?;
        rb.finish()?;

        let mut b = DerReader::new(basic.value);
        let basic_seq = b.expect(tag::SEQUENCE)?;
        b.finish()?;
        let mut b = DerReader::new(basic_seq.value);
        let tbs = b.expect(tag::SEQUENCE)?;
        let alg = b.expect(tag::SEQUENCE)?;
        let signature_algorithm = DerReader::new(alg.value).expect(tag::OID)?.value.to_vec();
        let sig_bits = b.expect(tag::BIT_STRING)?;
        let signature = match sig_bits.value.split_first() {
            Some((0, rest)) => rest.to_vec(),
            _ => return Err(fmt_err("signature BIT STRING has unused bits")),
        };
        let mut certs = Vec::new();
        if let Some(c) = b.optional(0xa0)? {
            let mut list = DerReader::new(DerReader::new(c.value).expect(tag::SEQUENCE)?.value);
            while !list.is_empty() {
                if certs.len() == MAX_CERTS {
                    return Err(fmt_err("too many certificates"));
                }
                let cert = list.expect(tag::SEQUENCE)?;
                certs.push(cert.raw.to_vec());
            }
        }
        b.finish()?;
        let (responder_id, produced_at, responses) = parse_tbs(tbs.value)?;
        Ok(OcspResponse {
            tbs: tbs.raw.to_vec(),
            responder_id,
            produced_at,
            responses,
            signature_algorithm,
            signature,
            certs,
        })
    }
}

fn parse_tbs(tbs: &[u8]) -> Result<(ResponderId, OffsetDateTime, Vec<SingleResponse>), OcspError> {
    let mut r = DerReader::new(tbs);
    if let Some(v) = r.optional(0xa0)? {
        // version [0] EXPLICIT INTEGER, must be v1 (0) if present.
        if DerReader::new(v.value).expect(tag::INTEGER)?.value != [0] {
            return Err(OcspError::Format("unsupported ResponseData version".into()));
        }
    }
    let rid = r.read()?;
    let responder_id = match rid.tag {
        0xa1 => ResponderId::ByName(rid.value.to_vec()),
        0xa2 => ResponderId::ByKey(DerReader::new(rid.value).expect(tag::OCTET_STRING)?.value.to_vec()),
        _ => return Err(OcspError::Format("responderID is neither byName nor byKey".into())),
    };
    let produced_at = generalized_time(r.expect(GENERALIZED_TIME)?.value)?;
    let list = r.expect(tag::SEQUENCE)?;
    let _extensions = r.optional(0xa1)?;
    r.finish()?;
    let mut responses = Vec::new();
    let mut l = DerReader::new(list.value);
    while !l.is_empty() {
        if responses.len() == MAX_RESPONSES {
            return Err(OcspError::Format("too many single responses".into()));
        }
        responses.push(parse_single(l.expect(tag::SEQUENCE)?.value)?);
    }
    Ok((responder_id, produced_at, responses))
}

fn parse_single(s: &[u8]) -> Result<SingleResponse, OcspError> {
    let mut r = DerReader::new(s);
    let cert_id = parse_cert_id(r.expect(tag::SEQUENCE)?.value)?;
    let st = r.read()?;
    let status = match st.tag {
        0x80 if st.value.is_empty() => CertStatus::Good,
        0xa1 => {
            let mut ri = DerReader::new(st.value);
            let at = generalized_time(ri.expect(GENERALIZED_TIME)?.value)?;
            let reason = match ri.optional(0xa0)? {
                Some(t) => {
                    let code = DerReader::new(t.value).expect(ENUMERATED)?.value;
                    match code {
                        [c] => Some(
                            RevocationReason::from_code(*c)
                                .ok_or_else(|| OcspError::Format(format!("unknown revocation reason {c}")))?,
                        ),
                        _ => return Err(OcspError::Format("revocationReason is not one byte".into())),
                    }
                }
                None => None,
            };
            ri.finish()?;
            CertStatus::Revoked { at, reason }
        }
        0x82 if st.value.is_empty() => CertStatus::Unknown,
        _ => return Err(OcspError::Format("certStatus is not good, revoked or unknown".into())),
    };
    let this_update = generalized_time(r.expect(GENERALIZED_TIME)?.value)?;
    let next_update = match r.optional(0xa0)? {
        Some(t) => Some(generalized_time(DerReader::new(t.value).expect(GENERALIZED_TIME)?.value)?),
        None => None,
    };
    let _single_extensions = r.optional(0xa1)?;
    r.finish()?;
    Ok(SingleResponse { cert_id, status, this_update, next_update })
}

pub(super) fn parse_cert_id(s: &[u8]) -> Result<CertId, OcspError> {
    let mut r = DerReader::new(s);
    let alg = r.expect(tag::SEQUENCE)?;
    let hash = HashAlg::from_oid(DerReader::new(alg.value).expect(tag::OID)?.value)
        .ok_or_else(|| OcspError::Format("CertID hash algorithm is not SHA-1/256/384/512".into()))?;
    let issuer_name_hash = r.expect(tag::OCTET_STRING)?.value.to_vec();
    let issuer_key_hash = r.expect(tag::OCTET_STRING)?.value.to_vec();
    let serial = r.expect(tag::INTEGER)?.value.to_vec();
    r.finish()?;
    Ok(CertId { hash, issuer_name_hash, issuer_key_hash, serial })
}

/// `YYYYMMDDHHMMSS[.fff]Z`.
fn generalized_time(v: &[u8]) -> Result<OffsetDateTime, OcspError> {
    let bad = || OcspError::Format(format!("bad GeneralizedTime {:?}", String::from_utf8_lossy(v)));
    let s = std::str::from_utf8(v).map_err(|_| bad())?;
    let s = s.strip_suffix('Z').ok_or_else(bad)?;
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) && !f.ends_with('0') => (m, f),
        Some(_) => return Err(bad()),
        None => (s, ""),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |a: usize, b: usize| main[a..b].parse::<u32>().map_err(|_| bad());
    let month = Month::try_from(u8::try_from(n(4, 6)?).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = Date::from_calendar_date(
        i32::try_from(n(0, 4)?).map_err(|_| bad())?,
        month,
        u8::try_from(n(6, 8)?).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits = &frac[..frac.len().min(9)];
        digits.parse::<u32>().map_err(|_| bad())? * 10u32.pow(u32::try_from(9 - digits.len()).unwrap_or(0))
    };
    let t = Time::from_hms_nano(
        u8::try_from(n(8, 10)?).map_err(|_| bad())?,
        u8::try_from(n(10, 12)?).map_err(|_| bad())?,
        u8::try_from(n(12, 14)?).map_err(|_| bad())?,
        nanos,
    )
    .map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, t).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_forms() {
        assert_eq!(generalized_time(b"20250821064708Z").map(|t| t.unix_timestamp()), Ok(1_755_758_828));
        assert!(generalized_time(b"20250821064708.5Z").is_ok());
        assert!(generalized_time(b"20250821064708.50Z").is_err(), "trailing zero in fraction is not DER");
        assert!(generalized_time(b"20250821064708").is_err(), "must be UTC");
        assert!(generalized_time(b"20251321064708Z").is_err(), "month 13");
    }
}
