//! OCSP on NVIDIA's real recorded responses (accepted inside their window, refused outside it with the
//! reason) and on generated responses (revoked, held, unknown, mismatched, badly signed, stale).

#![allow(clippy::unwrap_used)] // unwrap_err() is how a test takes the error it expects

mod common;

use base64::Engine as _;
use ccgpu_attestation::{
    CertChain, OcspError, OcspResponse,
    sim::{DevicePki, SimStatus, ocsp_response},
    testing::ocsp::{OcspOptions, check_certificate},
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

fn recorded() -> Option<Vec<(String, OcspResponse)>> {
    let dir = ccgpu_test_support::testdata(&format!("{}/ocsp", common::H100))?;
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    for p in paths {
        let b64 = std::fs::read_to_string(&p).expect("read");
        let der = base64::engine::general_purpose::STANDARD.decode(b64.trim()).expect("base64");
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        out.push((name, OcspResponse::parse(&der).expect("parses")));
    }
    Some(out)
}

fn options(at: OffsetDateTime) -> OcspOptions {
    OcspOptions {
        at,
        tolerance: Duration::minutes(5),
        max_age: Duration::days(7),
        allow_hold: false,
        allow_unknown: false,
    }
}

fn cert(der: &[u8]) -> X509Certificate<'_> {
    X509Certificate::from_der(der).expect("cert").1
}

fn rim_chain(xml: &[u8]) -> CertChain {
    let text = String::from_utf8_lossy(xml);
    let ders: Vec<Vec<u8>> = text
        .split("<ds:X509Certificate>")
        .skip(1)
        .map(|s| {
            let t: String = s.split('<').next().expect("cert text").split_whitespace().collect();
            base64::engine::general_purpose::STANDARD.decode(t).expect("b64")
        })
        .collect();
    CertChain::from_der_list(ders).expect("rim chain")
}

/// Checks positions of `chain` against all responses at `at`.
fn statuses(
    chain: &CertChain,
    positions: std::ops::RangeInclusive<usize>,
    all: &[OcspResponse],
    at: OffsetDateTime,
) -> Vec<Result<&'static str, OcspError>> {
    positions
        .map(|i| {
            check_certificate(&cert(&chain.ders()[i]), &cert(&chain.ders()[i + 1]), all, &options(at)).map(|r| r.status)
        })
        .collect()
}

#[test]
fn nvidia_recorded_responses_pass_inside_their_window() {
    let (Some(rec), Some(ev)) = (recorded(), common::h100()) else { return };
    assert_eq!(rec.len(), 7);
    let all: Vec<OcspResponse> = rec.into_iter().map(|(_, r)| r).collect();
    // Device chain certificates 1..3: responses produced 2025-08-21, valid one day.
    assert_eq!(statuses(&ev.chain, 1..=3, &all, datetime!(2025-08-21 12:00 UTC)), vec![Ok("good"); 3]);
    // RIM chains, certificates 0..2: produced 2025-10-24.
    for rim in [&ev.driver, &ev.vbios] {
        assert_eq!(statuses(&rim_chain(rim), 0..=2, &all, datetime!(2025-10-24 12:00 UTC)), vec![Ok("good"); 3]);
    }
}

#[test]
fn nvidia_recorded_responses_fail_precisely_outside_their_window() {
    let (Some(rec), Some(ev)) = (recorded(), common::h100()) else { return };
    let all: Vec<OcspResponse> = rec.into_iter().map(|(_, r)| r).collect();
    let c1 = cert(&ev.chain.ders()[1]);
    let c2 = cert(&ev.chain.ders()[2]);
    // A day after nextUpdate (2025-08-22T06:47:07Z).
    let err = check_certificate(&c1, &c2, &all, &options(datetime!(2025-08-23 0:00 UTC))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "OCSP response is not fresh at 2025-08-23T00:00:00Z: nextUpdate 2025-08-22T06:47:07Z has passed"
    );
    // Before it was produced.
    let err = check_certificate(&c1, &c2, &all, &options(datetime!(2025-08-20 0:00 UTC))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "OCSP response is not fresh at 2025-08-20T00:00:00Z: producedAt 2025-08-21T06:47:07Z is in the future"
    );
    // A tolerance wide enough accepts the stale response: the bound is configurable.
    let mut wide = options(datetime!(2025-08-23 0:00 UTC));
    wide.tolerance = Duration::days(2);
    assert!(check_certificate(&c1, &c2, &all, &wide).is_ok());
    // After the responder certificate of the top of the device chain expired (2025-09-21).
    let c3 = cert(&ev.chain.ders()[3]);
    let c4 = cert(&ev.chain.ders()[4]);
    let err = check_certificate(&c3, &c4, &all, &options(datetime!(2025-10-24 12:00 UTC))).unwrap_err();
    assert!(err.to_string().contains("responder certificate CN=NVIDIA OCSP Responder L1-A 02"), "{err}");
    assert!(err.to_string().contains("not at 2025-10-24T12:00:00Z"), "{err}");
}

#[test]
fn a_response_for_another_certificate_is_not_accepted() {
    let (Some(rec), Some(ev)) = (recorded(), common::h100()) else { return };
    // Only the response for certificate 2, asked about certificate 1: NVIDIA's verifier never compares
    // the CertID, ours must refuse.
    let (_, for_cert2) = rec.into_iter().find(|(n, _)| n.starts_with("gpu_certificate_l3")).expect("l3");
    let err = check_certificate(
        &cert(&ev.chain.ders()[1]),
        &cert(&ev.chain.ders()[2]),
        &[for_cert2],
        &options(datetime!(2025-08-21 12:00 UTC)),
    )
    .unwrap_err();
    assert_eq!(err, OcspError::NoResponse { serial: "41431d480fe5e87274".into() });
}

#[test]
fn generated_statuses_are_judged_by_policy() {
    let pki = DevicePki::generate("GH100", &[7; 48]).expect("pki");
    let t = datetime!(2026-01-10 12:00 UTC);
    let c1 = cert(&pki.chain.ders()[1]);
    let c2 = cert(&pki.chain.ders()[2]);
    let judge = |status, opts: OcspOptions| {
        let der = ocsp_response(&pki, 1, status, t, t, Some(t + Duration::days(1)), true).expect("response");
        check_certificate(&c1, &c2, &[OcspResponse::parse(&der).expect("parse")], &opts)
    };
    let at = options(t + Duration::hours(1));
    assert_eq!(judge(SimStatus::Good, at).map(|r| r.status), Ok("good"));
    let revoked = datetime!(2026-01-01 0:00 UTC);
    assert_eq!(
        judge(SimStatus::Revoked(revoked, Some(1)), at).unwrap_err().to_string(),
        "revoked at 2026-01-01T00:00:00Z (keyCompromise)"
    );
    assert_eq!(
        judge(SimStatus::Revoked(revoked, None), at).unwrap_err().to_string(),
        "revoked at 2026-01-01T00:00:00Z"
    );
    assert!(matches!(judge(SimStatus::Revoked(revoked, Some(6)), at), Err(OcspError::Held { .. })));
    let hold_ok = OcspOptions { allow_hold: true, ..at };
    assert_eq!(judge(SimStatus::Revoked(revoked, Some(6)), hold_ok).map(|r| r.status), Ok("revoked"));
    assert_eq!(judge(SimStatus::Unknown, at), Err(OcspError::Unknown));
    assert_eq!(judge(SimStatus::Unknown, OcspOptions { allow_unknown: true, ..at }).map(|r| r.status), Ok("unknown"));

    // A responder without id-kp-OCSPSigning cannot speak for the issuer.
    let der = ocsp_response(&pki, 1, SimStatus::Good, t, t, Some(t + Duration::days(1)), false).expect("response");
    let err = check_certificate(&c1, &c2, &[OcspResponse::parse(&der).expect("parse")], &at).unwrap_err();
    assert!(err.to_string().contains("is not authorized for OCSP signing"), "{err}");

    // A response signed for position 2 (by a responder of certificate 3) does not answer for position 1.
    let der = ocsp_response(&pki, 2, SimStatus::Good, t, t, Some(t + Duration::days(1)), true).expect("response");
    assert!(matches!(
        check_certificate(&c1, &c2, &[OcspResponse::parse(&der).expect("parse")], &at),
        Err(OcspError::NoResponse { .. })
    ));

    // No nextUpdate: fresh only within max_age of thisUpdate.
    let der = ocsp_response(&pki, 1, SimStatus::Good, t, t, None, true).expect("response");
    let r = OcspResponse::parse(&der).expect("parse");
    assert!(check_certificate(&c1, &c2, std::slice::from_ref(&r), &options(t + Duration::days(6))).is_ok());
    assert!(matches!(check_certificate(&c1, &c2, &[r], &options(t + Duration::days(8))), Err(OcspError::Stale { .. })));

    // One flipped byte in the signed part breaks the signature.
    let mut der = ocsp_response(&pki, 1, SimStatus::Good, t, t, Some(t + Duration::days(1)), true).expect("response");
    let pos = der.windows(2).position(|w| w == [0x80, 0x00]).expect("good status");
    der[pos + 1 + 20] ^= 1; // a byte of thisUpdate, inside tbsResponseData
    // Either it no longer parses, or the signature fails: refused both ways.
    if let Ok(r) = OcspResponse::parse(&der) {
        assert!(check_certificate(&c1, &c2, &[r], &at).is_err());
    }
}

#[test]
fn a_stale_good_response_cannot_mask_a_revocation() {
    let pki = DevicePki::generate("GH100", &[7; 48]).expect("pki");
    let t = datetime!(2026-01-10 12:00 UTC);
    let c1 = cert(&pki.chain.ders()[1]);
    let c2 = cert(&pki.chain.ders()[2]);
    let good = OcspResponse::parse(
        &ocsp_response(&pki, 1, SimStatus::Good, t, t, Some(t + Duration::days(1)), true).expect("good"),
    )
    .expect("parse");
    let old = t - Duration::days(20);
    let revoked = OcspResponse::parse(
        &ocsp_response(&pki, 1, SimStatus::Revoked(old, Some(1)), old, old, Some(old + Duration::days(1)), true)
            .expect("revoked"),
    )
    .expect("parse");
    // Both orders: the (stale, but validly signed) revocation wins over the fresh good.
    for set in [vec![good.clone(), revoked.clone()], vec![revoked, good.clone()]] {
        assert!(matches!(
            check_certificate(&c1, &c2, &set, &options(t + Duration::hours(1))),
            Err(OcspError::Revoked { .. })
        ));
    }
    // Two goods: the newest thisUpdate is the one reported.
    let older = OcspResponse::parse(
        &ocsp_response(
            &pki,
            1,
            SimStatus::Good,
            t - Duration::hours(2),
            t - Duration::hours(2),
            Some(t + Duration::days(1)),
            true,
        )
        .expect("good"),
    )
    .expect("parse");
    let r = check_certificate(&c1, &c2, &[older, good], &options(t + Duration::hours(1))).expect("good");
    assert_eq!(r.this_update, "2026-01-10T12:00:00Z");
}

#[test]
fn malformed_responses_are_errors_not_panics() {
    let Some(rec) = recorded() else { return };
    let dir = ccgpu_test_support::testdata(&format!("{}/ocsp", common::H100)).expect("dir");
    let b64 = std::fs::read_to_string(dir.join(&rec[0].0)).expect("read");
    let der = base64::engine::general_purpose::STANDARD.decode(b64.trim()).expect("b64");
    for len in 0..der.len() {
        assert!(OcspResponse::parse(&der[..len]).is_err(), "prefix of {len} bytes");
    }
    let mut extended = der.clone();
    extended.push(0);
    assert!(OcspResponse::parse(&extended).is_err());
    // tryLater
    assert_eq!(OcspResponse::parse(&[0x30, 0x03, 0x0a, 0x01, 0x03]), Err(OcspError::Status("tryLater (3)".into())));
}
