//! [`OcspResponder`]: OCSP responses for certificates, from the responder a certificate names in its
//! Authority Information Access (when that host is an allowed one) or a default responder, through an
//! on-disk cache keyed by CertID and reused until the response's nextUpdate.
//!
//! Trusts: nothing it fetches or finds in its cache. A response is signed: the appraisal verifies it
//! (signature, responder, CertID, times) exactly like a recorded one, so a lying responder or a corrupt
//! cache can fail a revocation check, never pass one. A certificate's AIA URL is read before the
//! certificate is verified, so only [`ALLOWED_AIA_HOSTS`] are asked from it (no request to an address a
//! crafted certificate chooses). Bounded: one POST per certificate per fetch and no retries, a
//! per-request timeout, the appraisal's [`FetchBudget`], and [`MAX_OCSP_RESPONSE`] bytes per answer.
//! Plain HTTP, as OCSP and NVIDIA's AIA URLs use (the responses are signed).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ccgpu_attestation::{OcspError, OcspQuery, OcspResponse, sha384};
use thiserror::Error;
use time::OffsetDateTime;

use crate::budget::FetchBudget;
use crate::rim_service::{agent, describe};

/// NVIDIA's OCSP responder, asked for certificates that name no allowed responder.
pub const DEFAULT_OCSP_URL: &str = "http://ocsp.ndis.nvidia.com";
/// Responder hosts a certificate's AIA may send a request to; any other is replaced by the default.
pub const ALLOWED_AIA_HOSTS: &[&str] = &["ocsp.ndis.nvidia.com"];
/// Largest OCSP response accepted, bytes.
pub const MAX_OCSP_RESPONSE: u64 = 64 * 1024;

/// Why no OCSP response was had for a certificate. Each names the certificate and the URL asked.
#[derive(Debug, Error)]
pub enum OcspFetchError {
    /// The appraisal's time budget was spent before this request.
    #[error("{subject}: this appraisal's OCSP time budget ({budget:?}) is spent; not asked")]
    BudgetSpent {
        /// The certificate.
        subject: String,
        /// The budget.
        budget: Duration,
    },
    /// The responder URL is not plain HTTP.
    #[error("{subject}: {url}: only http:// responders are supported (OCSP responses are signed)")]
    NotHttp {
        /// The certificate.
        subject: String,
        /// The URL.
        url: String,
    },
    /// Connection, timeout or an answer over [`MAX_OCSP_RESPONSE`].
    #[error("{subject}: {url}: {reason}")]
    Transport {
        /// The certificate.
        subject: String,
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An HTTP status other than 200.
    #[error("{subject}: {url}: HTTP status {status}")]
    Status {
        /// The certificate.
        subject: String,
        /// The URL asked.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The answer is not an OCSP response.
    #[error("{subject}: response from {url}: {source}")]
    Unparsable {
        /// The certificate.
        subject: String,
        /// The URL asked.
        url: String,
        /// Why it does not parse.
        source: OcspError,
    },
}

/// Where an OCSP response came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspOrigin {
    /// The on-disk cache (fetched earlier, still before its nextUpdate).
    Cache,
    /// The responder at this URL.
    Responder(String),
}

/// An OCSP response as fetched (parsed, not yet verified).
#[derive(Debug, Clone)]
pub struct FetchedOcsp {
    /// The response.
    pub response: OcspResponse,
    /// Where it came from.
    pub origin: OcspOrigin,
}

/// The OCSP responders, with an optional on-disk cache. Holds no time budget of its own (one object can
/// serve a long-lived verifier); budgets are per appraisal ([`OcspResponder::budget`]).
#[derive(Debug)]
pub struct OcspResponder {
    default_url: String,
    forced: bool,
    timeout: Duration,
    cache: Option<PathBuf>,
    agent: ureq::Agent,
}

impl OcspResponder {
    /// Asks each certificate's AIA responder when its host is in [`ALLOWED_AIA_HOSTS`], else
    /// `default_url`; each request limited to `timeout`, an appraisal's together to four times that;
    /// responses cached in `cache` when given.
    pub fn new(default_url: &str, timeout: Duration, cache: Option<PathBuf>) -> Self {
        Self { default_url: default_url.to_owned(), forced: false, timeout, cache, agent: agent(timeout) }
    }

    /// Asks `url` for every certificate, whatever its AIA names (a mirror, an air-gapped responder).
    pub fn forced(url: &str, timeout: Duration, cache: Option<PathBuf>) -> Self {
        Self { forced: true, ..Self::new(url, timeout, cache) }
    }

    /// A fresh budget for one appraisal's requests: four times the per-request timeout.
    pub fn budget(&self) -> FetchBudget {
        FetchBudget::new(self.timeout * 4)
    }

    /// The URL asked for `query`.
    pub fn url_for(&self, query: &OcspQuery) -> String {
        match &query.url {
            Some(url) if !self.forced && allowed(url) => url.clone(),
            _ => self.default_url.clone(),
        }
    }

    /// The response for `query`: from the cache when it holds one still fresh at `now` (before its
    /// nextUpdate), else from the responder (then cached), the time asking charged to `budget`.
    pub fn fetch_within(
        &self,
        query: &OcspQuery,
        now: OffsetDateTime,
        budget: &FetchBudget,
    ) -> Result<FetchedOcsp, OcspFetchError> {
        let key = hex::encode(sha384(&query.cert_id.to_der()));
        if let Some(response) = self.cache.as_deref().and_then(|dir| cached(dir, &key, query, now)) {
            return Ok(FetchedOcsp { response, origin: OcspOrigin::Cache });
        }
        if budget.spent() >= budget.limit() {
            return Err(OcspFetchError::BudgetSpent { subject: query.subject.clone(), budget: budget.limit() });
        }
        let url = self.url_for(query);
        let started = Instant::now();
        let result = self.post(query, &url);
        budget.charge(started.elapsed());
        let der = result?;
        let response = OcspResponse::parse(&der).map_err(|source| OcspFetchError::Unparsable {
            subject: query.subject.clone(),
            url: url.clone(),
            source,
        })?;
        if let Some(dir) = &self.cache
            && let Err(e) = store(dir, &key, &der)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "OCSP response not cached");
        }
        Ok(FetchedOcsp { response, origin: OcspOrigin::Responder(url) })
    }

    fn post(&self, query: &OcspQuery, url: &str) -> Result<Vec<u8>, OcspFetchError> {
        let subject = || query.subject.clone();
        if !url.starts_with("http://") {
            return Err(OcspFetchError::NotHttp { subject: subject(), url: url.to_owned() });
        }
        let transport = |reason: String| OcspFetchError::Transport { subject: subject(), url: url.to_owned(), reason };
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .send(&query.cert_id.request_der()[..])
            .map_err(|e| transport(describe(&e, self.timeout)))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(OcspFetchError::Status { subject: subject(), url: url.to_owned(), status });
        }
        let mut out = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_OCSP_RESPONSE + 1)
            .read_to_end(&mut out)
            .map_err(|e| transport(e.to_string()))?;
        if out.len() as u64 > MAX_OCSP_RESPONSE {
            return Err(transport(format!("answer larger than {MAX_OCSP_RESPONSE} bytes")));
        }
        Ok(out)
    }
}

/// True when `url` is plain HTTP to an allowed responder host (optionally with a port and path).
fn allowed(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { authority });
    ALLOWED_AIA_HOSTS.iter().any(|a| host.eq_ignore_ascii_case(a))
}

/// The cached response for `q`, when it parses and covers `q`'s certificate with a nextUpdate after `now`.
fn cached(dir: &Path, key: &str, q: &OcspQuery, now: OffsetDateTime) -> Option<OcspResponse> {
    let der = std::fs::read(dir.join(format!("{key}.der"))).ok()?;
    let r = OcspResponse::parse(&der).ok()?;
    let fresh = r.responses.iter().any(|s| s.cert_id == q.cert_id && s.next_update.is_some_and(|n| n > now));
    fresh.then_some(r)
}

fn store(dir: &Path, key: &str, der: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{key}.tmp"));
    std::fs::write(&tmp, der)?;
    std::fs::rename(tmp, dir.join(format!("{key}.der")))
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn only_nvidia_responders_named_in_evidence_are_asked() {
        assert!(allowed("http://ocsp.ndis.nvidia.com"));
        assert!(allowed("http://OCSP.ndis.nvidia.com:80/"));
        assert!(!allowed("https://ocsp.ndis.nvidia.com"), "https is not OCSP's transport here");
        assert!(!allowed("http://169.254.169.254/latest/meta-data"));
        assert!(!allowed("http://ocsp.ndis.nvidia.com.evil.example/"));
        assert!(!allowed("http://evil.example/ocsp.ndis.nvidia.com"));
        assert!(!allowed("http://ocsp.ndis.nvidia.com@evil.example/"));
    }
}
