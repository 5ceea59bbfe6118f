//! `RimService` against a loopback server in the RIM service's JSON shape, serving the real H100 RIMs of
//! the shared data: the happy path, the cache, 404, another status, a timeout, a tampered document (served:
//! the transport is not trusted, the appraisal's signature check refuses it), a document for another id,
//! an oversized answer, an unsafe id, and the time budget (per appraisal, not per service object).

use std::time::{Duration, Instant};

use ccgpu_fetch::{FetchError, RimCache, RimOrigin, RimService};

const DRIVER: &str = "NV_GPU_DRIVER_GH100_550.90.07";

/// The loopback server, under the RIM service's path.
fn serve(answers: usize, respond: impl Fn(&str) -> Option<(&'static str, Vec<u8>)> + Send + 'static) -> String {
    format!("{}/v1/rim/", ccgpu_test_support::http::serve_get(answers, respond))
}

fn driver_rim() -> Option<Vec<u8>> {
    ccgpu_test_support::read_testdata(&format!("nvidia/h100-550.90.07/rims/{DRIVER}.xml"))
}

fn answer(id: &str, doc: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let rim = base64::engine::general_purpose::STANDARD.encode(doc);
    format!(r#"{{"id":"{id}","rim":"{rim}","sha256":"x","last_updated":"2025-01-01"}}"#).into_bytes()
}

fn service(base: &str, cache: Option<RimCache>) -> RimService {
    RimService::new(base, Duration::from_millis(500), cache)
}

#[test]
fn a_rim_is_fetched_once_then_served_from_the_cache() {
    let Some(doc) = driver_rim() else { return };
    let served = doc.clone();
    let base = serve(1, move |path| (path == format!("/v1/rim/{DRIVER}")).then(|| ("200 OK", answer(DRIVER, &served))));
    let tmp = tempfile::tempdir().expect("tmp");
    let s = service(&base, Some(RimCache::new(tmp.path())));
    let first = s.fetch(DRIVER).expect("fetched");
    assert_eq!(first.document, doc);
    assert_eq!(first.origin, RimOrigin::Service(format!("{base}{DRIVER}")));
    // The server answers one request only: the second comes from the cache.
    let second = s.fetch(DRIVER).expect("cached");
    assert_eq!((second.document, second.origin), (doc, RimOrigin::Cache));
}

#[test]
fn every_bad_answer_is_a_precise_error() {
    let Some(doc) = driver_rim() else { return };
    let mut tampered = doc.clone();
    let at = tampered.windows(5).position(|w| w == b"Hash0").expect("a golden value") + 8;
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let (doc2, tampered2) = (doc.clone(), tampered.clone());
    let base = serve(6, move |path| {
        let id = path.rsplit('/').next().unwrap_or("");
        match id {
            "NV_MISSING" => Some(("404 Not Found", b"{}".to_vec())),
            "NV_BROKEN" => Some(("503 Service Unavailable", b"down".to_vec())),
            "NV_TAMPERED" => Some(("200 OK", answer("NV_TAMPERED", &tampered2))),
            "NV_OTHER" => Some(("200 OK", answer(DRIVER, &doc2))),
            "NV_HUGE" => Some(("200 OK", vec![b' '; ccgpu_attestation::MAX_SERVICE_ANSWER + 10])),
            _ => Some(("200 OK", b"<html>not json</html>".to_vec())),
        }
    });
    let s = service(&base, None);
    assert!(matches!(s.fetch("NV_MISSING"), Err(FetchError::NotFound { .. })));
    let e = s.fetch("NV_BROKEN").expect_err("503");
    assert!(matches!(e, FetchError::Status { status: 503, .. }), "{e}");
    // The transport is not trusted: a tampered document is served, and only verification refuses it.
    let t = s.fetch("NV_TAMPERED").expect("served as is");
    assert_eq!(t.document, tampered);
    let v = ccgpu_attestation::testing::rim::verify(
        &t.document,
        &ccgpu_attestation::Anchors::nvidia().rim,
        time::macros::datetime!(2025-09-01 0:00 UTC),
    );
    assert!(v.verified.is_none() && v.signature.is_err(), "a tampered RIM never verifies");
    let e = s.fetch("NV_OTHER").expect_err("another id");
    assert!(e.to_string().contains(&format!("asked for RIM NV_OTHER, the answer is for {DRIVER}")), "{e}");
    let e = s.fetch("NV_HUGE").expect_err("oversized");
    assert!(e.to_string().contains("larger than"), "{e}");
    let e = s.fetch("NV_HTML").expect_err("not json");
    assert!(e.to_string().contains("not the RIM service's JSON"), "{e}");
    assert!(matches!(s.fetch("../../etc/passwd"), Err(FetchError::UnsafeId(_))));
}

#[test]
fn a_hung_service_times_out_and_the_budget_stops_further_requests() {
    let base = serve(8, |_| None);
    let s = service(&base, None);
    let started = Instant::now();
    let budget = s.budget();
    let mut errors = Vec::new();
    for i in 0..8 {
        errors.push(s.fetch_within(&format!("NV_SLOW_{i}"), &budget).expect_err("no answer"));
    }
    assert!(matches!(errors[0], FetchError::Transport { .. }), "{}", errors[0]);
    assert!(errors[0].to_string().contains("no answer within 500ms"), "{}", errors[0]);
    assert!(errors.iter().any(|e| matches!(e, FetchError::BudgetSpent { .. })), "the budget (4 × timeout) ends it");
    assert!(started.elapsed() < Duration::from_secs(4), "bounded: {:?}", started.elapsed());
}

/// A long-lived service (the verifier keeps one for its life): time spent on a dead service during
/// one spell must not stop every later fetch. Failed before the budget was per fetch/appraisal: after
/// the hung requests the service answered `BudgetSpent` for ever, without asking.
#[test]
fn a_long_lived_service_still_fetches_after_a_spent_budget() {
    let Some(doc) = driver_rim() else { return };
    let served = doc.clone();
    let base = serve(6, move |path| path.ends_with(DRIVER).then(|| ("200 OK", answer(DRIVER, &served))));
    let s = service(&base, None);
    // More hung requests than one budget (4 × timeout) allows.
    for i in 0..5 {
        let e = s.fetch(&format!("NV_SLOW_{i}")).expect_err("no answer");
        assert!(matches!(e, FetchError::Transport { .. }), "each fetch asks, bounded by its timeout: {e}");
    }
    let later = s.fetch(DRIVER).expect("a later fetch is still asked");
    assert_eq!(later.document, doc);
}
