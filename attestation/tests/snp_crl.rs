//! AMD certificate revocation: the ARK's CRL judged against the ASK/ASVK a simulated chain goes through —
//! current and clean, the ASK revoked, the ASVK revoked (a VCEK chain is unaffected, a VLEK chain is not),
//! stale, without nextUpdate, not yet valid, signed by another ARK of the same name, malformed — and the
//! policy's requirement when no CRL is given.

use std::sync::OnceLock;

use ccgpu_attestation::{
    CrlError, Outcome, Product, SnpAppraisal, SnpAppraise, SnpCheck, SnpEvidence, SnpPolicy, SnpRevocation, Tcb,
    VekKind, appraise_snp, parse_crl,
    sim::{SnpPki, SnpReportBuilder, VekSpec},
    testing::snp::key_info,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const TCB: Tcb = Tcb { bootloader: 10, tee: 0, snp: 27, microcode: 84, fmc: None };
const CHIP: [u8; 64] = [0x5a; 64];
const AT: OffsetDateTime = datetime!(2026-01-10 0:00 UTC);

fn pkis() -> &'static (SnpPki, SnpPki) {
    static P: OnceLock<(SnpPki, SnpPki)> = OnceLock::new();
    P.get_or_init(|| {
        (SnpPki::generate(Product::Genoa).expect("pki"), SnpPki::generate(Product::Genoa).expect("other pki"))
    })
}

fn appraise(kind: VekKind, revocation: SnpRevocation<'_>) -> SnpAppraisal {
    let (pki, _) = pkis();
    let spec = match kind {
        VekKind::Vcek => VekSpec::vcek(Product::Genoa, TCB, &CHIP),
        VekKind::Vlek => VekSpec::vlek(Product::Genoa, TCB, "CN=simulated-csp"),
    };
    let vek = pki.issue_vek(&spec).expect("vek");
    let mut r = SnpReportBuilder::new(Product::Genoa, 3, &TCB, &CHIP);
    if kind == VekKind::Vlek {
        r.set_key_info(key_info::SIGNING_KEY_VLEK << key_info::SIGNING_KEY_SHIFT);
    }
    let report = r.sign(&vek).expect("sign");
    let roots = pki.roots().expect("roots");
    let policy = SnpPolicy { require_report_data: false, ..SnpPolicy::default() };
    appraise_snp(
        &SnpEvidence { report: &report, vek: &vek.der, ask_ark: None },
        &SnpAppraise { at: AT, expected_report_data: None, policy: &policy, roots: &roots, cache: None, revocation },
    )
}

fn crl(revocation: SnpRevocation<'_>) -> Outcome {
    appraise(VekKind::Vcek, revocation).checks.get(SnpCheck::AskRevocation).cloned().expect("recorded")
}

fn with(der: &[u8]) -> SnpRevocation<'_> {
    SnpRevocation::Crl { der, tolerance: Duration::minutes(5) }
}

fn reason(o: &Outcome) -> &str {
    assert!(o.blocks(), "{o:?}");
    o.text()
}

#[test]
fn a_current_crl_without_the_ask_passes_and_one_listing_it_fails() {
    let (pki, _) = pkis();
    let week = Some(AT + Duration::days(7));
    let clean = pki.crl(AT - Duration::days(1), week, &[]).expect("crl");
    let o = crl(with(&clean));
    assert!(o.passed(), "{o:?}");
    assert!(o.text().contains("not on the ARK's CRL (0 listed"), "{o:?}");
    let a = appraise(VekKind::Vcek, with(&clean));
    assert!(a.checks.failures().is_empty(), "{:?}", a.checks.failures());

    let revoked = pki.crl(AT - Duration::days(1), week, &[SnpPki::ASK_SERIAL]).expect("crl");
    let o = crl(with(&revoked));
    assert!(reason(&o).contains("is revoked since 2026-01-09T00:00:00Z"), "{o:?}");
    assert_eq!(appraise(VekKind::Vcek, with(&revoked)).checks.failures(), vec![SnpCheck::AskRevocation]);

    // The ASVK revoked: a VCEK chain does not go through it, a VLEK chain does.
    let asvk = pki.crl(AT - Duration::days(1), week, &[SnpPki::ASVK_SERIAL]).expect("crl");
    assert!(crl(with(&asvk)).passed());
    let vlek = appraise(VekKind::Vlek, with(&asvk));
    assert_eq!(vlek.checks.failures(), vec![SnpCheck::AskRevocation]);
}

#[test]
fn stale_future_foreign_and_malformed_crls_are_refused_by_name() {
    let (pki, other) = pkis();
    let stale = pki.crl(AT - Duration::days(30), Some(AT - Duration::days(1)), &[]).expect("crl");
    assert!(reason(&crl(with(&stale))).contains("the CRL is stale: nextUpdate 2026-01-09T00:00:00Z"));
    let open = pki.crl(AT - Duration::days(1), None, &[]).expect("crl");
    assert!(reason(&crl(with(&open))).contains("nextUpdate none"));
    let future = pki.crl(AT + Duration::days(1), Some(AT + Duration::days(8)), &[]).expect("crl");
    assert!(reason(&crl(with(&future))).contains("not yet valid"));
    // Same issuer name, another ARK's key: the signature does not verify.
    let foreign = other.crl(AT - Duration::days(1), Some(AT + Duration::days(7)), &[]).expect("crl");
    assert!(reason(&crl(with(&foreign))).contains("does not verify"), "{:?}", crl(with(&foreign)));
    // Within the tolerance of its bounds it is still current.
    let edge = pki.crl(AT + Duration::minutes(4), Some(AT - Duration::minutes(4)), &[]).expect("crl");
    assert!(crl(with(&edge)).passed());

    let mut trailing = stale.clone();
    trailing.push(0);
    for (bytes, what) in [(&b"not a crl"[..], "does not parse"), (&trailing[..], "trailing bytes")] {
        assert!(reason(&crl(with(bytes))).contains(what), "{what}");
    }
    let mut flipped = open.clone();
    let at = flipped.len() / 3;
    flipped[at] ^= 1;
    assert!(crl(with(&flipped)).blocks(), "one flipped byte never passes");
    let huge = vec![0u8; ccgpu_attestation::MAX_CRL_LEN + 1];
    assert!(matches!(parse_crl(&huge), Err(CrlError::TooLarge(_))));
}

#[test]
fn without_a_crl_the_policy_decides() {
    let o = crl(SnpRevocation::NotChecked { required: false });
    assert!(matches!(o, Outcome::Skipped { .. }), "{o:?}");
    assert!(reason(&crl(SnpRevocation::NotChecked { required: true })).contains("requires revocation"));
    assert!(reason(&crl(SnpRevocation::Unavailable("GET https://kdsintf.amd.com/…: timeout"))).contains("timeout"));
}

#[test]
fn the_crl_needed_is_named_by_the_vek_issuer_among_the_roots() {
    let (pki, _) = pkis();
    let roots = pki.roots().expect("roots");
    for (kind, spec) in [
        (VekKind::Vcek, VekSpec::vcek(Product::Genoa, TCB, &CHIP)),
        (VekKind::Vlek, VekSpec::vlek(Product::Genoa, TCB, "CN=simulated-csp")),
    ] {
        let vek = pki.issue_vek(&spec).expect("vek");
        let evidence = SnpEvidence { report: &[], vek: &vek.der, ask_ark: None };
        assert_eq!(evidence.crl_needed(&roots), Some((Product::Genoa, kind)));
        // The simulated ASK/ASVK carry AMD's names, so under AMD's real roots the choice is the same (by
        // name only; the appraisal then refuses the chain). An unreadable certificate names none.
        assert_eq!(evidence.crl_needed(&ccgpu_attestation::AmdRoots::amd()), Some((Product::Genoa, kind)));
        assert_eq!(SnpEvidence { vek: b"not a certificate", ..evidence }.crl_needed(&roots), None);
    }
}
