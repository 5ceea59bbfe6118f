//! Every real TDX quote in the shared test data (`tdx/SOURCES.md`), appraised with real Intel collateral
//! at the pinned time SOURCES.md gives: the TCB status and advisories it states, and the refusals it
//! lists — the TCB-level ones by `tdx-tcb-level`, the policy ones (debug TD, SEPT_VE_DISABLE off) by
//! `tdx-td-attributes` and nothing else.

mod tdx_common;

use ccgpu_attestation::{TcbStatus, TdxCheck, TdxPolicy, Verdict, VerifierCache};
use time::OffsetDateTime;

use tdx_common::*;

/// What SOURCES.md says of one quote.
struct Case {
    quote: &'static str,
    collateral: &'static str,
    at: OffsetDateTime,
    /// The checks that must fail (and no other may fail or not run).
    fails: &'static [TdxCheck],
    /// The merged TCB status and advisories, when a TCB level matched.
    tcb: Option<(TcbStatus, &'static [&'static str])>,
}

const SA: &[&str] = &["INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986"];

const CASES: &[Case] = &[
    Case {
        quote: "dcap-qvl/tdx_quote",
        collateral: COLL_DCAP_QVL,
        at: AT_DCAP_QVL,
        fails: &[],
        tcb: Some((TcbStatus::UpToDate, &[])),
    },
    Case {
        quote: "dcap-qvl/tdx_quote_outdated",
        collateral: COLL_OUTDATED,
        at: AT_OUTDATED,
        fails: &[TdxCheck::TcbLevel],
        tcb: None,
    },
    Case {
        quote: "dcap-qvl/tdx-quote.hex",
        collateral: COLL_DCAP_QVL,
        at: AT_DCAP_QVL,
        fails: &[TdxCheck::TcbLevel],
        tcb: None,
    },
    Case {
        quote: "go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
        collateral: COLL_SPR,
        at: AT_SPR,
        fails: &[TdxCheck::TcbLevel, TdxCheck::TdAttributes],
        tcb: None,
    },
    Case {
        quote: "go-tdx-guest/quote_v5_sample.dat",
        collateral: COLL_OUTDATED,
        at: AT_OUTDATED,
        fails: &[],
        tcb: Some((TcbStatus::UpToDate, &[])),
    },
    Case {
        quote: "go-tdx-guest/cos-113-tdx-quote.dat",
        collateral: COLL_ZKDCAP,
        at: AT_ZKDCAP,
        fails: &[],
        tcb: Some((TcbStatus::UpToDate, &[])),
    },
    Case {
        quote: "zkdcap/quote_tdx_00806f050000.dat",
        collateral: COLL_ZKDCAP,
        at: AT_ZKDCAP,
        fails: &[TdxCheck::TcbStatus],
        tcb: Some((TcbStatus::OutOfDate, SA)),
    },
    Case {
        quote: "zkdcap/quote_v4.dat",
        collateral: COLL_ZKDCAP,
        at: AT_ZKDCAP,
        fails: &[TdxCheck::TdAttributes],
        tcb: Some((TcbStatus::UpToDate, &[])),
    },
    Case {
        quote: "trustee/tdx_quote_4.dat",
        collateral: COLL_SPR,
        at: AT_SPR,
        fails: &[TdxCheck::TdAttributes],
        tcb: Some((TcbStatus::UpToDate, &[])),
    },
    // MR_SERVICE_TD is non-zero: dcap-qvl's `Invalid MR service TD`, our policy refusal.
    Case {
        quote: "trustee/tdx_quote_5.dat",
        collateral: COLL_OUTDATED,
        at: AT_OUTDATED,
        fails: &[TdxCheck::TcbLevel, TdxCheck::ServiceTd],
        tcb: None,
    },
    Case {
        quote: "trustee/az-tdx-vtpm/td-quote.bin",
        collateral: COLL_ZKDCAP,
        at: AT_ZKDCAP,
        fails: &[TdxCheck::TdAttributes, TdxCheck::TcbStatus],
        tcb: Some((TcbStatus::OutOfDate, SA)),
    },
];

#[test]
fn every_real_quote_gets_the_verdict_sources_md_states() {
    let cache = VerifierCache::new();
    for case in CASES {
        let Some(quote) = quote(case.quote) else { return };
        let Some(collateral) = collateral(case.collateral) else { return };
        let policy = pinned_policy(&quote);
        for cache in [None, Some(&cache), Some(&cache)] {
            let a = appraise(&quote, &collateral, case.at, &policy, cache);
            // TcbLevel failing leaves TcbStatus not run: expected alongside it.
            let mut want: Vec<TdxCheck> = case.fails.to_vec();
            if want.contains(&TdxCheck::TcbLevel) {
                want.push(TdxCheck::TcbStatus);
            }
            want.sort();
            assert_eq!(a.checks.failures(), want, "{}: {}", case.quote, explain(&a));
            let tcb = a.identity.tcb.as_ref().map(|t| (t.status, t.advisory_ids.clone()));
            let expected = case.tcb.map(|(s, adv)| (s, adv.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>()));
            assert_eq!(tcb, expected, "{}", case.quote);
            let verdict = if case.fails.is_empty() { Verdict::Affirming } else { Verdict::Contraindicated };
            assert_eq!(a.verdict, verdict, "{}: {}", case.quote, explain(&a));
        }
    }
}

#[test]
fn an_out_of_date_platform_is_a_warning_where_the_policy_accepts_it() {
    let Some(q) = quote("zkdcap/quote_tdx_00806f050000.dat") else { return };
    let Some(c) = collateral(COLL_ZKDCAP) else { return };
    let policy = TdxPolicy {
        accepted_tcb_statuses: vec![TcbStatus::UpToDate, TcbStatus::OutOfDate],
        accepted_advisories: vec!["INTEL-SA-00960".into(), "INTEL-SA-00982".into(), "INTEL-SA-00986".into()],
        ..pinned_policy(&q)
    };
    let a = appraise(&q, &c, AT_ZKDCAP, &policy, None);
    assert_eq!(a.verdict, Verdict::Warning, "{}", explain(&a));
    assert!(a.warnings.iter().any(|w| w.contains("OutOfDate")), "{:?}", a.warnings);
    // One advisory left out of the policy refuses it again.
    let policy = TdxPolicy { accepted_advisories: vec!["INTEL-SA-00960".into()], ..policy };
    let a = appraise(&q, &c, AT_ZKDCAP, &policy, None);
    assert!(failed(&a, TdxCheck::TcbStatus).contains("INTEL-SA-00982"), "{}", explain(&a));
}

#[test]
fn without_a_pinned_mrtd_an_up_to_date_quote_is_only_a_warning() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(c) = collateral(COLL_DCAP_QVL) else { return };
    let a = appraise(&q, &c, AT_DCAP_QVL, &TdxPolicy::default(), None);
    assert_eq!(a.verdict, Verdict::Warning, "{}", explain(&a));
}

#[test]
fn policy_waivers_turn_the_policy_refusals_into_passes() {
    // SEPT_VE_DISABLE off is a policy choice; DEBUG is not.
    let Some(q) = quote("zkdcap/quote_v4.dat") else { return };
    let Some(c) = collateral(COLL_ZKDCAP) else { return };
    let policy = TdxPolicy { require_sept_ve_disable: false, ..pinned_policy(&q) };
    assert_eq!(appraise(&q, &c, AT_ZKDCAP, &policy, None).verdict, Verdict::Affirming);
    let Some(q) = quote("trustee/tdx_quote_4.dat") else { return };
    let Some(c) = collateral(COLL_SPR) else { return };
    let policy = TdxPolicy { require_sept_ve_disable: false, ..pinned_policy(&q) };
    let a = appraise(&q, &c, AT_SPR, &policy, None);
    assert!(failed(&a, TdxCheck::TdAttributes).contains("debug TD"), "{}", explain(&a));
}

#[test]
fn pcs_responses_give_the_same_checks_as_the_dcap_qvl_form() {
    // go-tdx-guest's raw PCS files (bodies and issuer-chain headers) against the same set in JSON form.
    let files = [
        "sample_tcbInfo_response",
        "tcbInfoIssuerChain.pem",
        "sample_qeIdentity_response",
        "pckcrl",
        "pckCrlIssuerChain.pem",
        "rootcrl.der",
    ];
    let Some(raw) = files.iter().map(|f| read(&format!("go-tdx-guest/{f}"))).collect::<Option<Vec<_>>>() else {
        return;
    };
    let pcs = ccgpu_attestation::TdxCollateral::from_pcs(ccgpu_attestation::PcsResponses {
        tcb_info: &raw[0],
        tcb_info_issuer_chain: &raw[1],
        qe_identity: &raw[2],
        qe_identity_issuer_chain: &raw[1],
        pck_crl: &raw[3],
        pck_crl_issuer_chain: &raw[4],
        root_ca_crl: &raw[5],
    })
    .expect("PCS responses");
    let Some(json) = collateral(COLL_SPR) else { return };
    assert_eq!(pcs.tcb_info, json.tcb_info, "the signed TCB info substring is byte-exact");
    assert_eq!(pcs.qe_identity, json.qe_identity);
    for q in ["trustee/tdx_quote_4.dat", "go-tdx-guest/tdx_prod_quote_SPR_E4.dat"] {
        let Some(q) = quote(q) else { return };
        let policy = pinned_policy(&q);
        assert_eq!(appraise(&q, &pcs, AT_SPR, &policy, None).checks, appraise(&q, &json, AT_SPR, &policy, None).checks);
    }
}

#[test]
fn the_v5_sample_is_up_to_date_with_go_tdx_guests_own_tcb_info() {
    // SOURCES.md: also UpToDate at 2026-02-25 with `sample_tcbinfo_response_v5` in place of the tcbInfo.
    let Some(q) = quote("go-tdx-guest/quote_v5_sample.dat") else { return };
    let Some(mut c) = collateral(COLL_OUTDATED) else { return };
    let Some(body) = read("go-tdx-guest/sample_tcbinfo_response_v5") else { return };
    let (tcb_info, sig) = ccgpu_attestation::split_signed(&body, "TCB info", "tcbInfo").expect("PCS response");
    c.tcb_info = tcb_info;
    c.tcb_info_signature = sig;
    let at = time::macros::datetime!(2026-02-25 00:00:00 UTC);
    let a = appraise(&q, &c, at, &pinned_policy(&q), None);
    assert_eq!(a.verdict, Verdict::Affirming, "{}", explain(&a));
    assert_eq!(a.identity.tcb.as_ref().map(|t| t.status), Some(TcbStatus::UpToDate));
    assert_eq!(a.identity.tcb_evaluation_number, Some(18));
}
