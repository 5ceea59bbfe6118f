//! The real TDX quotes and Intel collateral in the shared test data (`tdx/SOURCES.md`), and appraising a
//! quote in one call.

#![allow(dead_code)] // each test binary uses a different subset

use ccgpu_attestation::{
    Hex, IntelRoots, Outcome, TdxAppraisal, TdxAppraise, TdxCheck, TdxCollateral, TdxEvidence, TdxPolicy, TdxQuote,
    VerifierCache, appraise_tdx,
};
use time::OffsetDateTime;
use time::macros::datetime;

/// Reads `tdx/<rel>`, or `None` to skip when the shared data is absent.
pub fn read(rel: &str) -> Option<Vec<u8>> {
    ccgpu_test_support::read_testdata(&format!("tdx/{rel}"))
}

/// A quote file: raw bytes, or hex text with an optional `0x` prefix (`tdx-quote.hex`).
pub fn quote(rel: &str) -> Option<Vec<u8>> {
    let b = read(rel)?;
    if rel.ends_with(".hex") {
        let text: String = String::from_utf8(b).expect("hex text").split_whitespace().collect();
        return Some(hex::decode(text.trim_start_matches("0x")).expect("hex quote"));
    }
    Some(b)
}

/// A collateral set in dcap-qvl JSON form.
pub fn collateral(rel: &str) -> Option<TdxCollateral> {
    Some(TdxCollateral::from_dcap_qvl_json(&read(rel)?).expect("collateral JSON"))
}

/// The default policy with the quote's own MRTD pinned (so a quote that passes every check is affirming).
pub fn pinned_policy(quote: &[u8]) -> TdxPolicy {
    let q = TdxQuote::parse(quote).expect("quote parses");
    TdxPolicy { mrtd: Some(vec![Hex(q.body.mr_td)]), ..TdxPolicy::default() }
}

/// The quote's own REPORTDATA (the sources do not publish the nonces separately).
pub fn own_report_data(quote: &[u8]) -> [u8; 64] {
    TdxQuote::parse(quote).expect("quote parses").body.report_data
}

/// Appraises `quote` with `collateral` at `at` under `policy`, expecting its own REPORTDATA.
pub fn appraise(
    quote: &[u8],
    collateral: &TdxCollateral,
    at: OffsetDateTime,
    policy: &TdxPolicy,
    cache: Option<&VerifierCache>,
) -> TdxAppraisal {
    static ROOTS: std::sync::OnceLock<IntelRoots> = std::sync::OnceLock::new();
    let rd = TdxQuote::parse(quote).map(|q| q.body.report_data).unwrap_or([0; 64]);
    let roots = ROOTS.get_or_init(IntelRoots::intel);
    appraise_tdx(
        &TdxEvidence { quote },
        &TdxAppraise { at, expected_report_data: Some(&rd), policy, roots, collateral: Ok(collateral), cache },
    )
}

/// Every check's outcome, one a line, for assertion messages.
pub fn explain(a: &TdxAppraisal) -> String {
    a.checks.iter().map(|r| format!("\n  {}: {:?}", r.check, r.outcome)).collect()
}

/// The reason `check` failed (panics if it did not fail).
pub fn failed(a: &TdxAppraisal, check: TdxCheck) -> String {
    match a.checks.get(check) {
        Some(Outcome::Failed { reason }) => reason.clone(),
        other => panic!("{check} did not fail: {other:?}{}", explain(a)),
    }
}

/// The pinned verification times of SOURCES.md.
pub const AT_DCAP_QVL: OffsetDateTime = datetime!(2025-07-01 00:00:00 UTC);
/// For the 90C06F000000 set (v5 quotes).
pub const AT_OUTDATED: OffsetDateTime = datetime!(2026-03-01 00:00:00 UTC);
/// For the 50806F000000 set (go-tdx-guest's own test time).
pub const AT_SPR: OffsetDateTime = datetime!(2023-07-01 01:00:00 UTC);
/// For the 00806F050000 set.
pub const AT_ZKDCAP: OffsetDateTime = datetime!(2025-02-05 12:00:00 UTC);

/// Collateral files.
pub const COLL_DCAP_QVL: &str = "dcap-qvl/tdx_quote_collateral.json";
/// The 90C06F000000 collateral.
pub const COLL_OUTDATED: &str = "dcap-qvl/tdx_quote_outdated_collateral.json";
/// The 50806F000000 collateral.
pub const COLL_SPR: &str = "go-tdx-guest/collateral-50806f-2023-06.dcap-qvl.json";
/// The 00806F050000 collateral.
pub const COLL_ZKDCAP: &str = "zkdcap/collateral-00806f-2025-01.dcap-qvl.json";
