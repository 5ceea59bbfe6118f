//! The real SEV-SNP reports in the shared test data: every one verifies at a time inside its
//! certificates' validity, with AMD's shipped roots, with and without the ASK/ARK bundle it came with; and
//! the real negatives (a debug guest, another chip's VCEK, trustee's tampered VCEKs, expired
//! certificates, missing roots) are refused by exactly the checks that must refuse them.

mod snp_common;

use ccgpu_attestation::{AmdRoots, Product, SnpCheck, SnpPolicy, Tcb, VekKind, Verdict, VerifierCache};
use time::Duration;
use time::macros::datetime;

use snp_common::{RealSnp, appraise, explain, failed, real_reports, skipped};

fn find<'a>(reals: &'a [RealSnp], name: &str) -> &'a RealSnp {
    reals.iter().find(|r| r.name == name).expect("known real report")
}

#[test]
fn every_real_report_is_affirming_with_and_without_its_bundle() {
    let Some(reals) = real_reports() else { return };
    assert_eq!(reals.len(), 7);
    let roots = AmdRoots::amd();
    let cache = VerifierCache::new();
    for real in &reals {
        for bundle in [None, Some(real.ask_ark.as_slice())] {
            for cache in [None, Some(&cache), Some(&cache)] {
                let a = appraise(
                    &real.report,
                    &real.vek,
                    bundle,
                    Some(&real.report_data()),
                    real.at,
                    &real.policy,
                    &roots,
                    cache,
                );
                assert_eq!(
                    a.verdict,
                    Verdict::Affirming,
                    "{} (bundle: {}, cache: {}): {}",
                    real.name,
                    bundle.is_some(),
                    cache.is_some(),
                    explain(&a)
                );
                // The VCEK (or VLEK) may also come as PEM.
                let pem = pem::encode(&pem::Pem::new("CERTIFICATE", real.vek.clone()));
                let b = appraise(
                    &real.report,
                    pem.as_bytes(),
                    bundle,
                    Some(&real.report_data()),
                    real.at,
                    &real.policy,
                    &roots,
                    cache,
                );
                assert_eq!(b.checks, a.checks, "{}: PEM and DER VCEK give the same checks", real.name);
            }
        }
    }
    // Three links per chain were remembered (ARK self-signature, ASK/ASVK, VCEK/VLEK), shared ARKs once.
    assert!(cache.len().0 >= 8, "{:?}", cache.len());
}

#[test]
fn identities_of_the_real_reports() {
    let Some(reals) = real_reports() else { return };
    let roots = AmdRoots::amd();
    let expect: [(&str, Product, u32, VekKind, bool, Tcb); 7] = [
        ("virtee-milan-v2", Product::Milan, 2, VekKind::Vcek, false, tcb(3, 0, 8, 115)),
        ("trustee-milan-v2", Product::Milan, 2, VekKind::Vcek, false, tcb(3, 0, 8, 115)),
        ("trustee-milan-v3-vlek", Product::Milan, 3, VekKind::Vlek, true, tcb(4, 0, 24, 217)),
        ("go-sev-guest-milan-v2-debug", Product::Milan, 2, VekKind::Vcek, false, tcb(2, 0, 5, 68)),
        ("automata-milan-v2", Product::Milan, 2, VekKind::Vcek, false, tcb(3, 0, 22, 209)),
        ("lunal-genoa-v5", Product::Genoa, 5, VekKind::Vcek, false, tcb(10, 0, 27, 27)),
        ("lunal-genoa-v5-json", Product::Genoa, 5, VekKind::Vcek, false, tcb(10, 0, 27, 27)),
    ];
    for (name, product, version, kind, masked, reported) in expect {
        let real = find(&reals, name);
        let a = real.appraise(&roots);
        let id = &a.identity;
        assert_eq!(id.product, Some(product), "{name}");
        assert_eq!(id.report_version, Some(version), "{name}");
        assert_eq!(id.signing_key, Some(kind), "{name}");
        assert_eq!(id.chip_id_masked, masked, "{name}");
        assert_eq!(id.chip_id.is_none(), masked, "{name}");
        assert_eq!(id.reported_tcb, Some(reported), "{name}");
        assert_eq!(id.measurement.as_deref().map(str::len), Some(96), "{name}");
        // A VLEK or a masked CHIP_ID skips the hwID binding, and says so; nothing else is skipped by the
        // evidence itself (VMPL, TCB minimum and host data are skipped by the default policy; the launch
        // measurement is pinned to the report's own, see `real_reports`).
        // No CRL is given here (AMD revocation: tests/snp_crl.rs).
        let mut expected_skips = vec![SnpCheck::AskRevocation];
        if masked || kind == VekKind::Vlek {
            expected_skips.push(SnpCheck::ChipId);
        }
        expected_skips.extend([SnpCheck::Vmpl, SnpCheck::MinTcb, SnpCheck::HostData]);
        assert_eq!(skipped(&a), expected_skips, "{name}");
        // Unpinned, every check still passes, but the verdict is a warning that says why.
        let unpinned = RealSnp { policy: SnpPolicy { measurements: None, ..real.policy.clone() }, ..real.clone() };
        let u = unpinned.appraise(&roots);
        assert_eq!((u.checks.verdict(), u.verdict), (Verdict::Affirming, Verdict::Warning), "{name}");
        assert!(u.warnings.iter().any(|w| w.contains("pins no launch measurement")), "{name}: {:?}", u.warnings);
    }
    let vlek = find(&reals, "trustee-milan-v3-vlek");
    let a = vlek.appraise(&roots);
    assert_eq!(a.identity.csp_id.as_deref(), Some("CN=cc-us-east-2.amazonaws.com"));
    assert_eq!(a.identity.vmpl, Some(1));
    assert!(a.checks.get(SnpCheck::ChipId).expect("recorded").text().contains("VLEK"));
}

fn tcb(bootloader: u8, tee: u8, snp: u8, microcode: u8) -> Tcb {
    Tcb { bootloader, tee, snp, microcode, fmc: None }
}

#[test]
fn the_real_debug_guest_is_refused_by_the_default_policy() {
    let Some(reals) = real_reports() else { return };
    let real = find(&reals, "go-sev-guest-milan-v2-debug");
    let a = RealSnp { policy: SnpPolicy::default(), ..real.clone() }.appraise(&AmdRoots::amd());
    assert_eq!(a.verdict, Verdict::Contraindicated);
    assert_eq!(failed(&a), vec![SnpCheck::GuestPolicy], "{}", explain(&a));
    assert!(a.checks.get(SnpCheck::GuestPolicy).expect("recorded").text().contains("debugging (POLICY bit 19)"));
    assert_eq!(a.identity.debug_allowed, Some(true));
}

#[test]
fn another_chips_vcek_is_refused() {
    let Some(reals) = real_reports() else { return };
    let real = find(&reals, "automata-milan-v2");
    let mismatched = ccgpu_test_support::require_testdata_bytes!("snp/automata/risc0-data-sev-vcek.MISMATCHED.pem");
    let a = RealSnp { vek: mismatched, ..real.clone() }.appraise(&AmdRoots::amd());
    // A genuine AMD VCEK of another chip at the same TCB: its chain and TCB are fine; it did not sign this
    // report, and its hwID is not this CHIP_ID.
    assert_eq!(failed(&a), vec![SnpCheck::ReportSignature, SnpCheck::ChipId], "{}", explain(&a));
    assert_eq!(a.checks.get(SnpCheck::Vek).map(|o| o.passed()), Some(true));
    // And likewise between two other real Milan chips at the same TCB.
    let virtee = find(&reals, "virtee-milan-v2");
    let trustee = find(&reals, "trustee-milan-v2");
    let a = RealSnp { vek: virtee.vek.clone(), ..trustee.clone() }.appraise(&AmdRoots::amd());
    assert_eq!(failed(&a), vec![SnpCheck::ReportSignature, SnpCheck::ChipId], "{}", explain(&a));
}

#[test]
fn trustees_invalid_vceks_are_refused() {
    let Some(reals) = real_reports() else { return };
    let real = find(&reals, "trustee-milan-v2");
    for file in ["test-vcek-invalid-legacy.der", "test-vcek-invalid-new.der"] {
        let vek = ccgpu_test_support::require_testdata_bytes!(&format!("snp/trustee/{file}"));
        let a = RealSnp { vek, ..real.clone() }.appraise(&AmdRoots::amd());
        // Edited certificates (other keys, dates, TCB and hwID): the ASK's signature no longer verifies,
        // the key did not sign the report, and the TCB and hwID they state are not the report's.
        assert_eq!(
            failed(&a),
            vec![SnpCheck::Vek, SnpCheck::ReportSignature, SnpCheck::VekTcb, SnpCheck::ChipId],
            "{file}: {}",
            explain(&a)
        );
        assert!(a.checks.get(SnpCheck::Vek).expect("recorded").text().contains("does not verify"), "{file}");
    }
}

#[test]
fn every_real_chain_is_refused_outside_its_validity() {
    let Some(reals) = real_reports() else { return };
    let roots = AmdRoots::amd();
    for real in &reals {
        let cert = x509_parser::parse_x509_certificate(&real.vek).expect("vek").1;
        let after = cert.validity().not_after.to_datetime() + Duration::seconds(1);
        let before = cert.validity().not_before.to_datetime() - Duration::seconds(1);
        for at in [after, before] {
            let a = RealSnp { at, ..real.clone() }.appraise(&roots);
            assert_eq!(failed(&a), vec![SnpCheck::Vek], "{} at {at}: {}", real.name, explain(&a));
        }
        // Before AMD issued any root, the whole chain is not yet valid.
        let a = RealSnp { at: datetime!(2019-01-01 0:00 UTC), ..real.clone() }.appraise(&roots);
        assert_eq!(failed(&a), vec![SnpCheck::Ark, SnpCheck::Ask, SnpCheck::Vek], "{}", real.name);
    }
}

#[test]
fn a_vlek_report_is_refused_when_the_policy_requires_vmpl_0() {
    let Some(reals) = real_reports() else { return };
    let real = find(&reals, "trustee-milan-v3-vlek");
    let policy = SnpPolicy { vmpl: Some(0), ..SnpPolicy::default() };
    let a = RealSnp { policy, ..real.clone() }.appraise(&AmdRoots::amd());
    assert_eq!(failed(&a), vec![SnpCheck::Vmpl], "{}", explain(&a));
}

#[test]
fn a_genoa_report_needs_genoa_roots() {
    let Some(reals) = real_reports() else { return };
    let real = find(&reals, "lunal-genoa-v5");
    let amd = AmdRoots::amd();
    let milan_only = AmdRoots::new(vec![amd.product(Product::Milan).cloned().expect("milan")]).expect("roots");
    let a = real.appraise(&milan_only);
    assert_eq!(failed(&a), vec![SnpCheck::Ask], "{}", explain(&a));
    assert_eq!(a.checks.get(SnpCheck::Ark).map(|o| o.blocks()), Some(true));
}

#[test]
fn the_two_lunal_captures_are_one_chip_with_two_reports() {
    let Some(reals) = real_reports() else { return };
    let roots = AmdRoots::amd();
    let ids: Vec<_> = ["lunal-genoa-v5", "lunal-genoa-v5-json"]
        .into_iter()
        .map(|name| find(&reals, name).appraise(&roots).identity)
        .collect();
    assert_eq!(ids[0].chip_id, ids[1].chip_id);
    assert_ne!(ids[0].report_data, ids[1].report_data);
    // Each report verifies under the other capture's VCEK too: the same chip key at the same TCB.
    let (a, b) = (find(&reals, "lunal-genoa-v5"), find(&reals, "lunal-genoa-v5-json"));
    let x = RealSnp { vek: b.vek.clone(), ..a.clone() }.appraise(&roots);
    assert_eq!(x.verdict, Verdict::Affirming, "{}", explain(&x));
}

/// The `sev` crate's own verification (its `Verifiable` for a chain and a report, pure-Rust crypto) agrees
/// on every real report and on a stride of byte flips: the parity oracle for our signature checks. Except
/// where it is wrong: it hashes a re-encoding of the decoded report instead of the bytes received, and its
/// decoder drops the reserved bytes of the TCB fields, so a report whose reserved TCB bytes were changed
/// after signing still "verifies" there. Ours refuses those by the signature and the reserved-field check.
#[test]
fn the_sev_crate_agrees_except_on_bytes_it_does_not_hash() {
    use ccgpu_attestation::sim::snp_byte_flips;
    use ccgpu_attestation::testing::snp::{SIGNED_LEN, offset};
    use sev::certs::snp::{Certificate, Chain, Verifiable, ca};
    use sev::firmware::guest::AttestationReport;
    use sev::parser::ByteParser;

    let Some(reals) = real_reports() else { return };
    let roots = AmdRoots::amd();
    for real in &reals {
        let a = real.appraise(&roots);
        let product = a.identity.product.expect("product");
        let p = roots.product(product).expect("roots");
        let intermediate = match a.identity.signing_key.expect("kind") {
            VekKind::Vcek => p.ask(),
            VekKind::Vlek => p.asvk().expect("asvk"),
        };
        let chain = Chain {
            ca: ca::Chain {
                ark: Certificate::from_der(p.ark()).expect("ark"),
                ask: Certificate::from_der(intermediate).expect("ask"),
            },
            vek: Certificate::from_der(&real.vek).expect("vek"),
        };
        let sev_ok = |bytes: &[u8]| AttestationReport::from_bytes(bytes).is_ok_and(|r| (&chain, &r).verify().is_ok());
        assert!(sev_ok(&real.report), "{}: the sev crate refuses it", real.name);
        // Milan/Genoa TCB layout: bytes 2..6 of each TCB field are reserved.
        let tcb_reserved: Vec<usize> = offset::TCBS.iter().flat_map(|(_, at)| (at + 2)..(at + 6)).collect();
        let offsets: Vec<usize> = (0..SIGNED_LEN).step_by(29).chain(tcb_reserved.iter().copied()).collect();
        for (at, flipped) in snp_byte_flips(&real.report, offsets) {
            let ours =
                appraise(&flipped, &real.vek, None, Some(&real.report_data()), real.at, &real.policy, &roots, None);
            assert_eq!(ours.verdict, Verdict::Contraindicated, "{}: flip at {at:#x}", real.name);
            if tcb_reserved.contains(&at) {
                assert!(sev_ok(&flipped), "{}: the sev crate now refuses a reserved TCB flip at {at:#x}", real.name);
                assert_eq!(
                    failed(&ours),
                    vec![SnpCheck::ReservedFields, SnpCheck::ReportSignature],
                    "{}: flip at {at:#x}",
                    real.name
                );
            } else {
                assert!(!sev_ok(&flipped), "{}: the sev crate accepts a flip at {at:#x}", real.name);
            }
        }
    }
}
