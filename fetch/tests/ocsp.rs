//! `OcspResponder` against test-support's loopback server answering with NVIDIA's recorded OCSP responses
//! (shared data): fetched once then served from the cache until its nextUpdate, asked again after it;
//! the responder URL chosen (an allowed AIA host, never a crafted one; forced); each bad answer a precise
//! error (status, not OCSP, oversized, hung); and the time budget per appraisal, not per object (a small POST server of its own:
//! test-support's `serve_get` drops a hung request's unread body, which resets the connection).

use std::time::Duration;

use ccgpu_attestation::{OcspQuery, OcspResponse};
use ccgpu_fetch::{OcspFetchError, OcspOrigin, OcspResponder};
use time::OffsetDateTime;

const RECORDED: &str = "nvidia/h100-550.90.07/ocsp/gpu_certificate_l2_base64encoded_ocsp_response.b64";

/// The recorded response (DER), the query it answers, and a time within its validity.
fn recorded() -> Option<(Vec<u8>, OcspQuery, OffsetDateTime)> {
    use base64::Engine as _;
    let text = ccgpu_test_support::read_testdata(RECORDED)?;
    let text: String = String::from_utf8_lossy(&text).split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(text).expect("base64");
    let parsed = OcspResponse::parse(&der).expect("a recorded response parses");
    let single = &parsed.responses[0];
    let query = OcspQuery {
        subject: "GH100 L2".to_owned(),
        cert_id: single.cert_id.clone(),
        url: Some("http://ocsp.ndis.nvidia.com".to_owned()),
    };
    Some((der, query, single.this_update + Duration::from_secs(60)))
}

fn next_update(der: &[u8]) -> OffsetDateTime {
    OcspResponse::parse(der).expect("parse").responses[0].next_update.expect("a nextUpdate")
}

#[test]
fn a_response_is_fetched_once_then_cached_until_its_next_update() {
    let Some((der, query, now)) = recorded() else { return };
    let served = der.clone();
    // Two answers: the first fetch, and the one after nextUpdate; the second fetch must not ask.
    let url = ccgpu_test_support::http::serve_get(2, move |_| Some(("200 OK", served.clone())));
    let cache = tempfile::tempdir().expect("tmp");
    let r = OcspResponder::forced(&url, Duration::from_millis(500), Some(cache.path().to_path_buf()));
    let first = r.fetch_within(&query, now, &r.budget()).expect("fetched");
    assert_eq!(first.origin, OcspOrigin::Responder(url.clone()));
    assert_eq!(first.response.responses[0].cert_id, query.cert_id);
    assert_eq!(std::fs::read_dir(cache.path()).expect("cache").count(), 1, "one file per CertID");
    let second = r.fetch_within(&query, now, &r.budget()).expect("cached");
    assert_eq!(second.origin, OcspOrigin::Cache);
    let stale = next_update(&der) + Duration::from_secs(1);
    let third = r.fetch_within(&query, stale, &r.budget()).expect("asked again");
    assert_eq!(third.origin, OcspOrigin::Responder(url), "a cached response past its nextUpdate is not reused");
}

#[test]
fn the_responder_is_an_allowed_aia_host_or_the_default_never_a_crafted_one() {
    let Some((_, query, _)) = recorded() else { return };
    let r = OcspResponder::new("http://default.example", Duration::from_secs(1), None);
    assert_eq!(r.url_for(&query), "http://ocsp.ndis.nvidia.com");
    let crafted = OcspQuery { url: Some("http://169.254.169.254/latest/meta-data".to_owned()), ..query.clone() };
    assert_eq!(r.url_for(&crafted), "http://default.example");
    let none = OcspQuery { url: None, ..query.clone() };
    assert_eq!(r.url_for(&none), "http://default.example");
    let forced = OcspResponder::forced("http://mirror.example", Duration::from_secs(1), None);
    assert_eq!(forced.url_for(&query), "http://mirror.example");
}

#[test]
fn every_bad_answer_is_a_precise_error_naming_the_certificate() {
    let Some((_, query, now)) = recorded() else { return };
    let t = Duration::from_millis(500);
    let answer = |status: &'static str, body: Vec<u8>| {
        let url = ccgpu_test_support::http::serve_get(1, move |_| Some((status, body.clone())));
        let r = OcspResponder::forced(&url, t, None);
        r.fetch_within(&query, now, &r.budget()).expect_err("refused")
    };
    let e = answer("503 Service Unavailable", b"down".to_vec());
    assert!(matches!(e, OcspFetchError::Status { status: 503, .. }), "{e}");
    assert!(e.to_string().starts_with("GH100 L2: "), "{e}");
    let e = answer("200 OK", b"<html>not ocsp</html>".to_vec());
    assert!(matches!(e, OcspFetchError::Unparsable { .. }), "{e}");
    let e = answer("200 OK", vec![0x30; usize::try_from(ccgpu_fetch::MAX_OCSP_RESPONSE).expect("fits") + 10]);
    assert!(e.to_string().contains("larger than"), "{e}");
    let e = OcspResponder::forced("https://mirror.example", t, None)
        .fetch_within(&query, now, &ccgpu_fetch::FetchBudget::new(t))
        .expect_err("https");
    assert!(matches!(e, OcspFetchError::NotHttp { .. }), "{e}");
}

#[test]
fn a_hung_responder_spends_one_appraisal_budget_and_the_next_appraisal_asks_again() {
    let Some((der, query, now)) = recorded() else { return };
    let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let url = hanging_then_answering(hang.clone(), der);
    let r = OcspResponder::forced(&url, Duration::from_millis(300), None);
    let budget = r.budget();
    let mut errors = Vec::new();
    for _ in 0..7 {
        errors.push(r.fetch_within(&query, now, &budget).expect_err("no answer"));
    }
    assert!(errors[0].to_string().contains("no answer within 300ms"), "{}", errors[0]);
    assert!(matches!(errors[6], OcspFetchError::BudgetSpent { .. }), "{}", errors[6]);
    let asked = errors.iter().filter(|e| matches!(e, OcspFetchError::Transport { .. })).count();
    assert!((4..=5).contains(&asked), "the budget (4 x timeout) stopped it after {asked} requests");
    // A later appraisal has a budget of its own: the responder, now answering, is asked again.
    hang.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(r.fetch_within(&query, now, &budget), Err(OcspFetchError::BudgetSpent { .. })));
    let answered = r.fetch_within(&query, now, &r.budget()).expect("asked again");
    assert_eq!(answered.response.responses[0].cert_id, query.cert_id);
}

/// A loopback responder that, while `hang` is set, reads each request and never answers; then answers
/// every request with `der`.
fn hanging_then_answering(hang: std::sync::Arc<std::sync::atomic::AtomicBool>, der: Vec<u8>) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let _ = stream.read(&mut [0u8; 4096]);
            if hang.load(std::sync::atomic::Ordering::SeqCst) {
                held.push(stream);
                continue;
            }
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", der.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&der);
        }
    });
    url
}
