//! `tdx::appraise_tdx` on arbitrary quote bytes with real collateral (a flag byte picks whether the input
//! is XORed over a real v4 quote or taken as the whole quote). TDX quotes reach a verifier from the
//! untrusted host. Nothing may panic; a quote signature that verifies must be over the real quote's signed
//! bytes, and a verified QE report must be the real one.
#![no_main]

use ccgpu_attestation::{
    IntelRoots, TdxAppraise, TdxCheck, TdxCollateral, TdxEvidence, TdxPolicy, TdxQuote, appraise_tdx,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use time::macros::datetime;

struct Real {
    quote: Vec<u8>,
    collateral: TdxCollateral,
    roots: IntelRoots,
}

fn real() -> &'static Option<Real> {
    static REAL: OnceLock<Option<Real>> = OnceLock::new();
    REAL.get_or_init(|| {
        let quote = ccgpu_test_support::read_testdata("tdx/dcap-qvl/tdx_quote")?;
        let json = ccgpu_test_support::read_testdata("tdx/dcap-qvl/tdx_quote_collateral.json")?;
        let collateral = TdxCollateral::from_dcap_qvl_json(&json).ok()?;
        Some(Real { quote, collateral, roots: IntelRoots::intel() })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(real) = real() else { return };
    let (flag, rest) = data.split_first().unwrap_or((&0, &[]));
    let quote = if flag & 1 == 0 {
        let mut q = real.quote.clone();
        for (b, d) in q.iter_mut().zip(rest) {
            *b ^= d;
        }
        q
    } else {
        rest.to_vec()
    };
    let parsed = TdxQuote::parse(&quote).ok();
    let real_parsed = TdxQuote::parse(&real.quote).ok();
    let policy = TdxPolicy { require_report_data: false, ..TdxPolicy::default() };
    let a = appraise_tdx(
        &TdxEvidence { quote: &quote },
        &TdxAppraise {
            at: datetime!(2025-07-01 0:00 UTC),
            expected_report_data: None,
            policy: &policy,
            roots: &real.roots,
            collateral: Ok(&real.collateral),
            cache: None,
        },
    );
    if let (Some(q), Some(r)) = (parsed, real_parsed) {
        if a.checks.passed(TdxCheck::QuoteSignature) && q.attestation_key == r.attestation_key {
            assert_eq!(q.signed(), r.signed(), "a changed signed region verified");
        }
        if a.checks.passed(TdxCheck::QeReportSignature) && q.pck_chain_pem == r.pck_chain_pem {
            assert_eq!(q.qe_report_raw, r.qe_report_raw, "a changed QE report verified");
        }
    }
});
