//! Timing of the TDX appraisal of a real quote with full collateral, for `bench/tdx-vs-dcap-qvl.sh`
//! (ignored by default; run it in release: `cargo test --release -p ccgpu-attestation --test tdx_bench --
//! --ignored --nocapture`). Cold: everything from bytes on every call (the collateral JSON included);
//! cached: a warm [`VerifierCache`] (PCK and TCB Signing chain links, the collateral documents' and CRLs'
//! signatures). Prints one JSON line: the median microseconds of each over `TDX_BENCH_ROUNDS` rounds.

mod tdx_common;

use std::hint::black_box;
use std::time::Instant;

use ccgpu_attestation::{TdxCollateral, Verdict, VerifierCache};

use tdx_common::*;

#[test]
#[ignore = "a benchmark: run in release by bench/tdx-vs-dcap-qvl.sh"]
fn tdx_appraisal_timing() {
    let (Some(q), Some(json)) = (quote("dcap-qvl/tdx_quote"), read(COLL_DCAP_QVL)) else { return };
    let policy = pinned_policy(&q);
    let iterations: usize = std::env::var("TDX_BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let rounds: usize = std::env::var("TDX_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let cache = VerifierCache::new();
    let c = TdxCollateral::from_dcap_qvl_json(&json).expect("collateral");
    assert_eq!(appraise(&q, &c, AT_DCAP_QVL, &policy, Some(&cache)).verdict, Verdict::Affirming);
    let time = |f: &dyn Fn()| {
        let mut per_round = Vec::new();
        for _ in 0..rounds {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            per_round.push(start.elapsed().as_secs_f64() * 1e6 / iterations as f64);
        }
        per_round.sort_by(f64::total_cmp);
        per_round[per_round.len() / 2]
    };
    let cold = time(&|| {
        let c = TdxCollateral::from_dcap_qvl_json(black_box(&json)).expect("collateral");
        black_box(appraise(black_box(&q), &c, AT_DCAP_QVL, &policy, None));
    });
    let cached = time(&|| {
        black_box(appraise(black_box(&q), &c, AT_DCAP_QVL, &policy, Some(&cache)));
    });
    println!(
        "{{\"cold_us\": {cold:.1}, \"cached_us\": {cached:.1}, \"iterations\": {iterations}, \"rounds\": {rounds}}}"
    );
}

#[test]
#[ignore = "a benchmark: where the cold appraisal's time goes"]
fn tdx_appraisal_parts() {
    let (Some(q), Some(json)) = (quote("dcap-qvl/tdx_quote"), read(COLL_DCAP_QVL)) else { return };
    let c = TdxCollateral::from_dcap_qvl_json(&json).expect("collateral");
    let parsed = ccgpu_attestation::TdxQuote::parse(&q).expect("quote");
    let each = |what: &str, f: &dyn Fn()| {
        let n = 500;
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        println!("{what}: {:.1} us", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    };
    let mut point = [4u8; 65];
    point[1..].copy_from_slice(&parsed.attestation_key);
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, point);
    each("one P-256 verification", &|| {
        black_box(key.verify(black_box(parsed.signed()), &parsed.signature).is_ok());
    });
    each("quote parse", &|| {
        black_box(ccgpu_attestation::TdxQuote::parse(black_box(&q)).is_ok());
    });
    each("PCK chain PEM + X.509 parse", &|| {
        black_box(ccgpu_attestation::CertChain::from_pem(black_box(parsed.pck_chain_pem)).is_ok());
    });
    each("collateral JSON (hex CRLs)", &|| {
        black_box(TdxCollateral::from_dcap_qvl_json(black_box(&json)).is_ok());
    });
    each("TCB info JSON", &|| {
        black_box(ccgpu_attestation::TcbInfo::parse(black_box(&c.tcb_info)).is_ok());
    });
    each("Intel root (PEM)", &|| {
        black_box(ccgpu_attestation::IntelRoots::intel());
    });
}
