//! Prometheus metrics and the health endpoint of the kubelet plugin.
//!
//! Metrics (OpenMetrics text at `/metrics`, via the `prometheus-client` crate):
//! - `ccgpu_prepare_duration_seconds`, `ccgpu_unprepare_duration_seconds`: per-claim latency histograms;
//! - `ccgpu_claim_errors_total{operation,reason}`: failed claims by operation and reason;
//! - `ccgpu_devices{state}`: managed devices by state (`available`, `prepared`, `unpreparable`,
//!   `tainted`, `withheld`);
//! - `ccgpu_device_health{device,state}`: 1 for each device's health (`Healthy`, `Unhealthy`, `Unknown`,
//!   as the kubelet's health stream reports it), 0 for the other two;
//! - `ccgpu_slice_publish_errors_total`, `ccgpu_registered` (1 once the kubelet confirmed registration).
//!
//! `/healthz` answers 200 while the plugin's gRPC servers are serving, or while a rolling update's new
//! instance waits (bounded) for the old one to hand over the node lock, and 503 otherwise; it does not
//! depend on the API server (an unreachable API server must not restart the plugin with claims
//! prepared). Serves plain HTTP on the configured address; nothing secret is exposed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Which claim operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// NodePrepareResources.
    Prepare,
    /// NodeUnprepareResources.
    Unprepare,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Prepare => "prepare",
            Operation::Unprepare => "unprepare",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    operation: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HealthLabels {
    device: String,
    state: &'static str,
}

/// The health states of `ccgpu_device_health`.
pub const HEALTH_STATES: [&str; 3] = ["Healthy", "Unhealthy", "Unknown"];

/// Device states counted in `ccgpu_devices`.
pub const DEVICE_STATES: [&str; 5] = ["available", "prepared", "unpreparable", "tainted", "withheld"];

/// The plugin's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    prepare: Histogram,
    unprepare: Histogram,
    errors: Family<ErrorLabels, Counter>,
    devices: Family<StateLabels, Gauge>,
    device_health: Family<HealthLabels, Gauge>,
    publish_errors: Counter,
    registered: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `ccgpu` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ccgpu");
        // 1 ms … 32 s: the simulated floor is a few fsyncs, the kubelet gives up at 45 s.
        let buckets = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let prepare = buckets();
        let unprepare = buckets();
        let errors = Family::<ErrorLabels, Counter>::default();
        let devices = Family::<StateLabels, Gauge>::default();
        let device_health = Family::<HealthLabels, Gauge>::default();
        let publish_errors = Counter::default();
        let registered = Gauge::default();
        registry.register("prepare_duration_seconds", "NodePrepareResources time per claim", prepare.clone());
        registry.register("unprepare_duration_seconds", "NodeUnprepareResources time per claim", unprepare.clone());
        registry.register("claim_errors", "Claims that failed, by operation and reason", errors.clone());
        registry.register("devices", "Managed devices by state", devices.clone());
        registry.register("device_health", "1 for each device's health state, 0 for the others", device_health.clone());
        registry.register("slice_publish_errors", "Failed ResourceSlice publications", publish_errors.clone());
        registry.register("registered", "1 when the kubelet confirmed the plugin's registration", registered.clone());
        for state in DEVICE_STATES {
            devices.get_or_create(&StateLabels { state }).set(0);
        }
        Self { registry, prepare, unprepare, errors, devices, device_health, publish_errors, registered }
    }

    /// Records one claim's latency.
    pub fn observe(&self, op: Operation, took: Duration) {
        match op {
            Operation::Prepare => self.prepare.observe(took.as_secs_f64()),
            Operation::Unprepare => self.unprepare.observe(took.as_secs_f64()),
        }
    }

    /// Counts one failed claim.
    pub fn error(&self, op: Operation, reason: &'static str) {
        self.errors.get_or_create(&ErrorLabels { operation: op.as_str(), reason }).inc();
    }

    /// Sets the device counts by state (states not given are 0).
    pub fn set_devices(&self, counts: &BTreeMap<&'static str, i64>) {
        for state in DEVICE_STATES {
            self.devices.get_or_create(&StateLabels { state }).set(counts.get(state).copied().unwrap_or(0));
        }
    }

    /// Sets `ccgpu_device_health` from the complete health list: each device's name and state (one of
    /// [`HEALTH_STATES`]).
    pub fn set_device_health<D: std::fmt::Display>(&self, list: impl IntoIterator<Item = (D, &'static str)>) {
        for (name, now) in list {
            for state in HEALTH_STATES {
                self.device_health
                    .get_or_create(&HealthLabels { device: name.to_string(), state })
                    .set(i64::from(state == now));
            }
        }
    }

    /// Counts a failed publication.
    pub fn publish_error(&self) {
        self.publish_errors.inc();
    }

    /// Records the kubelet's registration outcome.
    pub fn set_registered(&self, registered: bool) {
        self.registered.set(i64::from(registered));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Whether the plugin is healthy (its gRPC servers serve).
#[derive(Debug, Default)]
pub struct Health {
    serving: AtomicBool,
    waiting: AtomicBool,
}

impl Health {
    /// Marks the process as waiting, bounded, for the node lock that a rolling update's old instance
    /// hands over: alive, though not serving yet.
    pub fn set_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::SeqCst);
    }

    /// Whether it is waiting for the hand-over.
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Marks the servers up or down.
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }

    /// Whether the servers are up.
    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

async fn metrics_page(State(s): State<HttpState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode())
}

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    if s.health.serving() {
        (StatusCode::OK, "ok\n")
    } else if s.health.waiting() {
        (StatusCode::OK, "waiting for the node lock (rolling update)\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not serving\n")
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .with_state(HttpState { metrics, health });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Binds the metrics address.
pub async fn bind(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await
}
