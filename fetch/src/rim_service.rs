//! [`RimService`]: RIM documents by id from NVIDIA's RIM service (`GET <base><id>`, JSON with the base64
//! document) or a mirror of it, through a [`RimCache`] when one is given.
//!
//! Bounded: an id is checked before it reaches the URL; one request per id per fetch and no retries; a
//! per-request timeout, a total [`FetchBudget`] per appraisal (so a dead service costs one appraisal at
//! most the budget, not a timeout per RIM; a long-lived service gets a fresh budget for each appraisal
//! and never stops asking), and a size limit on the answer. Not trusted: the document is returned for the
//! appraisal to verify.

use std::time::{Duration, Instant};

use ccgpu_attestation::{MAX_SERVICE_ANSWER, RimServiceError, is_safe_rim_id, rim_from_service_answer};
use thiserror::Error;

use crate::budget::FetchBudget;
use crate::rim_cache::RimCache;

/// NVIDIA's RIM service; a RIM's URL is this followed by its id.
pub const DEFAULT_RIM_SERVICE: &str = "https://rim.attestation.nvidia.com/v1/rim/";
/// Timeout of one request unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a RIM or a CRL could not be had from its service. Each names the id or the URL.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The id is not a plain RIM id or product name (it comes from unverified evidence).
    #[error("{0:?} is not a plain RIM id or AMD product name (A-Z a-z 0-9 _ . -): not fetched")]
    UnsafeId(String),
    /// The service has no RIM with this id.
    #[error("GET {url}: the RIM service has no RIM {id} (HTTP 404)")]
    NotFound {
        /// The id.
        id: String,
        /// The URL asked.
        url: String,
    },
    /// Another HTTP status.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Connection, TLS, timeout or an answer over the size limit.
    #[error("GET {url}: {reason}")]
    Transport {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The answer is not the service's JSON carrying a document.
    #[error("GET {url}: {source}")]
    Answer {
        /// The URL asked.
        url: String,
        /// Why the answer is refused.
        source: RimServiceError,
    },
    /// TDX collateral that is missing, unreadable or not in the PCS's form (from a service or a directory).
    #[error("{url}: {reason}")]
    Collateral {
        /// The URL or file.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The appraisal's total time budget was spent before this request.
    #[error("RIM {id}: this appraisal's RIM service time budget ({budget:?}) is spent; not asked")]
    BudgetSpent {
        /// The id.
        id: String,
        /// The budget.
        budget: Duration,
    },
}

/// Where a fetched RIM came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RimOrigin {
    /// The on-disk cache (fetched earlier).
    Cache,
    /// The service, at this URL.
    Service(String),
}

/// A RIM document as fetched (not yet verified).
#[derive(Debug, Clone)]
pub struct FetchedRim {
    /// The document.
    pub document: Vec<u8>,
    /// Where it came from.
    pub origin: RimOrigin,
}

/// NVIDIA's RIM service or a mirror, with an optional cache. Holds no time budget of its own, so one
/// object can serve a long-lived verifier: budgets are per appraisal ([`RimService::budget`]).
#[derive(Debug)]
pub struct RimService {
    base: String,
    timeout: Duration,
    cache: Option<RimCache>,
    agent: ureq::Agent,
}

impl RimService {
    /// The service at `base` (a URL the id is appended to, e.g. [`DEFAULT_RIM_SERVICE`]; a missing trailing
    /// `/` is added), each request limited to `timeout`; the requests of one appraisal together to four
    /// times that ([`RimService::budget`]).
    pub fn new(base: &str, timeout: Duration, cache: Option<RimCache>) -> Self {
        let base = if base.ends_with('/') { base.to_owned() } else { format!("{base}/") };
        Self { base, timeout, cache, agent: agent(timeout) }
    }

    /// A fresh budget for one appraisal's fetches: four times the per-request timeout.
    pub fn budget(&self) -> FetchBudget {
        FetchBudget::new(self.timeout * 4)
    }

    /// The URL a RIM with `id` is fetched from.
    pub fn url(&self, id: &str) -> String {
        format!("{}{id}", self.base)
    }

    /// The RIM with `id` under a budget of its own (one request at most, bounded by the timeout).
    pub fn fetch(&self, id: &str) -> Result<FetchedRim, FetchError> {
        self.fetch_within(id, &self.budget())
    }

    /// The RIM with `id`: from the cache when it holds it, else from the service (then cached), the time
    /// asking charged to `budget`; when `budget` is spent the service is not asked.
    pub fn fetch_within(&self, id: &str, budget: &FetchBudget) -> Result<FetchedRim, FetchError> {
        if !is_safe_rim_id(id) {
            return Err(FetchError::UnsafeId(id.to_owned()));
        }
        if let Some(document) = self.cache.as_ref().and_then(|c| c.get(id)) {
            tracing::debug!(rim_id = id, "RIM from the cache");
            return Ok(FetchedRim { document, origin: RimOrigin::Cache });
        }
        let url = self.url(id);
        if budget.spent() >= budget.limit() {
            return Err(FetchError::BudgetSpent { id: id.to_owned(), budget: budget.limit() });
        }
        let started = Instant::now();
        let result = self.get(id, &url);
        budget.charge(started.elapsed());
        let document = result?;
        tracing::info!(rim_id = id, url = %url, bytes = document.len(), "RIM fetched");
        if let Some(cache) = &self.cache
            && let Err(e) = cache.put(id, &document)
        {
            tracing::warn!(rim_id = id, dir = %cache.dir().display(), error = %e, "RIM not cached");
        }
        Ok(FetchedRim { document, origin: RimOrigin::Service(url) })
    }

    fn get(&self, id: &str, url: &str) -> Result<Vec<u8>, FetchError> {
        let transport =
            |e: ureq::Error| FetchError::Transport { url: url.to_owned(), reason: describe(&e, self.timeout) };
        let mut response = self.agent.get(url).header("Accept", "application/json").call().map_err(transport)?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(FetchError::NotFound { id: id.to_owned(), url: url.to_owned() }),
            status => return Err(FetchError::Status { url: url.to_owned(), status }),
        }
        let body =
            response.body_mut().with_config().limit(MAX_SERVICE_ANSWER as u64).read_to_vec().map_err(transport)?;
        rim_from_service_answer(id, &body).map_err(|source| FetchError::Answer { url: url.to_owned(), source })
    }
}

/// An HTTP client for one service: every request bounded by `timeout`, no redirects (a service answers
/// itself), HTTP errors returned as statuses.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A transport error in words, the timeout named.
pub(crate) fn describe(e: &ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("no answer within {timeout:?}"),
        ureq::Error::BodyExceedsLimit(limit) => format!("answer larger than {limit} bytes"),
        other => other.to_string(),
    }
}
