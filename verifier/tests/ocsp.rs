//! `--ocsp online`: the service asks the responder itself (the bundle's responses are never used) within
//! one budget per appraisal, and every certificate looked up moves `source_requests_total{source="ocsp"}`
//! — `error` when the responder fails (the appraisal then cannot affirm revocation), `miss` when it
//! answers. The responder is test-support's loopback `serve_get`, forced for every certificate. And
//! `--ocsp DIR`: recorded responses covering every certificate (signed by the simulated PKIs' delegated
//! responders) count as `hit`s, and revocation is then affirmed; so do the same responses in the online
//! source's disk cache, without asking the responder.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ccgpu_verifier::{Answer, ClientContext, OcspSetting};
use common::{Files, Guest, Knobs, service_with_ocsp};

/// The value of `source_requests_total{source="ocsp",result=<result>}` in the exposition.
fn ocsp_count(metrics: &str, result: &str) -> u64 {
    let prefix = format!("ccgpu_verifier_source_requests_total{{source=\"ocsp\",result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
}

fn online(url: String) -> OcspSetting {
    OcspSetting::Online { url: Some(url), timeout: Duration::from_secs(2), cache: None }
}

/// A responder that answers every request with `status` and `body`, counting requests.
fn responder(status: &'static str, body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let url = ccgpu_test_support::http::serve_get(64, move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Some((status, body.clone()))
    });
    (url, asked)
}

/// The verdict and failed checks of the latest record in the service's log.
fn verdict_and_failures(files: &Files, answer: &Answer) -> (String, Vec<String>) {
    assert!(matches!(answer, Answer::Ear { .. }), "no EAR: {answer:?}");
    let mut names: Vec<_> = std::fs::read_dir(&files.log_dir).expect("log dir").flatten().map(|e| e.path()).collect();
    names.sort();
    let records: Vec<_> = names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .flat_map(|p| ccgpu_attestation::LogReader::open(p).expect("open").records().map(|r| r.expect("record").1))
        .collect();
    let record = records.into_iter().last().expect("the appraisal's record (the only one so far)");
    (record.verdict.name().to_owned(), record.failed_checks)
}

#[test]
fn a_failing_responder_is_counted_as_errors_and_revocation_is_not_affirmed() {
    let guest = Guest::new(2);
    let files = Files::new(&guest);
    let (url, asked) = responder("503 Service Unavailable", b"down".to_vec());
    let service = service_with_ocsp(&files, &Knobs::default(), &online(url));
    let answer = service.appraise(&guest.bundle([3; 32]).to_json(), &ClientContext::default());
    let metrics = service.metrics().encode();
    let errors = ocsp_count(&metrics, "error");
    assert!(errors >= 2, "each certificate of both GPUs' chains is looked up: {errors}");
    assert_eq!(errors, asked.load(Ordering::SeqCst) as u64, "one request per certificate, no retries");
    assert_eq!((ocsp_count(&metrics, "hit"), ocsp_count(&metrics, "miss")), (0, 0));
    let (verdict, failures) = verdict_and_failures(&files, &answer);
    assert_ne!(verdict, "affirming", "revocation unknown is never affirmed: {failures:?}");
    assert!(failures.iter().any(|f| f.contains("ocsp")), "an OCSP check fails: {failures:?}");
}

#[test]
fn an_answering_responder_is_counted_as_misses_and_its_responses_are_judged() {
    // NVIDIA's recorded response: a well-formed answer, but about another certificate, so the appraisal
    // (not the transport) refuses it for the simulated chains.
    let Some(b64) = ccgpu_test_support::read_testdata(
        "nvidia/h100-550.90.07/ocsp/gpu_certificate_l2_base64encoded_ocsp_response.b64",
    ) else {
        return;
    };
    use base64::Engine as _;
    let text: String = String::from_utf8_lossy(&b64).split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(text).expect("base64");
    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let (url, asked) = responder("200 OK", der);
    let service = service_with_ocsp(&files, &Knobs::default(), &online(url));
    let answer = service.appraise(&guest.bundle([4; 32]).to_json(), &ClientContext::default());
    let metrics = service.metrics().encode();
    let misses = ocsp_count(&metrics, "miss");
    assert!(misses >= 1);
    assert_eq!(misses, asked.load(Ordering::SeqCst) as u64);
    assert_eq!(ocsp_count(&metrics, "error"), 0);
    let (verdict, failures) = verdict_and_failures(&files, &answer);
    assert_ne!(verdict, "affirming", "{failures:?}");
    assert!(failures.iter().any(|f| f.contains("ocsp")), "{failures:?}");
    // A second appraisal asks again (no cache configured) with a budget of its own.
    let _ = service.appraise(&guest.bundle([5; 32]).to_json(), &ClientContext::default());
    assert_eq!(ocsp_count(&service.metrics().encode(), "miss"), misses * 2);
}

#[test]
fn responses_for_every_certificate_recorded_or_cached_are_hits_and_revocation_is_affirmed() {
    let guest = Guest::new(2);
    let files = Files::new(&guest);
    let dir = files.dir.path().join("ocsp");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let responses = common::pkis().gpu.ocsp_responses(2, time::OffsetDateTime::now_utc()).expect("responses");
    for (i, der) in responses.iter().enumerate() {
        std::fs::write(dir.join(format!("{i}.der")), der).expect("write");
    }
    let service = service_with_ocsp(&files, &Knobs::default(), &OcspSetting::Dir(dir));
    let answer = service.appraise(&guest.bundle([6; 32]).to_json(), &ClientContext::default());
    let metrics = service.metrics().encode();
    let (verdict, failures) = verdict_and_failures(&files, &answer);
    assert_eq!(verdict, "affirming", "{failures:?}");
    assert!(ocsp_count(&metrics, "hit") >= 2, "{metrics}");
    assert_eq!((ocsp_count(&metrics, "miss"), ocsp_count(&metrics, "error")), (0, 0));

    // Online, with the responses already in the disk cache (named by their CertID's SHA-384): every
    // certificate is a hit and the responder, which would fail, is never asked.
    let cache = files.dir.path().join("ocsp-cache");
    std::fs::create_dir_all(&cache).expect("mkdir");
    for der in &responses {
        let parsed = ccgpu_attestation::OcspResponse::parse(der).expect("parse");
        let key = hex::encode(ccgpu_attestation::sha384(&parsed.responses[0].cert_id.to_der()));
        std::fs::write(cache.join(format!("{key}.der")), der).expect("write");
    }
    let (url, asked) = responder("503 Service Unavailable", Vec::new());
    let setting = OcspSetting::Online { url: Some(url), timeout: Duration::from_secs(2), cache: Some(cache) };
    let service = service_with_ocsp(&files, &Knobs::default(), &setting);
    let answer = service.appraise(&guest.bundle([8; 32]).to_json(), &ClientContext::default());
    let cached = service.metrics().encode();
    let (verdict, failures) = verdict_and_failures(&files, &answer);
    assert_eq!(verdict, "affirming", "{failures:?}");
    assert_eq!(ocsp_count(&cached, "hit"), ocsp_count(&metrics, "hit"), "the same certificates, from the cache");
    assert_eq!((ocsp_count(&cached, "miss"), ocsp_count(&cached, "error")), (0, 0));
    assert_eq!(asked.load(Ordering::SeqCst), 0, "the responder is not asked");

    // Without the responses, the same bundle's certificates are looked up and not found.
    let empty = files.dir.path().join("ocsp-empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let service = service_with_ocsp(&files, &Knobs::default(), &OcspSetting::Dir(empty));
    let _ = service.appraise(&guest.bundle([7; 32]).to_json(), &ClientContext::default());
    let metrics = service.metrics().encode();
    assert_eq!(ocsp_count(&metrics, "hit"), 0);
    assert!(ocsp_count(&metrics, "error") >= 2, "{metrics}");
}
