//! The ttrpc API (`proto/guest_agent.proto`, service `ccgpu.guest.v1.GuestAgent`): read-only towards the
//! host.
//!
//! Four methods, all reads: `GetStatus`, `WatchStatus` (a bounded long poll), `GetEvidence` (fresh
//! evidence for a relying party's nonce; it asks the GPUs and the CPU TEE to sign, and changes no state)
//! and `GetAppraisal`. There is no request that sets the ready state, changes the policy, skips a check or
//! loads a module: the service has no such method, and the agent's internals offer none to call.
//!
//! Every generated method handler is wrapped ([`Guarded`]) before it reaches the server: a request over
//! [`ApiLimits::max_request`] bytes is refused (`INVALID_ARGUMENT`) before it is decoded; then the
//! method's token bucket is charged (`RESOURCE_EXHAUSTED` when empty); then the payload must decode as
//! the method's request message (`INVALID_ARGUMENT` otherwise — ttrpc would drop the connection). ttrpc
//! itself bounds a frame at 4 MiB before any of this runs. Refusals are logged at most once a second.

pub mod limits;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ttrpc::{Code, MethodHandler, Request, TtrpcContext};

pub use limits::{ApiLimits, LogThrottle, TokenBucket, WatcherSlots};

use crate::bringup::{Agent, EvidenceUnavailable};
use crate::proto::guest_agent as pb;
use crate::proto::guest_agent_ttrpc::{GuestAgent, create_guest_agent};
use crate::state::{AgentStatus, GpuState, Phase, micros};
use ccgpu_attestation::error_chain as chain;

/// The service name on the wire.
pub const API_SERVICE: &str = "ccgpu.guest.v1.GuestAgent";

fn status_error(code: Code, message: impl ToString) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, message))
}

/// The service implementation.
#[derive(Debug)]
pub struct ApiService {
    agent: Arc<Agent>,
    limits: ApiLimits,
    watchers: WatcherSlots,
}

impl ApiService {
    /// The API of `agent`.
    pub fn new(agent: Arc<Agent>, limits: ApiLimits) -> Self {
        Self { agent, limits, watchers: WatcherSlots::default() }
    }
}

fn to_proto(s: &AgentStatus) -> pb::Status {
    let phase = match s.phase {
        Phase::BringingUp => pb::Phase::PHASE_BRINGING_UP,
        Phase::Ready => pb::Phase::PHASE_READY,
        Phase::Failed => pb::Phase::PHASE_FAILED,
        Phase::NoGpus => pb::Phase::PHASE_NO_GPUS,
    };
    let state = |g: GpuState| match g {
        GpuState::Discovered => pb::GpuState::GPU_STATE_DISCOVERED,
        GpuState::DriverLoaded => pb::GpuState::GPU_STATE_DRIVER_LOADED,
        GpuState::PersistencedUp => pb::GpuState::GPU_STATE_PERSISTENCED_UP,
        GpuState::EvidenceCollected => pb::GpuState::GPU_STATE_EVIDENCE_COLLECTED,
        GpuState::Verified => pb::GpuState::GPU_STATE_VERIFIED,
        GpuState::Ready => pb::GpuState::GPU_STATE_READY,
        GpuState::Failed => pb::GpuState::GPU_STATE_FAILED,
    };
    let mut out = pb::Status::new();
    out.generation = s.generation;
    out.phase = phase.into();
    out.ready = s.ready;
    out.reason = s.reason.clone().unwrap_or_default();
    out.mode = s.mode.clone();
    out.policy_digest = s.policy_digest.clone();
    out.config_digest = s.config_digest.clone().unwrap_or_default();
    out.last_verdict = s.last_verdict.clone().unwrap_or_default();
    out.bringup_us = s.bringup.map(micros).unwrap_or(0);
    out.agent_version = crate::AGENT_VERSION.to_owned();
    for g in &s.gpus {
        let mut p = pb::GpuStatus::new();
        p.bdf = g.bdf.to_string();
        p.uuid = g.uuid.clone().unwrap_or_default();
        p.state = state(g.state).into();
        if let Some(f) = &g.failure {
            p.failed_step = f.at.name().to_owned();
            p.reason = format!("{}: {}", f.reason.name(), f.detail);
        }
        for (st, at) in &g.timings {
            let mut t = pb::StepTiming::new();
            t.step = st.name().to_owned();
            t.at_us = micros(*at);
            p.timings.push(t);
        }
        p.verdict = g.verdict.clone().unwrap_or_default();
        p.failed_checks = g.failed_checks.clone();
        p.driver_version = g.driver_version.clone().unwrap_or_default();
        p.vbios_version = g.vbios_version.clone().unwrap_or_default();
        if let Some(cc) = g.cc {
            p.cc_enabled = cc.cc_enabled;
            p.dev_tools = cc.dev_tools;
            p.protected_pcie = cc.protected_pcie;
        }
        out.gpus.push(p);
    }
    out
}

impl GuestAgent for ApiService {
    fn get_status(&self, _ctx: &TtrpcContext, _req: pb::GetStatusRequest) -> ttrpc::Result<pb::Status> {
        Ok(to_proto(&self.agent.status().snapshot()))
    }

    fn watch_status(&self, _ctx: &TtrpcContext, req: pb::WatchStatusRequest) -> ttrpc::Result<pb::Status> {
        let Some(_slot) = self.watchers.acquire(self.limits.max_watchers) else {
            return Err(status_error(Code::RESOURCE_EXHAUSTED, "too many concurrent WatchStatus calls"));
        };
        let timeout = Duration::from_millis(u64::from(req.timeout_ms)).min(self.limits.max_watch);
        Ok(to_proto(&self.agent.status().wait_newer(req.after_generation, timeout)))
    }

    fn get_evidence(&self, _ctx: &TtrpcContext, req: pb::GetEvidenceRequest) -> ttrpc::Result<pb::Evidence> {
        let nonce: [u8; 32] = req.nonce.as_slice().try_into().map_err(|_| {
            status_error(Code::INVALID_ARGUMENT, format!("the nonce must be 32 bytes, not {}", req.nonce.len()))
        })?;
        match self.agent.fresh_evidence(nonce) {
            Ok(bundle) => {
                let mut out = pb::Evidence::new();
                out.bundle_json = bundle.to_json();
                Ok(out)
            }
            Err(e @ EvidenceUnavailable::NotYet) => Err(status_error(Code::FAILED_PRECONDITION, e)),
            Err(e @ EvidenceUnavailable::Busy) => Err(status_error(Code::RESOURCE_EXHAUSTED, e)),
            Err(e) => {
                tracing::warn!(error = %chain(&e), "GetEvidence failed");
                Err(status_error(Code::INTERNAL, chain(&e)))
            }
        }
    }

    fn get_appraisal(&self, _ctx: &TtrpcContext, _req: pb::GetAppraisalRequest) -> ttrpc::Result<pb::Appraisal> {
        let mut out = pb::Appraisal::new();
        if let Some(a) = self.agent.appraisal() {
            out.present = true;
            out.verdict = a.verdict;
            out.source = a.source;
            out.appraisal_json = a.json;
            out.time = a.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        }
        Ok(out)
    }
}

/// Which bucket a method draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Read,
    Evidence,
}

/// State shared by every guarded method.
#[derive(Debug)]
struct Shared {
    limits: ApiLimits,
    reads: TokenBucket,
    evidence: TokenBucket,
    throttle: LogThrottle,
}

/// A generated method handler behind the size limit, the rate limit and a decode check.
pub struct Guarded {
    path: String,
    class: Class,
    decodes: Decodes,
    inner: Box<dyn MethodHandler + Send + Sync>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").field("path", &self.path).field("class", &self.class).finish_non_exhaustive()
    }
}

impl Guarded {
    fn refuse(&self, ctx: &TtrpcContext, code: Code, message: String) -> ttrpc::Result<()> {
        if let Some(suppressed) = self.shared.throttle.allow() {
            tracing::warn!(method = %self.path, code = ?code, suppressed, "API request refused: {message}");
        }
        ctx.respond(ctx.mh.stream_id, status_error(code, message).into())
    }
}

impl MethodHandler for Guarded {
    fn handler(&self, ctx: TtrpcContext, req: Request) -> ttrpc::Result<()> {
        let limits = &self.shared.limits;
        if req.payload.len() > limits.max_request {
            let msg = format!("request of {} bytes exceeds the {}-byte limit", req.payload.len(), limits.max_request);
            return self.refuse(&ctx, Code::INVALID_ARGUMENT, msg);
        }
        let bucket = match self.class {
            Class::Read => &self.shared.reads,
            Class::Evidence => &self.shared.evidence,
        };
        if !bucket.try_take() {
            return self.refuse(&ctx, Code::RESOURCE_EXHAUSTED, format!("rate limit of {} exceeded", self.path));
        }
        if !(self.decodes)(&req.payload) {
            return self.refuse(&ctx, Code::INVALID_ARGUMENT, format!("malformed {} request", self.path));
        }
        self.inner.handler(ctx, req)
    }
}

/// Whether a payload decodes as a method's request message.
type Decodes = fn(&[u8]) -> bool;

fn decodes<M: protobuf::Message>(payload: &[u8]) -> bool {
    M::parse_from_bytes(payload).is_ok()
}

/// The method table of `service`, every handler guarded. Only the four known methods are served.
pub fn methods(service: Arc<ApiService>) -> HashMap<String, Box<dyn MethodHandler + Send + Sync>> {
    let limits = service.limits;
    let shared = Arc::new(Shared {
        limits,
        reads: TokenBucket::new(limits.reads_per_second, limits.read_burst),
        evidence: TokenBucket::new(limits.evidence_per_second, limits.evidence_burst),
        throttle: LogThrottle::new(Duration::from_secs(1)),
    });
    let known: [(&str, Class, Decodes); 4] = [
        ("GetStatus", Class::Read, decodes::<pb::GetStatusRequest>),
        ("WatchStatus", Class::Read, decodes::<pb::WatchStatusRequest>),
        ("GetEvidence", Class::Evidence, decodes::<pb::GetEvidenceRequest>),
        ("GetAppraisal", Class::Read, decodes::<pb::GetAppraisalRequest>),
    ];
    let mut generated = create_guest_agent(service);
    let mut out: HashMap<String, Box<dyn MethodHandler + Send + Sync>> = HashMap::new();
    for (name, class, decodes) in known {
        let path = format!("/{API_SERVICE}/{name}");
        if let Some(inner) = generated.remove(&path) {
            let guarded = Guarded { path: path.clone(), class, decodes, inner, shared: Arc::clone(&shared) };
            out.insert(path, Box::new(guarded));
        }
    }
    for path in generated.keys() {
        tracing::error!(method = %path, "generated method without limits is not served");
    }
    out
}

/// A running API server.
pub struct ApiServer {
    server: ttrpc::Server,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Serves `agent`'s API on `addresses` (`vsock://-1:PORT`, `unix:///path`).
    pub fn start(agent: Arc<Agent>, limits: ApiLimits, addresses: &[String]) -> ttrpc::Result<Self> {
        let service = Arc::new(ApiService::new(agent, limits));
        let mut server = ttrpc::Server::new();
        for a in addresses {
            server = server.bind(a)?;
        }
        let mut server = server.register_service(methods(service));
        server.start()?;
        for a in addresses {
            tracing::info!(address = %a, "API serving");
        }
        Ok(Self { server })
    }

    /// Stops serving.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

/// The vsock address of the API on `port`.
pub fn vsock_address(port: u32) -> String {
    format!("vsock://-1:{port}")
}

/// The unix-socket address of `path`.
pub fn unix_address(path: &std::path::Path) -> String {
    format!("unix://{}", path.display())
}

#[cfg(test)]
mod tests {
    use protobuf::Message as _;

    use super::*;

    #[test]
    fn only_read_methods_exist() {
        let text = include_str!("../../proto/guest_agent.proto");
        let rpcs: Vec<&str> =
            text.lines().filter_map(|l| l.trim().strip_prefix("rpc ")).filter_map(|l| l.split('(').next()).collect();
        assert_eq!(rpcs, vec!["GetStatus", "WatchStatus", "GetEvidence", "GetAppraisal"]);
    }

    #[test]
    fn encodings_round_trip() {
        let mut r = pb::GetEvidenceRequest::new();
        r.nonce = vec![7; 32];
        let bytes = r.write_to_bytes().expect("encode");
        assert!(decodes::<pb::GetEvidenceRequest>(&bytes));
        assert!(!decodes::<pb::GetEvidenceRequest>(&[0x0a, 0xff, 0xff]), "truncated length-delimited field");
    }
}
