//! The HTTP API (axum): the routes of docs/operator-verifier.md and `openapi.yaml` beside this crate.
//!
//! Every `/v1` request first takes a token from its client's rate-limit bucket; a body is read with a
//! size limit and a deadline; appraisals and log reads run on the blocking pool (they fsync and read
//! files). Errors are JSON `{"error": <code>, "reason": <text>}`.
//!
//! Trusts: nothing a client sends. Headers naming a node or claim are recorded as the client's
//! statement.

// Helpers return the early answer (`Err(Response)`) that the handler returns as is; boxing it would only
// add an allocation.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ccgpu_attestation::{ClaimRef, Filter, LogRecord, LogVerdict};
use serde::Deserialize;
use serde_json::json;

use crate::central_log::AppraisalId;
use crate::limits::RateLimiter;
use crate::record::ClientContext;
use crate::service::{Answer, Service};

/// Where the public EAR key is served.
pub const PUBLIC_KEY_PATH: &str = "/.well-known/ccgpu-verifier/ear-public-key.pem";
/// Most records one query returns.
pub const MAX_QUERY_LIMIT: usize = 1000;

/// Every route, as (method, path) — the paths in OpenAPI's template syntax. `verifier/openapi.yaml`
/// documents exactly these (a test checks both ways, and that each is served).
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/appraisals"),
    ("get", "/v1/appraisals"),
    ("get", "/v1/appraisals/{id}"),
    ("post", "/v1/challenges"),
    ("get", "/v1/log/head"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", PUBLIC_KEY_PATH),
];

/// Request limits.
#[derive(Debug)]
pub struct HttpLimits {
    /// Largest body accepted, bytes.
    pub max_body: usize,
    /// Deadline for reading the body and answering.
    pub request_timeout: Duration,
    /// Per-client rate limit.
    pub rate: RateLimiter,
}

/// The application: the service and its limits.
#[derive(Debug)]
pub struct App {
    /// The service.
    pub service: Arc<Service>,
    /// The limits.
    pub limits: HttpLimits,
}

/// The router, to be served with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/appraisals", post(post_appraisal).get(query))
        .route("/v1/appraisals/{id}", get(get_appraisal))
        .route("/v1/challenges", post(post_challenge))
        .route("/v1/log/head", get(log_head))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(PUBLIC_KEY_PATH, get(public_key))
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

fn error(status: StatusCode, code: &str, reason: impl std::fmt::Display) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": code, "reason": reason.to_string()}).to_string(),
    )
        .into_response()
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// A token from the client's bucket, or the 429 answer.
fn admit(app: &App, peer: SocketAddr) -> Result<(), Response> {
    app.limits.rate.take(peer.ip(), Instant::now()).map_err(|wait| {
        app.service.metrics().rejected("rate-limited");
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate-limited", format!("retry in {} ms", wait.as_millis()));
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    })
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    let v: String = v.chars().filter(|c| !c.is_control()).take(253).collect();
    (!v.is_empty()).then_some(v)
}

fn client_context(headers: &HeaderMap) -> ClientContext {
    let claim = ClaimRef {
        namespace: header_text(headers, "ccgpu-claim-namespace"),
        name: header_text(headers, "ccgpu-claim-name"),
        uid: header_text(headers, "ccgpu-claim-uid"),
        pod: header_text(headers, "ccgpu-pod"),
    };
    let claim = (claim != ClaimRef::default()).then_some(claim);
    ClientContext { node: header_text(headers, "ccgpu-node"), claim }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the worker failed: {e}")))
}

async fn post_appraisal(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(r) = admit(&app, peer) {
        return r;
    }
    let started = Instant::now();
    let client = client_context(&headers);
    let deadline = app.limits.request_timeout;
    let max = app.limits.max_body;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = |app: Arc<App>, client: ClientContext, what: String| async move {
        app.service.metrics().rejected("too-large");
        let service = Arc::clone(&app.service);
        match blocking(move || service.refuse("too-large", what, &client, started)).await {
            Ok(answer) => answer_response(answer),
            Err(r) => r,
        }
    };
    if let Some(len) = declared.filter(|&l| l > u64::try_from(max).unwrap_or(u64::MAX)) {
        return too_large(app, client, format!("the body is {len} bytes, more than the {max}-byte limit")).await;
    }
    let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) if error_chain_mentions(&e, "length limit") => {
            return too_large(app, client, format!("the body is more than the {max}-byte limit")).await;
        }
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, "unreadable", format!("the body could not be read: {e}")),
        Err(_) => {
            app.service.metrics().rejected("timeout");
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!("the body did not arrive within {deadline:?}"),
            );
        }
    };
    let service = Arc::clone(&app.service);
    let remaining = deadline.saturating_sub(started.elapsed());
    match tokio::time::timeout(remaining, blocking(move || service.appraise(&bytes, &client))).await {
        Ok(Ok(answer)) => answer_response(answer),
        Ok(Err(r)) => r,
        Err(_) => {
            app.service.metrics().rejected("timeout");
            error(StatusCode::SERVICE_UNAVAILABLE, "timeout", format!("no verdict within {deadline:?}"))
        }
    }
}

fn error_chain_mentions(e: &(dyn std::error::Error + 'static), needle: &str) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains(needle) {
            return true;
        }
        cur = err.source();
    }
    false
}

fn answer_response(answer: Answer) -> Response {
    match answer {
        Answer::Ear { token, id, verdict } => {
            let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/jwt")], token).into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
                h.insert("ccgpu-appraisal-id", v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/appraisals/{id}")) {
                h.insert(header::LOCATION, v);
            }
            h.insert("ccgpu-verdict", HeaderValue::from_static(verdict.name()));
            r
        }
        Answer::Refused { code, reason, id } => {
            let status = if code == "too-large" { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
            let body = json!({"error": code, "reason": reason, "id": id.map(|i| i.to_string())});
            json_response(status, &body)
        }
        Answer::Unavailable(reason) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", reason),
    }
}

fn record_json(id: AppraisalId, record: &LogRecord) -> serde_json::Value {
    json!({"id": id.to_string(), "record": record})
}

async fn get_appraisal(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = admit(&app, peer) {
        return r;
    }
    let id: AppraisalId = match id.parse() {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad-id", e),
    };
    let service = Arc::clone(&app.service);
    match blocking(move || service.log().get(id)).await {
        Ok(Ok(Some(record))) => json_response(StatusCode::OK, &record_json(id, &record)),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "not-found", format!("no appraisal {id} in this replica's log")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "log", e),
        Err(r) => r,
    }
}

/// `GET /v1/appraisals` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// Node name (exact).
    pub node: Option<String>,
    /// Claim: `namespace/name`, a name, or a claim UID.
    pub claim: Option<String>,
    /// GPU UUID or PCI address.
    pub gpu: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, inclusive.
    pub until: Option<String>,
    /// `affirming`, `warning` or `contraindicated`.
    pub verdict: Option<String>,
    /// At most this many (default 100, at most [`MAX_QUERY_LIMIT`]).
    pub limit: Option<usize>,
}

fn claim_matches(claim: &Option<ClaimRef>, wanted: &str) -> bool {
    let Some(c) = claim else { return false };
    let is = |v: &Option<String>| v.as_deref() == Some(wanted);
    let full = match (&c.namespace, &c.name) {
        (Some(ns), Some(n)) => wanted.split_once('/') == Some((ns.as_str(), n.as_str())),
        _ => false,
    };
    full || is(&c.name) || is(&c.uid)
}

fn time_param(name: &str, v: Option<&str>) -> Result<Option<time::OffsetDateTime>, Response> {
    v.map(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-query", format!("{name}: not an RFC 3339 time: {e}")))
    })
    .transpose()
}

async fn query(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    params: Result<Query<QueryParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admit(&app, peer) {
        return r;
    }
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad-query", e.body_text()),
    };
    let verdict = match p.verdict.as_deref().map(str::parse::<LogVerdict>).transpose() {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad-query", format!("verdict: {e}")),
    };
    let (since, until) = match (time_param("since", p.since.as_deref()), time_param("until", p.until.as_deref())) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let filter = Filter { since, until, gpu: p.gpu.clone(), verdict };
    let limit = p.limit.unwrap_or(100).min(MAX_QUERY_LIMIT);
    let (node, claim) = (p.node, p.claim);
    let service = Arc::clone(&app.service);
    let found = blocking(move || {
        service.log().query(
            &filter,
            |r| {
                node.as_deref().is_none_or(|n| r.node.as_deref() == Some(n))
                    && claim.as_deref().is_none_or(|c| claim_matches(&r.claim, c))
            },
            limit,
        )
    })
    .await;
    match found {
        Ok(Ok((rows, truncated))) => {
            let list: Vec<serde_json::Value> = rows.iter().map(|(id, r)| record_json(*id, r)).collect();
            json_response(StatusCode::OK, &json!({"appraisals": list, "truncated": truncated}))
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "log", e),
        Err(r) => r,
    }
}

async fn post_challenge(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if let Err(r) = admit(&app, peer) {
        return r;
    }
    match app.service.challenges().issue(Instant::now()) {
        Ok(nonce) => {
            app.service.metrics().challenge();
            let ttl = app.service.challenges().ttl().as_secs();
            json_response(StatusCode::CREATED, &json!({"nonce": hex::encode(nonce), "expires_in_seconds": ttl}))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "challenges", e),
    }
}

async fn log_head(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if let Err(r) = admit(&app, peer) {
        return r;
    }
    let h = app.service.log().head();
    json_response(
        StatusCode::OK,
        &json!({
            "log_id": h.log_id.to_string(),
            "file": h.file,
            "head": {"line": h.head.line, "hash": h.head.hash.to_string()},
            "last_checkpoint_line": h.last_checkpoint,
            "policy_sha384": app.service.policy_digest(),
        }),
    )
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.service.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the attestation log is failing\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        app.service.metrics().encode(),
    )
        .into_response()
}

async fn public_key(State(app): State<Arc<App>>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-pem-file")], app.service.public_key_pem().to_owned())
        .into_response()
}
