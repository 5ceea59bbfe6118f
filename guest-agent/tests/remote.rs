//! Remote mode against a relying party on the loopback interface: the agent POSTs the bundle and accepts
//! only an ES384-signed EAR from the configured key, for its own nonce, about its own evidence, affirming
//! for every GPU and the CPU. Every other answer — contraindicated, signed by another key, unsigned, for
//! another nonce, missing or adding a GPU, about another VM's evidence, an HTTP error, no answer — leaves
//! every GPU locked.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ccgpu_attestation::{EvidenceBundle, LogVerdict, Policy};
use ccgpu_guest_agent::sim::GpuFault;
use ccgpu_guest_agent::{Agent, EarKey, FailureReason, Mode, Outcome, RemoteConfig, RemoteVerifier};

use common::{Guest, RelyingParty, assert_failed, assert_ready, failure_of};

/// What the relying party does with the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rp {
    Honest,
    SignsWithAnotherKey,
    Unsigned,
    OtherNonce,
    DropsLastGpu,
    SaysAffirmingRegardless,
    HttpError,
    /// Adds a `gpu-N` for a GPU the bundle does not have.
    AddsAGpu,
    /// Swaps the verdicts of `gpu-0` and `gpu-1`.
    SwapsGpus,
    /// Writes no claim naming the evidence it appraised.
    NamesNoEvidence,
    /// Names other CPU evidence (the `cpu` submodule only).
    OtherCpuReport,
    /// Names another driver RIM for `gpu-0` than the one the guest sent: what a relay that swapped in
    /// another NVIDIA-signed RIM (same identity, other golden values) makes the relying party say.
    OtherDriverRim,
    /// Pins no launch measurement: its CPU verdict is `warning`.
    UnpinnedImage,
    /// Contraindicates the bundle-level checks (naming no failing check), every GPU affirming.
    BundleContraindicated,
}

struct Key {
    private_pem: String,
    public_pem: String,
}

fn key() -> Key {
    let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    Key { private_pem: k.serialize_pem(), public_pem: k.public_key_pem() }
}

fn b64url(bytes: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// Serves one request on a loopback port; returns the URL. With `relay`, the request is answered with a
/// verdict on *that* VM's evidence for the same nonce: what a host relaying between the guest and the
/// relying party can obtain by asking another VM it runs (`GetEvidence`).
fn relying_party(guest: &Guest, behaviour: Rp, signing: &Key, relay: Option<Arc<Agent>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}/v1/attest", listener.local_addr().expect("address"));
    let pkis = guest.fleet.pkis.clone();
    let private = signing.private_pem.clone();
    let other = key().private_pem;
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let sent = EvidenceBundle::parse(&body).expect("the agent sends a valid bundle");
        let bundle = match &relay {
            Some(w) => w.fresh_evidence(sent.nonce).expect("the other VM's evidence for the same nonce"),
            None => sent,
        };
        let appraisal = match behaviour {
            Rp::UnpinnedImage => RelyingParty::with_policy(&pkis, Policy::default()).appraise(&bundle),
            _ => RelyingParty::new(&pkis).appraise(&bundle),
        };
        let mut ear = appraisal.to_ear(time::OffsetDateTime::now_utc().unix_timestamp(), "test relying party");
        match behaviour {
            Rp::OtherNonce => ear.nonce = ear::Nonce::try_from([9u8; 32].as_slice()).ok(),
            Rp::DropsLastGpu => {
                let last = format!("gpu-{}", bundle.gpus.len() - 1);
                ear.submods.remove(&last);
            }
            Rp::SaysAffirmingRegardless => {
                ear.status = Some(ear::TrustTier::Affirming);
                for a in ear.submods.values_mut() {
                    a.status = ear::TrustTier::Affirming;
                }
            }
            Rp::AddsAGpu => {
                let mut extra = ear::Appraisal::new();
                extra.status = ear::TrustTier::Affirming;
                ear.submods.insert(format!("gpu-{}", bundle.gpus.len()), extra);
            }
            Rp::SwapsGpus => {
                let a = ear.submods.remove("gpu-0").expect("gpu-0");
                let b = ear.submods.remove("gpu-1").expect("gpu-1");
                ear.submods.insert("gpu-0".into(), b);
                ear.submods.insert("gpu-1".into(), a);
            }
            Rp::NamesNoEvidence => {
                for a in ear.submods.values_mut() {
                    for claim in ["evidence_sha384", "report_sha384", "expected_report_data"] {
                        a.verifier_claims.remove(claim);
                    }
                }
            }
            Rp::BundleContraindicated => {
                if let Some(b) = ear.submods.get_mut("bundle") {
                    b.status = ear::TrustTier::Contraindicated;
                }
                ear.status = Some(ear::TrustTier::Contraindicated);
            }
            Rp::OtherDriverRim => {
                if let Some(gpu) = ear.submods.get_mut("gpu-0") {
                    let named =
                        gpu.verifier_claims.insert("driver_rim_sha384".into(), ear::RawValue::String("cd".repeat(48)));
                    assert!(named.is_some(), "the relying party names the driver RIM it appraised");
                }
            }
            Rp::OtherCpuReport => {
                if let Some(cpu) = ear.submods.get_mut("cpu") {
                    cpu.verifier_claims.insert("report_sha384".into(), ear::RawValue::String("ab".repeat(48)));
                }
            }
            _ => {}
        }
        let token = match behaviour {
            Rp::SignsWithAnotherKey => ear.sign_jwt_pem(ear::Algorithm::ES384, other.as_bytes()).expect("sign"),
            Rp::Unsigned => {
                let claims = serde_json::to_vec(&ear).expect("claims");
                format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(&claims))
            }
            _ => ear.sign_jwt_pem(ear::Algorithm::ES384, private.as_bytes()).expect("sign"),
        };
        let (status, body) = match behaviour {
            Rp::HttpError => ("500 Internal Server Error", "verifier unavailable".to_owned()),
            _ => ("200 OK", token),
        };
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/jwt\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    url
}

fn run(guest: &mut Guest, behaviour: Rp) -> (Outcome, Arc<Agent>) {
    run_relayed(guest, behaviour, None)
}

fn run_relayed(guest: &mut Guest, behaviour: Rp, relay: Option<Arc<Agent>>) -> (Outcome, Arc<Agent>) {
    let trusted = key();
    let url = relying_party(guest, behaviour, &trusted, relay);
    let key = EarKey::from_pem(&trusted.public_pem).expect("P-384 public key");
    let remote = RemoteConfig { url, key, timeout: Duration::from_secs(60) };
    guest.config.mode = Mode::Remote;
    guest.config.remote = Some(remote.clone());
    let agent = guest.agent_with(Arc::new(RemoteVerifier::new(&remote)));
    (agent.bring_up(), agent)
}

#[test]
fn an_affirming_signed_verdict_for_our_nonce_releases_the_gpus() {
    let mut guest = Guest::new(2);
    let (outcome, agent) = run(&mut guest, Rp::Honest);
    assert_eq!(outcome, Outcome::Ready, "{:#?}", agent.status().snapshot());
    assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![true]);
    let records = guest.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].verdict, LogVerdict::Affirming);
    assert!(records[0].verifier.starts_with("relying party http://127.0.0.1:"));
    let a = agent.appraisal().expect("appraisal");
    assert_eq!((a.source.as_str(), a.verdict.as_str()), ("remote", "affirming"));
}

#[test]
fn a_contraindicated_verdict_keeps_the_gpus_locked_and_names_the_checks() {
    let mut guest = Guest::new(2);
    let last = guest.fleet.addresses[1];
    guest.fleet.gpus.inject(GpuFault::WrongNonce(Some(last)));
    let (outcome, agent) = run(&mut guest, Rp::Honest);
    let s = assert_failed(&guest, &agent, &outcome);
    let (reason, _, checks) = failure_of(&s, 1);
    assert_eq!(reason, FailureReason::Verification);
    assert!(checks.contains(&"nonce".to_owned()), "{checks:?}");
    assert_eq!(failure_of(&s, 0).0, FailureReason::OtherGpuFailed);
}

#[test]
fn a_cpu_or_bundle_verdict_short_of_affirming_keeps_every_gpu_locked() {
    for (behaviour, check) in [
        (Rp::UnpinnedImage, "cpu:relying-party-status-warning"),
        (Rp::BundleContraindicated, "bundle:relying-party-status-contraindicated"),
    ] {
        let mut guest = Guest::new(2);
        let (outcome, agent) = run(&mut guest, behaviour);
        let s = assert_failed(&guest, &agent, &outcome);
        for i in 0..2 {
            let (reason, _, checks) = failure_of(&s, i);
            assert_eq!(reason, FailureReason::Verification, "{behaviour:?}");
            assert!(checks.iter().any(|c| c == check), "{behaviour:?}: {checks:?}");
        }
        if behaviour == Rp::UnpinnedImage {
            let checks = failure_of(&s, 0).2;
            assert!(
                checks.iter().any(|c| c.starts_with("cpu:warning: ") && c.contains("launch measurement")),
                "{checks:?}"
            );
        }
    }
}

#[test]
fn only_a_valid_signed_verdict_for_this_bundle_counts() {
    for behaviour in [
        Rp::SignsWithAnotherKey,
        Rp::Unsigned,
        Rp::OtherNonce,
        Rp::DropsLastGpu,
        Rp::HttpError,
        Rp::AddsAGpu,
        Rp::SwapsGpus,
        Rp::NamesNoEvidence,
        Rp::OtherCpuReport,
        Rp::OtherDriverRim,
    ] {
        let mut guest = Guest::new(2);
        let (outcome, agent) = run(&mut guest, behaviour);
        let s = assert_failed(&guest, &agent, &outcome);
        for i in 0..2 {
            assert_eq!(failure_of(&s, i).0, FailureReason::RelyingParty, "{behaviour:?}");
        }
    }
}

#[test]
fn a_verdict_naming_another_rim_than_the_one_sent_is_refused() {
    let mut guest = Guest::new(2);
    let (outcome, agent) = run(&mut guest, Rp::OtherDriverRim);
    let s = assert_failed(&guest, &agent, &outcome);
    let (reason, detail, _) = failure_of(&s, 0);
    assert_eq!(reason, FailureReason::RelyingParty);
    assert!(detail.contains("is about other evidence: gpu-0 driver_rim_sha384 is cdcd"), "{detail}");
}

#[test]
fn a_verdict_on_another_vms_evidence_for_our_nonce_is_refused() {
    // The host runs VM W from the same image, with the same GPU model. It drops our bundle, asks W for
    // evidence on our nonce (GetEvidence), and forwards W's bundle to the relying party, which affirms it
    // honestly and signs an EAR carrying our nonce. Our GPUs were never appraised: nothing is released.
    let other = Guest::new(2);
    let w = other.agent();
    assert_ready(&other, &w, &w.bring_up());
    let mut guest = Guest::new(2);
    let (outcome, agent) = run_relayed(&mut guest, Rp::Honest, Some(w));
    let s = assert_failed(&guest, &agent, &outcome);
    for i in 0..2 {
        let (reason, detail, _) = failure_of(&s, i);
        assert_eq!(reason, FailureReason::RelyingParty);
        assert!(detail.contains("is about other evidence"), "{detail}");
    }
}

#[test]
fn the_relying_party_decides_remote_mode() {
    // A relying party that affirms evidence ccgpu-attestation would refuse: remote mode follows its
    // signed verdict (that is what remote mode means), and the record says who decided.
    let mut guest = Guest::new(1);
    guest.fleet.gpus.inject(GpuFault::RimMismatch(None));
    let (outcome, _agent) = run(&mut guest, Rp::SaysAffirmingRegardless);
    assert_eq!(outcome, Outcome::Ready);
    assert!(guest.records()[0].verifier.starts_with("relying party"));
}

#[test]
fn an_unreachable_relying_party_keeps_the_gpus_locked() {
    let mut guest = Guest::new(1);
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let trusted = key();
    let remote = RemoteConfig {
        url: format!("http://{closed}/v1/attest"),
        key: EarKey::from_pem(&trusted.public_pem).expect("P-384 public key"),
        timeout: Duration::from_secs(60),
    };
    guest.config.mode = Mode::Remote;
    let agent = guest.agent_with(Arc::new(RemoteVerifier::new(&remote)));
    let s = assert_failed(&guest, &agent, &agent.bring_up());
    assert_eq!(failure_of(&s, 0).0, FailureReason::RelyingParty);
    assert!(failure_of(&s, 0).1.contains("POST http://127.0.0.1"), "{}", failure_of(&s, 0).1);
}
