//! `ccgpu-verifier`: the relying party ccgpu ships. Guest agents in remote mode POST their evidence
//! bundle; the service appraises it with `ccgpu-attestation` against its own policy, trust anchors and
//! evidence sources, appends the appraisal to its tamper-evident log (fsync'd), and only then answers
//! with an ES384-signed EAR, the format the guest agent's remote mode accepts.
//!
//! What it trusts: the operator's files (EAR key, log checkpoint key, policy, trust directory) and the
//! RIM service / OCSP responses only through the signatures the appraisal verifies. What it does not
//! trust: every byte a client sends — the bundle (its RIMs and OCSP responses are replaced by the
//! service's own), and the headers naming a node or claim (recorded as the client's statement).
//!
//! # Map
//!
//! - `settings`: keys, policy, trust anchors and source settings, loaded from files.
//! - `sources`: RIMs and OCSP responses the service obtains itself (`ocsp_source`: recorded or online).
//! - `record`: the log records of appraisals and refusals.
//! - `central_log`: the log directory — crash-safe appends, torn-tail repair on start, rotation, ids.
//! - `challenges`: nonces issued by `POST /v1/challenges`.
//! - `limits`: JSON depth and per-client rate limits.
//! - `metrics`: Prometheus metrics.
//! - `service`: one bundle in, one logged verdict and signed EAR out (no HTTP).
//! - `http`: the routes.

#![deny(missing_docs)]

mod central_log;
mod challenges;
mod http;
mod limits;
mod metrics;
mod ocsp_source;
mod record;
mod service;
mod settings;
mod sources;

pub use crate::{
    central_log::{AppraisalId, CentralLog, LogHead, Opened},
    challenges::{ChallengeError, Challenges, NonceUse},
    http::{App, HttpLimits, MAX_QUERY_LIMIT, PUBLIC_KEY_PATH, QueryParams, ROUTES, router, serve},
    limits::{DEFAULT_MAX_DEPTH, RateLimiter, TooDeep, check_depth},
    metrics::{Metrics, SourceResult},
    record::{ClientContext, VERIFIER_NAME, appraisal_record, refused_record},
    service::{Answer, CHALLENGE_CHECK, Service, ServiceParts},
    settings::{
        EarSigningKey, LookupFn, OcspSetting, RimLookup, RimSetting, SettingsError, checkpoint_key, policy, trust,
    },
    sources::{MAX_MEMORY_RIMS, Sources, rim_ids},
};
