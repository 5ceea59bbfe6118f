//! The real negatives of `tdx/SOURCES.md` and more: a flipped bit in every signed region of real quotes,
//! a PCK from another platform, collateral before its issueDate and after its nextUpdate, CRLs past their
//! nextUpdate, the wrong PCK CRL, the old and the re-issued TCB Signing certificate at the wrong times, a
//! tampered TCB info, a debug TD that cannot be laundered, truncation and padding. Each is refused by the
//! check that must refuse it.

mod tdx_common;

use ccgpu_attestation::{TdxCheck, TdxCollateral, Verdict};
use time::OffsetDateTime;
use time::macros::datetime;

use tdx_common::*;

fn flipped(q: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut m = q.to_vec();
    m[at] ^= mask;
    m
}

/// Appraises `q` with `c` at `at`, under the policy that makes the unmodified `base` affirming (where it is).
fn judge(base: &[u8], q: &[u8], c: &TdxCollateral, at: OffsetDateTime) -> ccgpu_attestation::TdxAppraisal {
    appraise(q, c, at, &pinned_policy(base), None)
}

#[test]
fn a_flipped_bit_in_every_signed_region_is_refused_by_its_signature_check() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(c) = collateral(COLL_DCAP_QVL) else { return };
    assert_eq!(judge(&q, &q, &c, AT_DCAP_QVL).verdict, Verdict::Affirming);
    // (offset, what, the check that must fail). Header+body: the quote signature; QE report: the PCK's.
    let regions = [
        (0x1c, "header user data", TdxCheck::QuoteSignature),
        (48, "TEE_TCB_SVN[0]", TdxCheck::QuoteSignature),
        (184, "MRTD[0]", TdxCheck::QuoteSignature),
        (48 + 328, "RTMR0[0]", TdxCheck::QuoteSignature),
        (568, "REPORTDATA[0]", TdxCheck::QuoteSignature),
        (631, "last body byte", TdxCheck::QuoteSignature),
        (636, "quote signature r[0]", TdxCheck::QuoteSignature),
        (636 + 63, "quote signature s[31]", TdxCheck::QuoteSignature),
        (636 + 64, "attestation key[0]", TdxCheck::QeReportData),
        (770, "QE report CPUSVN[0]", TdxCheck::QeReportSignature),
        (770 + 320, "QE report REPORTDATA[0]", TdxCheck::QeReportSignature),
        (770 + 384, "QE report signature[0]", TdxCheck::QeReportSignature),
        (770 + 450, "QE auth data[0]", TdxCheck::QeReportData),
    ];
    for (at, what, check) in regions {
        let a = judge(&q, &flipped(&q, at, 0x01), &c, AT_DCAP_QVL);
        assert_eq!(a.verdict, Verdict::Contraindicated, "{what}");
        failed(&a, check);
    }
    // A v5 quote: REPORTDATA[0] of the TD report 1.5 body (54 + 520).
    let Some(v5) = quote("go-tdx-guest/quote_v5_sample.dat") else { return };
    let Some(c5) = collateral(COLL_OUTDATED) else { return };
    assert_eq!(judge(&v5, &v5, &c5, AT_OUTDATED).verdict, Verdict::Affirming);
    failed(&judge(&v5, &flipped(&v5, 574, 0x01), &c5, AT_OUTDATED), TdxCheck::QuoteSignature);
    // MRSERVICETD is signed too (54 + 600).
    failed(&judge(&v5, &flipped(&v5, 654, 0x80), &c5, AT_OUTDATED), TdxCheck::QuoteSignature);
}

#[test]
fn a_flipped_bit_in_the_pck_chain_is_refused() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(c) = collateral(COLL_DCAP_QVL) else { return };
    let pem_at = q.windows(4).position(|w| w == b"MIIE").expect("a PEM certificate") + 200;
    let a = judge(&q, &flipped(&q, pem_at, 0x02), &c, AT_DCAP_QVL);
    assert_eq!(a.verdict, Verdict::Contraindicated);
    failed(&a, TdxCheck::PckChain);
}

#[test]
fn the_debug_bit_cannot_be_cleared_and_sept_ve_disable_cannot_be_set() {
    let Some(dbg) = quote("trustee/tdx_quote_4.dat") else { return };
    let Some(c) = collateral(COLL_SPR) else { return };
    assert!(failed(&judge(&dbg, &dbg, &c, AT_SPR), TdxCheck::TdAttributes).contains("debug TD"));
    let laundered = judge(&dbg, &flipped(&dbg, 168, 0x01), &c, AT_SPR);
    failed(&laundered, TdxCheck::QuoteSignature);
    // trustee's attestation key flip (636 + 64): the QE report no longer binds the key.
    failed(&judge(&dbg, &flipped(&dbg, 700, 0x01), &c, AT_SPR), TdxCheck::QeReportData);

    let Some(az) = quote("trustee/az-tdx-vtpm/td-quote.bin") else { return };
    let Some(cz) = collateral(COLL_ZKDCAP) else { return };
    let set = judge(&az, &flipped(&az, 171, 0x10), &cz, AT_ZKDCAP);
    failed(&set, TdxCheck::QuoteSignature);
}

#[test]
fn collateral_outside_its_validity_is_refused() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(c) = collateral(COLL_DCAP_QVL) else { return };
    // After the TCB info's nextUpdate (2025-07-19T10:16:03Z).
    let late = judge(&q, &q, &c, datetime!(2025-07-20 00:00:00 UTC));
    assert!(failed(&late, TdxCheck::CollateralCurrent).contains("TCB info has expired"), "{}", explain(&late));
    // Before the QE identity's issueDate (2025-06-19T10:32:27Z).
    let early = judge(&q, &q, &c, datetime!(2025-06-19 10:20:00 UTC));
    assert!(
        failed(&early, TdxCheck::CollateralCurrent).contains("QE identity is not yet valid"),
        "{}",
        explain(&early)
    );
    // Today every CRL is past its nextUpdate.
    let now = judge(&q, &q, &c, datetime!(2026-12-04 00:00:00 UTC));
    assert!(failed(&now, TdxCheck::Revocation).contains("has expired"), "{}", explain(&now));
    // zkdcap's set one day after its TCB info's nextUpdate.
    let Some(z) = quote("zkdcap/quote_tdx_00806f050000.dat") else { return };
    let Some(cz) = collateral(COLL_ZKDCAP) else { return };
    failed(&judge(&z, &z, &cz, datetime!(2025-02-21 00:00:00 UTC)), TdxCheck::CollateralCurrent);
    // go-tdx-guest's set after the QE identity's nextUpdate (2023-07-08).
    let Some(spr) = quote("trustee/tdx_quote_4.dat") else { return };
    let Some(cs) = collateral(COLL_SPR) else { return };
    failed(&judge(&spr, &spr, &cs, datetime!(2023-07-09 00:00:00 UTC)), TdxCheck::CollateralCurrent);
}

#[test]
fn a_pck_from_another_platform_is_refused_by_the_tcb_level() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(c) = collateral(COLL_OUTDATED) else { return };
    let a = judge(&q, &q, &c, AT_OUTDATED);
    assert!(failed(&a, TdxCheck::TcbLevel).contains("FMSPC"), "{}", explain(&a));
}

#[test]
fn the_tcb_signing_certificate_must_be_valid_at_the_verification_time() {
    // The old certificate (valid until 2025-05-21) with 2025 collateral: expired.
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(c) = collateral(COLL_DCAP_QVL) else { return };
    let Some(old) = read("go-tdx-guest/tcbInfoIssuerChain.pem") else { return };
    let with_old =
        TdxCollateral { tcb_info_issuer_chain: old.clone(), qe_identity_issuer_chain: old.clone(), ..c.clone() };
    let a = judge(&q, &q, &with_old, AT_DCAP_QVL);
    assert!(failed(&a, TdxCheck::TcbInfoSignature).contains("expired"), "{}", explain(&a));
    failed(&a, TdxCheck::QeIdentitySignature);
    // The re-issued certificate (valid from 2025-05-06) with 2023 collateral at 2023: not yet valid.
    let Some(spr) = quote("trustee/tdx_quote_4.dat") else { return };
    let Some(cs) = collateral(COLL_SPR) else { return };
    let with_new = TdxCollateral { tcb_info_issuer_chain: c.tcb_info_issuer_chain.clone(), ..cs.clone() };
    let a = judge(&spr, &spr, &with_new, AT_SPR);
    assert!(failed(&a, TdxCheck::TcbInfoSignature).contains("not valid before"), "{}", explain(&a));
    // Each is fine at its own time: the old one signs the 2023 set (the base case of real_tdx).
    assert!(judge(&spr, &spr, &cs, AT_SPR).checks.passed(TdxCheck::TcbInfoSignature));
}

#[test]
fn a_tampered_tcb_info_is_refused() {
    let Some(q) = quote("trustee/tdx_quote_4.dat") else { return };
    let Some(c) = collateral(COLL_SPR) else { return };
    let tampered = TdxCollateral {
        tcb_info: c.tcb_info.replace("\"tcbEvaluationDataNumber\":15", "\"tcbEvaluationDataNumber\":16"),
        ..c.clone()
    };
    assert_ne!(tampered.tcb_info, c.tcb_info);
    let a = judge(&q, &q, &tampered, AT_SPR);
    assert!(failed(&a, TdxCheck::TcbInfoSignature).contains("does not verify"), "{}", explain(&a));
    // A QE identity tampered the same way.
    let tampered = TdxCollateral { qe_identity: c.qe_identity.replace("\"isvprodid\":2", "\"isvprodid\":3"), ..c };
    failed(&judge(&q, &q, &tampered, AT_SPR), TdxCheck::QeIdentitySignature);
}

#[test]
fn the_processor_ca_crl_is_the_wrong_crl_for_a_platform_ca_pck() {
    let Some(q) = quote("zkdcap/quote_tdx_00806f050000.dat") else { return };
    let Some(c) = collateral(COLL_ZKDCAP) else { return };
    let Some(processor) = read("zkdcap/pck_processor_crl.der") else { return };
    let a = judge(&q, &q, &TdxCollateral { pck_crl: processor, ..c.clone() }, AT_ZKDCAP);
    assert!(failed(&a, TdxCheck::Revocation).contains("Processor CA"), "{}", explain(&a));
    // The root CA CRL in the PCK CRL's place: issued by the root, not the PCK CA.
    let a = judge(&q, &q, &TdxCollateral { pck_crl: c.root_ca_crl.clone(), ..c }, AT_ZKDCAP);
    failed(&a, TdxCheck::Revocation);
}

#[test]
fn truncation_is_refused_and_padding_is_ignored() {
    let Some(q) = quote("zkdcap/quote_tdx_00806f050000.dat") else { return };
    let Some(c) = collateral(COLL_ZKDCAP) else { return };
    let base = judge(&q, &q, &c, AT_ZKDCAP);
    let short = judge(&q, &q[..4934], &c, AT_ZKDCAP);
    assert!(failed(&short, TdxCheck::QuoteParsed).contains("truncated"), "{}", explain(&short));
    for same in [q[..4935].to_vec(), flipped(&q, 7999, 0xff)] {
        let a = judge(&q, &same, &c, AT_ZKDCAP);
        assert_eq!(a.checks.failures(), base.checks.failures());
        assert_eq!(a.identity.tcb, base.identity.tcb);
    }
    assert_eq!(judge(&q, &q[..4935], &c, AT_ZKDCAP).identity.trailing_bytes, Some(0));
    assert_eq!(base.identity.trailing_bytes, Some(3065));
}

#[test]
fn no_collateral_fails_every_check_that_needs_it() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let roots = ccgpu_attestation::IntelRoots::intel();
    let policy = pinned_policy(&q);
    let rd = own_report_data(&q);
    let a = ccgpu_attestation::appraise_tdx(
        &ccgpu_attestation::TdxEvidence { quote: &q },
        &ccgpu_attestation::TdxAppraise {
            at: AT_DCAP_QVL,
            expected_report_data: Some(&rd),
            policy: &policy,
            roots: &roots,
            collateral: Err("the PCCS did not answer"),
            cache: None,
        },
    );
    assert_eq!(a.verdict, Verdict::Contraindicated);
    for check in [TdxCheck::Revocation, TdxCheck::TcbInfoSignature, TdxCheck::QeIdentitySignature] {
        assert!(failed(&a, check).contains("PCCS"), "{check}");
    }
    assert!(a.checks.passed(TdxCheck::QuoteSignature) && a.checks.passed(TdxCheck::QeReportSignature));
}

#[test]
fn a_warm_cache_never_changes_a_verdict() {
    let Some(q) = quote("trustee/tdx_quote_4.dat") else { return };
    let Some(c) = collateral(COLL_SPR) else { return };
    let cache = ccgpu_attestation::VerifierCache::new();
    let policy = pinned_policy(&q);
    let warm = appraise(&q, &c, AT_SPR, &policy, Some(&cache));
    assert!(warm.checks.passed(TdxCheck::TcbInfoSignature));
    let tampered =
        TdxCollateral { tcb_info: c.tcb_info.replace("\"pceId\":\"0000\"", "\"pceId\":\"0001\""), ..c.clone() };
    failed(&appraise(&q, &tampered, AT_SPR, &policy, Some(&cache)), TdxCheck::TcbInfoSignature);
    // Cached signatures do not carry the validity window: the same set a week late still fails.
    failed(&appraise(&q, &c, datetime!(2023-07-09 00:00:00 UTC), &policy, Some(&cache)), TdxCheck::CollateralCurrent);
    assert_eq!(appraise(&q, &c, AT_SPR, &policy, Some(&cache)).checks, warm.checks);
}
