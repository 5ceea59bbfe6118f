//! SEV-SNP report verification of a real Milan report (chain + report + every check), cold and with the
//! VCEK chain's links cached, against the `sev` crate's own `Verifiable` verification (pure-Rust RSA and
//! P-384) of the same evidence measured in the same run: the anchor of design.md §8. Prints the ratios.
//!
//! Run: `cargo bench -p ccgpu-attestation --bench verify_snp`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ccgpu_attestation::appraisal::Verdict;
use ccgpu_attestation::cache::VerifierCache;
use ccgpu_attestation::snp::{AmdRoots, Product, SnpAppraise, SnpEvidence, SnpPolicy, appraise_snp};
use criterion::{Criterion, criterion_group, criterion_main};
use sev::certs::snp::{Certificate, Chain, Verifiable, ca};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;
use time::macros::datetime;

fn hex_text(bytes: &[u8]) -> Vec<u8> {
    hex::decode(String::from_utf8_lossy(bytes).split_whitespace().collect::<String>()).expect("hex")
}

fn bench(c: &mut Criterion) {
    let read = |rel: &str| ccgpu_test_support::read_testdata(&format!("snp/virtee/{rel}"));
    let (Some(report), Some(vcek)) = (read("report_milan.hex"), read("vcek_milan.der")) else {
        eprintln!("skipping: shared test data not found");
        return;
    };
    let report = hex_text(&report);
    let report_data: [u8; 64] = report[0x50..0x90].try_into().expect("64 bytes");
    let roots = AmdRoots::amd();
    let policy = SnpPolicy::default();
    let at = datetime!(2025-01-01 0:00 UTC);
    let milan = roots.product(Product::Milan).expect("milan");
    let (ark, ask) = (milan.ark().to_vec(), milan.ask().to_vec());

    // Ours, everything from bytes: the VCEK and AMD's roots are parsed on every call.
    let ours = |cache: Option<&VerifierCache>| {
        appraise_snp(
            &SnpEvidence { report: &report, vek: &vcek, ask_ark: None },
            &SnpAppraise { at, expected_report_data: Some(&report_data), policy: &policy, roots: &roots, cache },
        )
    };
    // The sev crate, everything from bytes: ARK, ASK and VCEK parsed, ARK self-signature, ARK→ASK,
    // ASK→VCEK and the report signature (its `Verifiable` for `(&Chain, &AttestationReport)`).
    let sev_full = || {
        let chain = Chain {
            ca: ca::Chain {
                ark: Certificate::from_der(&ark).expect("ark"),
                ask: Certificate::from_der(&ask).expect("ask"),
            },
            vek: Certificate::from_der(&vcek).expect("vcek"),
        };
        let parsed = AttestationReport::from_bytes(&report).expect("report");
        (&chain, &parsed).verify()
    };
    // The sev crate, report only: the VCEK already parsed (its "chain cached" equivalent).
    let sev_vcek = Certificate::from_der(&vcek).expect("vcek");
    let sev_report_only = || {
        let parsed = AttestationReport::from_bytes(&report).expect("report");
        (&sev_vcek, &parsed).verify()
    };
    assert_eq!(ours(None).verdict, Verdict::Affirming);
    assert!(sev_full().is_ok() && sev_report_only().is_ok());
    let cache = VerifierCache::new();
    assert_eq!(ours(Some(&cache)).verdict, Verdict::Affirming);

    let mut g = c.benchmark_group("snp");
    g.bench_function("ours-cold", |b| b.iter(|| black_box(ours(None))));
    g.bench_function("ours-chain-cached", |b| b.iter(|| black_box(ours(Some(&cache)))));
    g.bench_function("sev-crate-cold", |b| b.iter(|| black_box(sev_full())));
    g.bench_function("sev-crate-report-only", |b| b.iter(|| black_box(sev_report_only())));
    g.finish();

    // The ratios, from interleaved medians measured here (criterion's own figures are above).
    let median = |f: &dyn Fn()| {
        let mut samples: Vec<Duration> = (0..41)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..5 {
                    f();
                }
                start.elapsed() / 5
            })
            .collect();
        samples.sort();
        samples[samples.len() / 2]
    };
    let ours_cold = median(&|| {
        black_box(ours(None));
    });
    let ours_cached = median(&|| {
        black_box(ours(Some(&cache)));
    });
    let sev_cold = median(&|| {
        let _ = black_box(sev_full());
    });
    let sev_report = median(&|| {
        let _ = black_box(sev_report_only());
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("SEV-SNP verification of a real Milan v2 report, medians of 41×5 calls (this machine, this run):");
    println!("  ours cold          {:8.3} ms  = {:.3} × sev crate cold", ms(ours_cold), ms(ours_cold) / ms(sev_cold));
    println!(
        "  ours chain cached  {:8.3} ms  = {:.3} × sev crate report-only",
        ms(ours_cached),
        ms(ours_cached) / ms(sev_report)
    );
    println!("  sev crate cold     {:8.3} ms  (anchor)", ms(sev_cold));
    println!("  sev crate report   {:8.3} ms  (anchor)", ms(sev_report));
    println!(
        "  targets (design §8, scaled by this run's anchor: 6.4 ms cold, 1.8 ms report-only on the reference machine): \
         cold ≤ {:.3} ms, cached ≤ {:.3} ms",
        ms(sev_cold) * 1.0 / 6.4,
        ms(sev_report) * 0.35 / 1.8
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
