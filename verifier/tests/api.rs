//! Every route of the service, in process on 127.0.0.1:0, with real bundles from the simulated guest:
//! an affirming EAR the guest agent's own check accepts, a contraindicated one for a tampered GPU,
//! refusals (malformed, too deep, too large, rate-limited) that are logged with their reason, the
//! record and query routes, the log head, challenges, health, readiness and metrics.

mod common;

use ccgpu_attestation::{LogReader, LogVerdict};
use ccgpu_guest_agent::sim::GpuFault;
use ccgpu_guest_agent::{EarKey, RemoteConfig, RemoteVerifier, Verifier as _};
use common::{Files, Guest, Knobs, get, post, start};

fn appraisals(url: &str) -> String {
    format!("{url}/v1/appraisals")
}

/// The guest agent's remote mode (its real client and checks) against the service, pinning `public_pem`.
fn guest_decision(
    url: &str,
    public_pem: &str,
    bundle: &ccgpu_attestation::EvidenceBundle,
) -> Result<ccgpu_guest_agent::Decision, String> {
    let key = EarKey::from_pem(public_pem).map_err(|e| e.to_string())?;
    let remote = RemoteConfig { url: appraisals(url), key, timeout: std::time::Duration::from_secs(60) };
    RemoteVerifier::new(&remote).appraise(bundle).map_err(|e| format!("{e:?}"))
}

/// The claims of a compact JWS, unverified (the tests check the signature through the guest's path).
fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

fn log_records(files: &Files) -> Vec<ccgpu_attestation::LogRecord> {
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&files.log_dir).expect("dir").flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names.iter().filter(|p| p.extension().is_some_and(|e| e == "log")) {
        out.extend(LogReader::open(path).expect("open").records().map(|r| r.expect("record").1));
    }
    out
}

#[test]
fn an_honest_bundle_gets_a_signed_affirming_ear_the_guest_accepts_and_a_record_first() {
    let guest = Guest::new(2);
    let files = Files::new(&guest);
    let server = start(&files, &Knobs::default());
    let bundle = guest.bundle([1; 32]);
    let (status, headers, token) = post(&appraisals(&server.url), &bundle.to_json(), &[("ccgpu-node", "node-a")]);
    assert_eq!(status, 200, "{token}");
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/jwt"));
    assert_eq!(headers.get("ccgpu-verdict").and_then(|v| v.to_str().ok()), Some("affirming"));
    assert_eq!(claims(&token)["ear_status"], "affirming");
    let decision = guest_decision(&server.url, &files.ear_public_pem, &guest.bundle([7; 32])).expect("accepted");
    assert!(decision.affirming, "the guest's remote mode accepts it: {:?}", decision.failures);
    // Signed by the service's key, not another.
    let other = ccgpu_verifier::EarSigningKey::from_pem(common::private_key_pem().into_bytes()).expect("key");
    assert!(guest_decision(&server.url, other.public_pem(), &guest.bundle([8; 32])).is_err());

    let records = log_records(&files);
    assert_eq!(records.len(), 3);
    let r = &records[0];
    assert_eq!(r.verdict, LogVerdict::Affirming);
    assert_eq!(r.node.as_deref(), Some("node-a"));
    assert_eq!(r.nonce.as_ref().map(|n| n.0.clone()), Some(vec![1; 32]));
    assert_eq!(r.policy_digest.map(|d| d.to_string()), Some(common::policy().digest()));
    assert_eq!(r.devices.len(), 3, "two GPUs and the SNP report");

    // The record by id, from the Location header.
    let location = headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
    let (status, body) = get(&format!("{}{location}", server.url));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["record"]["verdict"], "affirming");
    assert_eq!(v["record"]["node"], "node-a");
}

#[test]
fn a_tampered_gpu_is_contraindicated_and_both_verdicts_are_queryable() {
    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let server = start(&files, &Knobs::default());
    let good = guest.bundle([2; 32]);
    assert_eq!(post(&appraisals(&server.url), &good.to_json(), &[]).0, 200);
    guest.fleet.gpus.inject(GpuFault::RimMismatch(None));
    let bad = guest.bundle([3; 32]);
    let (status, headers, token) =
        post(&appraisals(&server.url), &bad.to_json(), &[("ccgpu-claim-namespace", "ml"), ("ccgpu-claim-name", "c1")]);
    assert_eq!(status, 200, "a verdict, contraindicated, is still a verdict");
    assert_eq!(headers.get("ccgpu-verdict").and_then(|v| v.to_str().ok()), Some("contraindicated"));
    assert_eq!(claims(&token)["submods"]["gpu-0"]["ear_status"], "contraindicated");
    let decision = guest_decision(&server.url, &files.ear_public_pem, &guest.bundle([4; 32])).expect("a decision");
    assert!(!decision.affirming, "the guest's remote mode keeps the tampered GPU locked");

    let q = |query: &str| -> serde_json::Value {
        let (status, body) = get(&format!("{}?{query}", appraisals(&server.url)));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    };
    assert_eq!(q("verdict=affirming")["appraisals"].as_array().expect("list").len(), 1);
    assert_eq!(
        q("verdict=contraindicated")["appraisals"].as_array().expect("list").len(),
        2,
        "the tampered bundle twice"
    );
    let by_claim = q("claim=ml/c1");
    assert_eq!(by_claim["appraisals"].as_array().expect("list").len(), 1);
    assert!(
        by_claim["appraisals"][0]["record"]["failed_checks"]
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c.as_str().is_some_and(|c| c.contains("measurements"))),
        "{by_claim}"
    );
    let uuid = good.gpus[0].uuid.clone().expect("uuid");
    assert_eq!(q(&format!("gpu={uuid}"))["appraisals"].as_array().expect("list").len(), 3);
    assert_eq!(q("gpu=GPU-none")["appraisals"].as_array().expect("list").len(), 0);
    assert_eq!(q("limit=1")["truncated"], true);
    assert_eq!(q("since=2999-01-01T00:00:00Z")["appraisals"].as_array().expect("list").len(), 0);
    assert_eq!(get(&format!("{}?verdict=great", appraisals(&server.url))).0, 400);
    assert_eq!(get(&format!("{}?since=yesterday", appraisals(&server.url))).0, 400);
    assert_eq!(get(&format!("{}?colour=red", appraisals(&server.url))).0, 400);
}

#[test]
fn malformed_deep_and_oversized_bodies_are_refused_with_the_reason_and_logged() {
    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let knobs = Knobs { max_body: 64 * 1024, ..Knobs::default() };
    let server = start(&files, &knobs);
    let url = appraisals(&server.url);

    let (status, _, body) = post(&url, b"{\"format\":\"ccgpu-evidence-bundle\",\"version\":1}", &[]);
    assert_eq!(status, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["error"], "malformed");
    assert!(v["reason"].as_str().expect("reason").contains("missing field"), "{v}");
    assert!(v["id"].is_string(), "the refusal is logged: {v}");

    let mut wrong = serde_json::from_slice::<serde_json::Value>(&guest.bundle([5; 32]).to_json()).expect("json");
    wrong["gpus"][0]["report"] = serde_json::Value::String("not base64!".into());
    let (status, _, body) = post(&url, &serde_json::to_vec(&wrong).expect("json"), &[]);
    assert_eq!(status, 400);
    assert!(body.contains("gpus[0].report"), "the precise field: {body}");

    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    let (status, _, body) = post(&url, deep.as_bytes(), &[]);
    assert_eq!(status, 400);
    assert!(body.contains("too-deep") && body.contains("16 levels"), "{body}");

    let big = vec![b' '; 100 * 1024];
    let (status, _, body) = post(&url, &big, &[]);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("65536-byte limit"), "{body}");

    let records = log_records(&files);
    assert_eq!(records.len(), 4, "every refusal has its record");
    assert!(records.iter().all(|r| r.verdict == LogVerdict::Contraindicated));
    let codes: Vec<&str> = records.iter().map(|r| r.failed_checks[0].as_str()).collect();
    assert_eq!(codes, ["bundle:malformed", "bundle:malformed", "bundle:too-deep", "bundle:too-large"]);
    assert!(records[0].failed_checks[1].contains("missing field"), "{:?}", records[0].failed_checks);

    let (_, metrics) = get(&format!("{}/metrics", server.url));
    assert!(metrics.contains("ccgpu_verifier_appraisals_total{verdict=\"contraindicated\"} 4"), "{metrics}");
    assert!(metrics.contains("ccgpu_verifier_failed_checks_total{check=\"bundle:malformed\"} 2"), "{metrics}");
    assert!(metrics.contains("ccgpu_verifier_rejected_requests_total{reason=\"too-large\"} 1"), "{metrics}");
}

#[test]
fn a_client_over_its_rate_gets_429_without_a_record() {
    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let server = start(&files, &Knobs { rate: 0.001, burst: 2, ..Knobs::default() });
    let url = appraisals(&server.url);
    assert_eq!(post(&url, b"{}", &[]).0, 400);
    assert_eq!(post(&url, b"{}", &[]).0, 400);
    let (status, headers, body) = post(&url, &guest.bundle([6; 32]).to_json(), &[]);
    assert_eq!(status, 429, "{body}");
    assert!(headers.get("retry-after").is_some());
    assert_eq!(log_records(&files).len(), 2, "a refused-by-rate request is not logged (it would flood the log)");
    let (_, metrics) = get(&format!("{}/metrics", server.url));
    assert!(metrics.contains("rejected_requests_total{reason=\"rate-limited\"} 1"), "{metrics}");
}

#[test]
fn a_challenge_is_bound_into_the_next_appraisal_once_and_required_when_configured() {
    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let server = start(&files, &Knobs { require_challenge: true, ..Knobs::default() });
    let (status, _, body) = post(&format!("{}/v1/challenges", server.url), b"", &[]);
    assert_eq!(status, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut nonce = [0u8; 32];
    hex::decode_to_slice(v["nonce"].as_str().expect("nonce"), &mut nonce).expect("hex");
    assert_eq!(v["expires_in_seconds"], 60);

    let bundle = guest.bundle(nonce);
    let (_, headers, _) = post(&appraisals(&server.url), &bundle.to_json(), &[]);
    assert_eq!(headers.get("ccgpu-verdict").and_then(|v| v.to_str().ok()), Some("affirming"));
    // The same nonce again: used up.
    let (_, headers, token) = post(&appraisals(&server.url), &bundle.to_json(), &[]);
    assert_eq!(headers.get("ccgpu-verdict").and_then(|v| v.to_str().ok()), Some("contraindicated"));
    let claims = claims(&token);
    assert_eq!(claims["ear_status"], "contraindicated", "{claims}");
    assert_eq!(claims["submods"]["bundle"]["ear_status"], "contraindicated", "{claims}");
    // The guest's remote mode refuses it too.
    let again = guest.bundle(nonce);
    let decision = guest_decision(&server.url, &files.ear_public_pem, &again).expect("a decision");
    assert!(!decision.affirming);
    let records = log_records(&files);
    assert!(records[1].failed_checks.contains(&ccgpu_verifier::CHALLENGE_CHECK.to_owned()), "{:?}", records[1]);
}

#[test]
fn health_readiness_metrics_head_and_the_public_key_are_served() {
    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let server = start(&files, &Knobs::default());
    assert_eq!(get(&format!("{}/healthz", server.url)).0, 200);
    assert_eq!(get(&format!("{}/readyz", server.url)).0, 200);
    let (status, pem) = get(&format!("{}{}", server.url, ccgpu_verifier::PUBLIC_KEY_PATH));
    assert_eq!(status, 200);
    assert_eq!(pem, files.ear_public_pem);
    EarKey::from_pem(&pem).expect("a guest can pin it");

    for i in 0..5u8 {
        assert_eq!(post(&appraisals(&server.url), &guest.bundle([10 + i; 32]).to_json(), &[]).0, 200);
    }
    let (status, body) = get(&format!("{}/v1/log/head", server.url));
    assert_eq!(status, 200);
    let head: serde_json::Value = serde_json::from_str(&body).expect("json");
    // Header, 5 records, a checkpoint after the 4th.
    assert_eq!(head["head"]["line"], 7, "{head}");
    assert_eq!(head["last_checkpoint_line"], 6, "{head}");
    let summary = LogReader::open(files.log_dir.join("attestation-000001.log"))
        .expect("open")
        .with_checkpoint_key(ccgpu_attestation::CheckpointKey::from_spki(files.log_public_pem.as_bytes()).expect("key"))
        .with_checkpoint_every(std::num::NonZeroU64::new(4).expect("nonzero"))
        .verify()
        .expect("the central log verifies with its checkpoint key");
    assert_eq!(summary.head.hash.to_string(), head["head"]["hash"].as_str().expect("hash"));
    assert_eq!(summary.header.log_id.to_string(), head["log_id"].as_str().expect("id"));

    let (_, metrics) = get(&format!("{}/metrics", server.url));
    assert!(metrics.contains("ccgpu_verifier_appraisals_total{verdict=\"affirming\"} 5"), "{metrics}");
    assert!(metrics.contains("ccgpu_verifier_appraisal_duration_seconds_count 5"), "{metrics}");
    // Two GPUs' worth of RIMs (driver and VBIOS) read once from the directory, then from memory.
    assert!(metrics.contains("source_requests_total{source=\"rim\",result=\"miss\"} 2"), "{metrics}");
    assert!(metrics.contains("source_requests_total{source=\"rim\",result=\"hit\"} 8"), "{metrics}");

    assert_eq!(get(&format!("{}/v1/appraisals/nonsense", server.url)).0, 400);
    let missing = format!("{}/v1/appraisals/{}-000001-99", server.url, head["log_id"].as_str().expect("id"));
    assert_eq!(get(&missing).0, 404);
    let other_log = format!("{}/v1/appraisals/{}-000001-2", server.url, "0".repeat(32));
    assert_eq!(get(&other_log).0, 404);
}

#[test]
fn concurrent_appraisals_each_get_their_own_record() {
    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let server = start(&files, &Knobs::default());
    let url = appraisals(&server.url);
    let bodies: Vec<Vec<u8>> = (0..4u8).map(|i| guest.bundle([20 + i; 32]).to_json()).collect();
    let threads: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let u = url.clone();
            std::thread::spawn(move || post(&u, &body, &[]).0)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), 200);
    }
    let records = log_records(&files);
    assert_eq!(records.len(), 4);
    let mut nonces: Vec<u8> = records.iter().map(|r| r.nonce.as_ref().expect("nonce").0[0]).collect();
    nonces.sort_unstable();
    assert_eq!(nonces, [20, 21, 22, 23]);
}
