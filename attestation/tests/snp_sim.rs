//! Simulated SEV-SNP evidence from the project's own AMD-shaped PKIs, for what the real test data does not
//! cover: Turin (FMC SPL, 8-byte hwID), Genoa v3, version 2 reports with a masked CHIP_ID (which the `sev`
//! crate cannot decode alone), VLEKs of every product, and policies that set every reference value.

mod snp_common;

use std::sync::OnceLock;

use ccgpu_attestation::{
    HostData, Measurement, Product, SnpCheck, SnpPolicy, Tcb, VekKind, Verdict,
    sim::{SnpPki, SnpReportBuilder, VekSpec},
    testing::snp::key_info,
};
use time::macros::datetime;

use snp_common::{appraise, explain, failed, skipped};

fn pki(product: Product) -> &'static SnpPki {
    static PKIS: [OnceLock<SnpPki>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = Product::ALL.iter().position(|p| *p == product).expect("product");
    PKIS[i].get_or_init(|| SnpPki::generate(product).expect("simulated PKI"))
}

fn tcb_of(product: Product) -> Tcb {
    match product {
        Product::Milan => Tcb { bootloader: 4, tee: 0, snp: 24, microcode: 217, fmc: None },
        Product::Genoa => Tcb { bootloader: 10, tee: 0, snp: 27, microcode: 84, fmc: None },
        Product::Turin => Tcb { bootloader: 1, tee: 0, snp: 3, microcode: 76, fmc: Some(2) },
    }
}

const CHIP: [u8; 64] = [0x5a; 64];
const NONCE: [u8; 64] = [0x42; 64];

struct Sim {
    report: Vec<u8>,
    vek: Vec<u8>,
    product: Product,
}

fn build(product: Product, version: u32, kind: VekKind, masked: bool, edit: impl FnOnce(&mut SnpReportBuilder)) -> Sim {
    let p = pki(product);
    let tcb = tcb_of(product);
    let spec = match kind {
        VekKind::Vcek => VekSpec::vcek(product, tcb, &CHIP),
        VekKind::Vlek => VekSpec::vlek(product, tcb, "CN=simulated-csp"),
    };
    let vek = p.issue_vek(&spec).expect("vek");
    let mut r = SnpReportBuilder::new(product, version, &tcb, &CHIP);
    r.set_report_data(&NONCE);
    if masked {
        r.set_chip_id(&[0; 64]);
    }
    if kind == VekKind::Vlek {
        r.set_key_info(key_info::SIGNING_KEY_VLEK << key_info::SIGNING_KEY_SHIFT);
    }
    edit(&mut r);
    Sim { report: r.sign(&vek).expect("sign"), vek: vek.der, product }
}

fn run(sim: &Sim, policy: &SnpPolicy) -> ccgpu_attestation::SnpAppraisal {
    let roots = pki(sim.product).roots().expect("roots");
    appraise(&sim.report, &sim.vek, None, Some(&NONCE), datetime!(2025-06-01 0:00 UTC), policy, &roots, None)
}

const POLICY_SKIPS: [SnpCheck; 4] = [SnpCheck::Vmpl, SnpCheck::MinTcb, SnpCheck::Measurement, SnpCheck::HostData];

#[test]
fn every_product_version_and_key_kind_is_affirming() {
    for product in Product::ALL {
        for version in [2, 3, 5] {
            for kind in [VekKind::Vcek, VekKind::Vlek] {
                for masked in [false, true] {
                    let sim = build(product, version, kind, masked, |_| {});
                    let a = run(&sim, &SnpPolicy::default());
                    let what = format!("{product} v{version} {} masked={masked}", kind.name());
                    assert_eq!(a.checks.verdict(), Verdict::Affirming, "{what}: {}", explain(&a));
                    // The default policy pins no launch measurement: a warning, never affirming.
                    assert_eq!(a.verdict, Verdict::Warning, "{what}");
                    let mut skips = vec![SnpCheck::AskRevocation];
                    if masked || kind == VekKind::Vlek {
                        skips.push(SnpCheck::ChipId);
                    }
                    skips.extend(POLICY_SKIPS);
                    assert_eq!(skipped(&a), skips, "{what}");
                    assert_eq!(a.identity.product, Some(product), "{what}");
                    assert_eq!(a.identity.signing_key, Some(kind), "{what}");
                    assert_eq!(a.identity.reported_tcb, Some(tcb_of(product)), "{what}");
                    assert_eq!(a.identity.chip_id_masked, masked, "{what}");
                    let parsed = a.checks.get(SnpCheck::ReportParsed).expect("parsed").text().to_owned();
                    if version == 2 && masked {
                        // The `sev` crate alone refuses these (MaskedChipId); the layout comes from the VCEK/VLEK.
                        assert!(
                            parsed.contains(&format!("{product} TCB layout from the VCEK/VLEK")),
                            "{what}: {parsed}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn turin_binds_the_fmc_spl_and_an_eight_byte_hwid() {
    let sim = build(Product::Turin, 3, VekKind::Vcek, false, |_| {});
    let a = run(&sim, &SnpPolicy::default());
    assert_eq!(a.checks.verdict(), Verdict::Affirming, "{}", explain(&a));
    assert_eq!(a.identity.chip_id.as_deref(), Some(&*format!("{}{}", "5a".repeat(8), "00".repeat(56))));
    assert!(a.checks.get(SnpCheck::VekTcb).expect("tcb").text().contains("fmc 2"));
    // An FMC SPL that differs from the VCEK's.
    let mut other = tcb_of(Product::Turin);
    other.fmc = Some(3);
    let sim = build(Product::Turin, 3, VekKind::Vcek, false, |r| {
        r.set_reported_tcb(&other, true);
    });
    assert_eq!(failed(&run(&sim, &SnpPolicy::default())), vec![SnpCheck::VekTcb]);
    // A minimum FMC SPL above the report's.
    let mut min = tcb_of(Product::Turin);
    min.fmc = Some(3);
    let policy = SnpPolicy { min_tcb: [(Product::Turin, min)].into_iter().collect(), ..SnpPolicy::default() };
    let sim = build(Product::Turin, 5, VekKind::Vcek, false, |_| {});
    let a = run(&sim, &policy);
    assert_eq!(failed(&a), vec![SnpCheck::MinTcb]);
    assert!(a.checks.get(SnpCheck::MinTcb).expect("min").text().contains("fmc 2 < 3"));
    // A Turin CHIP_ID with bytes set past the first eight does not match the 8-byte hwID.
    let sim = build(Product::Turin, 3, VekKind::Vcek, false, |r| {
        let mut chip = [0u8; 64];
        chip[..8].copy_from_slice(&CHIP[..8]);
        chip[63] = 1;
        r.set_chip_id(&chip);
    });
    assert_eq!(failed(&run(&sim, &SnpPolicy::default())), vec![SnpCheck::ChipId]);
}

#[test]
fn a_policy_that_sets_every_reference_value_is_met_exactly() {
    let measurement = [0x11; 48];
    let host_data = [0x22; 32];
    let sim = build(Product::Genoa, 5, VekKind::Vcek, false, |r| {
        r.set_measurement(&measurement).set_host_data(&host_data).set_vmpl(0);
    });
    let policy = SnpPolicy {
        vmpl: Some(0),
        min_tcb: [(Product::Genoa, tcb_of(Product::Genoa))].into_iter().collect(),
        measurements: Some(vec![Measurement([0x33; 48]), Measurement(measurement)]),
        host_data: Some(HostData(host_data)),
        ..SnpPolicy::default()
    };
    let a = run(&sim, &policy);
    assert_eq!(a.checks.verdict(), Verdict::Affirming, "{}", explain(&a));
    assert_eq!(skipped(&a), vec![SnpCheck::AskRevocation], "only the CRL, which no policy sets");
}

#[test]
fn debug_and_migration_agent_guests_pass_only_when_the_policy_allows_them() {
    let bits = [(1u64 << 19, "allow_debug"), (1 << 18, "allow_migration_agent")];
    for (bit, field) in bits {
        let sim = build(Product::Milan, 2, VekKind::Vcek, false, |r| {
            let p = r.policy();
            r.set_policy(p | bit);
        });
        assert_eq!(failed(&run(&sim, &SnpPolicy::default())), vec![SnpCheck::GuestPolicy], "{field}");
        let policy: SnpPolicy = serde_json::from_str(&format!("{{\"{field}\": true}}")).expect("policy");
        assert_eq!(run(&sim, &policy).checks.verdict(), Verdict::Affirming, "{field}");
    }
}

#[test]
fn without_an_expected_report_data_the_policy_decides() {
    let sim = build(Product::Milan, 3, VekKind::Vcek, false, |_| {});
    let roots = pki(Product::Milan).roots().expect("roots");
    let at = datetime!(2025-06-01 0:00 UTC);
    let a = appraise(&sim.report, &sim.vek, None, None, at, &SnpPolicy::default(), &roots, None);
    assert_eq!(failed(&a), vec![SnpCheck::ReportData]);
    let lenient = SnpPolicy { require_report_data: false, ..SnpPolicy::default() };
    let a = appraise(&sim.report, &sim.vek, None, None, at, &lenient, &roots, None);
    assert_eq!(a.checks.verdict(), Verdict::Affirming, "{}", explain(&a));
    assert!(skipped(&a).contains(&SnpCheck::ReportData));
}

#[test]
fn a_vlek_chain_needs_the_asvk() {
    // The same VLEK evidence under roots that know no ASVK: its issuer is unknown.
    let sim = build(Product::Milan, 3, VekKind::Vlek, true, |_| {});
    let p = pki(Product::Milan);
    let no_asvk =
        ccgpu_attestation::ProductRoots::from_der(Product::Milan, p.ark_der().to_vec(), p.ask_der().to_vec(), None)
            .expect("roots");
    let roots = ccgpu_attestation::AmdRoots::new(vec![no_asvk]).expect("roots");
    let a = appraise(
        &sim.report,
        &sim.vek,
        None,
        Some(&NONCE),
        datetime!(2025-06-01 0:00 UTC),
        &SnpPolicy::default(),
        &roots,
        None,
    );
    assert_eq!(failed(&a), vec![SnpCheck::Ask], "{}", explain(&a));
    // With the ASVK in the evidence's bundle it is still unknown: only the roots decide which
    // intermediates exist.
    let bundle = p.ask_ark_pem(VekKind::Vlek);
    let a = appraise(
        &sim.report,
        &sim.vek,
        Some(bundle.as_bytes()),
        Some(&NONCE),
        datetime!(2025-06-01 0:00 UTC),
        &SnpPolicy::default(),
        &roots,
        None,
    );
    assert_eq!(failed(&a), vec![SnpCheck::Ask], "{}", explain(&a));
}
