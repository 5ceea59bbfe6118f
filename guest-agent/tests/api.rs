//! The ttrpc API over a unix socket, from a ttrpc client: status and its long poll, fresh evidence for a
//! relying party's nonce (which verifies, and changes nothing), the last appraisal; and what the host
//! could try: oversized, malformed and unknown requests, wrong nonces, and request floods.

mod common;

use std::sync::Arc;
use std::thread;

use ccgpu_attestation::{EvidenceBundle, Policy, Verdict};
use ccgpu_guest_agent::proto::guest_agent as pb;
use ccgpu_guest_agent::proto::guest_agent_ttrpc::GuestAgentClient;
use ccgpu_guest_agent::{Agent, ApiLimits, ApiServer, Outcome, unix_address};
use protobuf::Message as _;
use ttrpc::Code;

use common::{Guest, appraise};

struct Served {
    guest: Guest,
    agent: Arc<Agent>,
    server: Option<ApiServer>,
    address: String,
}

impl Served {
    fn new(gpus: u8, limits: ApiLimits) -> Self {
        let guest = Guest::new(gpus);
        let agent = guest.agent();
        let address = unix_address(&guest.dir.path().join("agent.sock"));
        let server = ApiServer::start(Arc::clone(&agent), limits, std::slice::from_ref(&address)).expect("serve");
        Self { guest, agent, server: Some(server), address }
    }

    fn client(&self) -> GuestAgentClient {
        GuestAgentClient::new(ttrpc::Client::connect(&self.address).expect("connect"))
    }

    fn raw(&self) -> ttrpc::Client {
        ttrpc::Client::connect(&self.address).expect("connect")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

fn ctx() -> ttrpc::context::Context {
    ttrpc::context::with_timeout(60_000_000_000)
}

fn code_of<T: std::fmt::Debug>(r: ttrpc::Result<T>) -> (Code, String) {
    match r {
        Err(ttrpc::Error::RpcStatus(s)) => (s.code(), s.message.clone()),
        other => panic!("expected an RPC status error, got {other:?}"),
    }
}

fn raw_request(method: &str, payload: Vec<u8>) -> ttrpc::Request {
    let mut r = ttrpc::Request::new();
    r.service = ccgpu_guest_agent::API_SERVICE.to_owned();
    r.method = method.to_owned();
    r.payload = payload;
    r.timeout_nano = 60_000_000_000;
    r
}

fn nonce_request(nonce: Vec<u8>) -> pb::GetEvidenceRequest {
    let mut r = pb::GetEvidenceRequest::new();
    r.nonce = nonce;
    r
}

#[test]
fn status_watch_appraisal_and_evidence() {
    let served = Served::new(2, ApiLimits::default());
    let client = served.client();

    let before = client.get_status(ctx(), &pb::GetStatusRequest::new()).expect("status");
    assert_eq!(before.phase.enum_value_or_default(), pb::Phase::PHASE_BRINGING_UP);
    assert!(!before.ready);
    let (code, _) = code_of(client.get_evidence(ctx(), &nonce_request(vec![1; 32])));
    assert_eq!(code, Code::FAILED_PRECONDITION, "no evidence before the driver is up");
    let appraisal = client.get_appraisal(ctx(), &pb::GetAppraisalRequest::new()).expect("appraisal");
    assert!(!appraisal.present);

    let agent = Arc::clone(&served.agent);
    let bringup = thread::spawn(move || agent.bring_up());
    // Watch until the end of bring-up, generation by generation.
    let mut generation = before.generation;
    let last = loop {
        let mut w = pb::WatchStatusRequest::new();
        w.after_generation = generation;
        w.timeout_ms = 30_000;
        let s = client.watch_status(ctx(), &w).expect("watch");
        assert!(s.generation >= generation);
        generation = s.generation;
        if s.phase.enum_value_or_default() != pb::Phase::PHASE_BRINGING_UP {
            break s;
        }
    };
    assert_eq!(bringup.join().expect("bring-up thread"), Outcome::Ready);
    assert_eq!(last.phase.enum_value_or_default(), pb::Phase::PHASE_READY);
    assert!(last.ready);
    assert_eq!(last.gpus.len(), 2);
    for g in &last.gpus {
        assert_eq!(g.state.enum_value_or_default(), pb::GpuState::GPU_STATE_READY);
        let steps: Vec<&str> = g.timings.iter().map(|t| t.step.as_str()).collect();
        assert_eq!(
            steps,
            ["discovered", "driver-loaded", "persistenced-up", "evidence-collected", "verified", "ready"]
        );
        assert_eq!(g.verdict, "affirming");
        assert!(g.cc_enabled && !g.dev_tools && g.uuid.starts_with("GPU-"));
    }
    assert!(last.bringup_us > 0);
    assert_eq!(last.mode, "local");
    assert_eq!(last.policy_digest, Policy::default().digest());

    let appraisal = client.get_appraisal(ctx(), &pb::GetAppraisalRequest::new()).expect("appraisal");
    assert!(appraisal.present);
    assert_eq!((appraisal.verdict.as_str(), appraisal.source.as_str()), ("affirming", "local"));
    let json: serde_json::Value = serde_json::from_slice(&appraisal.appraisal_json).expect("appraisal JSON");
    // The appraisal itself says `warning`: the guest's policy pins no launch measurement, which only a
    // relying party can judge; the guest's own decision (above) is affirming, see `local_verdict`.
    assert_eq!(json["verdict"], "warning");
    assert_eq!(json["cpu"]["checks"].as_array().map(|c| c.iter().all(|c| c["status"] != "failed")), Some(true));

    // Fresh evidence for the relying party's nonce: a bundle `ccgpu verify bundle` reads, which verifies.
    let nonce = [0xa5u8; 32];
    let evidence = client.get_evidence(ctx(), &nonce_request(nonce.to_vec())).expect("evidence");
    let bundle = EvidenceBundle::parse(&evidence.bundle_json).expect("bundle");
    assert_eq!(bundle.nonce, nonce);
    assert_eq!(bundle.gpus.len(), 2);
    assert!(bundle.cpu.is_some() && bundle.gpus.iter().all(|g| g.driver_rim.is_some() && g.vbios_rim.is_some()));
    let fleet = &served.guest.fleet;
    let verdict = appraise(&fleet.pkis, &bundle);
    assert_eq!(verdict.verdict, Verdict::Affirming, "{:?}", verdict.failures());
    // Evidence requests change nothing.
    let after = client.get_status(ctx(), &pb::GetStatusRequest::new()).expect("status");
    assert_eq!(after.generation, last.generation);
    assert_eq!(fleet.gpus.set_ready_calls(), vec![true]);
}

#[test]
fn wrong_nonces_oversized_malformed_and_unknown_requests_are_refused() {
    // Refused requests are charged to the rate limit too: a burst large enough for this test.
    let served = Served::new(1, ApiLimits { evidence_burst: 100.0, read_burst: 100.0, ..ApiLimits::default() });
    assert_eq!(served.agent.bring_up(), Outcome::Ready);
    let client = served.client();
    for len in [0usize, 16, 31, 33, 64] {
        let (code, msg) = code_of(client.get_evidence(ctx(), &nonce_request(vec![7; len])));
        assert_eq!(code, Code::INVALID_ARGUMENT, "{len}-byte nonce");
        assert!(msg.contains("32 bytes"), "{msg}");
    }

    let raw = served.raw();
    // Oversized: a 300-byte nonce field and a 1 MiB one are refused before they are decoded.
    for size in [300usize, 1 << 20] {
        let payload = nonce_request(vec![0; size]).write_to_bytes().expect("encode");
        let (code, msg) = code_of(raw.request(raw_request("GetEvidence", payload)));
        assert_eq!(code, Code::INVALID_ARGUMENT);
        assert!(msg.contains("exceeds the 256-byte limit"), "{msg}");
    }
    // Malformed: not protobuf of the method's message.
    for payload in [vec![0x0a, 0xff, 0xff], vec![0xff; 8], vec![0x08]] {
        let (code, msg) = code_of(raw.request(raw_request("GetStatus", payload.clone())));
        assert_eq!(code, Code::INVALID_ARGUMENT, "{payload:?}");
        assert!(msg.contains("malformed"), "{msg}");
    }
    // State-changing methods do not exist.
    for method in ["SetReady", "SetPolicy", "SkipCheck", "LoadModule"] {
        let r = raw.request(raw_request(method, Vec::new()));
        assert!(r.is_err(), "{method} answered {r:?}");
    }
    // The connection is still usable, and nothing changed.
    let s = client.get_status(ctx(), &pb::GetStatusRequest::new()).expect("status");
    assert_eq!(s.phase.enum_value_or_default(), pb::Phase::PHASE_READY);
    assert_eq!(served.guest.fleet.gpus.set_ready_calls(), vec![true]);
}

#[test]
fn requests_are_rate_limited() {
    let limits = ApiLimits {
        reads_per_second: 0.0,
        read_burst: 3.0,
        evidence_per_second: 0.0,
        evidence_burst: 1.0,
        ..ApiLimits::default()
    };
    let served = Served::new(1, limits);
    assert_eq!(served.agent.bring_up(), Outcome::Ready);
    let client = served.client();
    for _ in 0..3 {
        client.get_status(ctx(), &pb::GetStatusRequest::new()).expect("within the burst");
    }
    let (code, _) = code_of(client.get_status(ctx(), &pb::GetStatusRequest::new()));
    assert_eq!(code, Code::RESOURCE_EXHAUSTED);
    let (code, _) = code_of(client.get_appraisal(ctx(), &pb::GetAppraisalRequest::new()));
    assert_eq!(code, Code::RESOURCE_EXHAUSTED, "reads share one bucket");

    let reports = served.guest.fleet.gpus.report_calls();
    client.get_evidence(ctx(), &nonce_request(vec![1; 32])).expect("first evidence request");
    let (code, _) = code_of(client.get_evidence(ctx(), &nonce_request(vec![2; 32])));
    assert_eq!(code, Code::RESOURCE_EXHAUSTED);
    assert_eq!(served.guest.fleet.gpus.report_calls(), reports + 1, "the refused request never reached the GPU");
}

#[test]
fn a_failed_bring_up_is_explained_through_the_api() {
    let served = Served::new(2, ApiLimits::default());
    served
        .guest
        .fleet
        .gpus
        .inject(ccgpu_guest_agent::sim::GpuFault::ForeignKey(served.guest.fleet.addresses.first().copied()));
    assert!(matches!(served.agent.bring_up(), Outcome::Failed(_)));
    let client = served.client();
    let s = client.get_status(ctx(), &pb::GetStatusRequest::new()).expect("status");
    assert_eq!(s.phase.enum_value_or_default(), pb::Phase::PHASE_FAILED);
    assert!(!s.ready && s.reason.contains("verification"));
    let g0 = &s.gpus[0];
    assert_eq!(g0.state.enum_value_or_default(), pb::GpuState::GPU_STATE_FAILED);
    assert_eq!(g0.failed_step, "evidence-collected");
    assert!(g0.reason.starts_with("verification") && g0.failed_checks.contains(&"report-signature".to_owned()));
    assert!(s.gpus[1].reason.starts_with("other-gpu-failed"));
    let a = client.get_appraisal(ctx(), &pb::GetAppraisalRequest::new()).expect("appraisal");
    assert_eq!(a.verdict, "contraindicated");
    served.guest.assert_never_ready();
}
