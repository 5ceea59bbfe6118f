//! The service's Prometheus metrics (`/metrics`, text exposition format), prefixed `ccgpu_verifier`:
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `appraisals_total` | `verdict` | appraisals answered (and logged), malformed bundles as `contraindicated` |
//! | `failed_checks_total` | `check` | each failing check of each appraisal (`gpu-0:measurements`, `bundle:malformed`, …) |
//! | `appraisal_duration_seconds` | | from the whole body received to the record fsync'd and the EAR signed |
//! | `source_requests_total` | `source` (`rim`, `ocsp`), `result` (`hit`, `miss`, `error`) | evidence sources: `hit` from memory or disk cache, `miss` fetched, `error` not obtained |
//! | `rejected_requests_total` | `reason` | refused before appraisal: `rate-limited`, `too-large`, `too-deep`, `timeout` |
//! | `log_append_errors_total` | | appends that failed (the request then fails, no verdict) |
//! | `challenges_issued_total` | | nonces issued by `POST /v1/challenges` |
//!
//! Failing-check labels are check names from the code, never text from a client, so the label set is
//! bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabels {
    verdict: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CheckLabels {
    check: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// A source lookup's result, for `source_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceResult {
    /// From a cache (memory or disk).
    Hit,
    /// Fetched from the network or read from the offline directory.
    Miss,
    /// Not obtained.
    Error,
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    appraisals: Family<VerdictLabels, Counter>,
    failed_checks: Family<CheckLabels, Counter>,
    latency: Histogram,
    sources: Family<SourceLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    log_errors: Counter,
    challenges: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ccgpu_verifier");
        let appraisals = Family::<VerdictLabels, Counter>::default();
        let failed_checks = Family::<CheckLabels, Counter>::default();
        // 0.5 ms … 16 s.
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let sources = Family::<SourceLabels, Counter>::default();
        let rejected = Family::<ReasonLabels, Counter>::default();
        let log_errors = Counter::default();
        let challenges = Counter::default();
        registry.register("appraisals", "Appraisals answered and logged, by verdict", appraisals.clone());
        registry.register("failed_checks", "Failing checks of appraisals, by check", failed_checks.clone());
        registry.register("appraisal_duration_seconds", "Time to appraise, log and sign one bundle", latency.clone());
        registry.register("source_requests", "RIM and OCSP lookups by result", sources.clone());
        registry.register("rejected_requests", "Requests refused before appraisal, by reason", rejected.clone());
        registry.register("log_append_errors", "Attestation log appends that failed", log_errors.clone());
        registry.register("challenges_issued", "Nonces issued by POST /v1/challenges", challenges.clone());
        for verdict in ["affirming", "warning", "contraindicated"] {
            let _ = appraisals.get_or_create(&VerdictLabels { verdict });
        }
        for source in ["rim", "ocsp"] {
            for result in ["hit", "miss", "error"] {
                let _ = sources.get_or_create(&SourceLabels { source, result });
            }
        }
        Self { registry, appraisals, failed_checks, latency, sources, rejected, log_errors, challenges }
    }

    /// One appraisal answered.
    pub fn appraisal(&self, verdict: &'static str, failed: &[String], seconds: f64) {
        self.appraisals.get_or_create(&VerdictLabels { verdict }).inc();
        for check in failed {
            // Bounded: only the part naming the check, never a detail.
            let name: String = check.split(':').take(2).collect::<Vec<_>>().join(":").chars().take(64).collect();
            self.failed_checks.get_or_create(&CheckLabels { check: name }).inc();
        }
        self.latency.observe(seconds);
    }

    /// One source lookup.
    pub fn source(&self, source: &'static str, result: SourceResult) {
        let result = match result {
            SourceResult::Hit => "hit",
            SourceResult::Miss => "miss",
            SourceResult::Error => "error",
        };
        self.sources.get_or_create(&SourceLabels { source, result }).inc();
    }

    /// One request refused before appraisal.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// One failed append.
    pub fn log_error(&self) {
        self.log_errors.inc();
    }

    /// One challenge issued.
    pub fn challenge(&self) {
        self.challenges.inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
