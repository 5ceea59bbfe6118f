//! SEV-SNP report verification of a real Milan report (chain + report + every check), cold and with the
//! VCEK chain's links cached, against the `sev` crate's own `Verifiable` verification (pure-Rust RSA and
//! P-384) of the same evidence measured in the same run: the anchor of design.md §8. Prints the ratios.
//!
//! Run: `cargo bench -p ccgpu-attestation --bench verify_snp`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ccgpu_attestation::{
    AmdRoots, Product, SnpAppraise, SnpEvidence, SnpPolicy, SnpRevocation, Verdict, VerifierCache, appraise_snp,
};
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
            &SnpAppraise {
                at,
                expected_report_data: Some(&report_data),
                policy: &policy,
                roots: &roots,
                cache,
                revocation: SnpRevocation::NotChecked { required: false },
            },
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
    assert_eq!(ours(None).checks.verdict(), Verdict::Affirming);
    assert!(sev_full().is_ok() && sev_report_only().is_ok());
    let cache = VerifierCache::new();
    assert_eq!(ours(Some(&cache)).checks.verdict(), Verdict::Affirming);

    let mut g = c.benchmark_group("snp");
    g.bench_function("ours-cold", |b| b.iter(|| black_box(ours(None))));
    g.bench_function("ours-chain-cached", |b| b.iter(|| black_box(ours(Some(&cache)))));
    g.bench_function("sev-crate-cold", |b| b.iter(|| black_box(sev_full())));
    g.bench_function("sev-crate-report-only", |b| b.iter(|| black_box(sev_report_only())));
    g.finish();

    // Where the time goes: the parts of one cached appraisal.
    let mut p = c.benchmark_group("snp-parts");
    let vcek_cert = x509_parser::parse_x509_certificate(&vcek).expect("vcek").1;
    let point = vcek_cert.public_key().subject_public_key.data.to_vec();
    let raw: &[u8; ccgpu_attestation::testing::snp::REPORT_LEN] = report.as_slice().try_into().expect("len");
    let rs = ccgpu_attestation::testing::snp::signature_rs(raw).expect("rs");
    let signed = &report[..ccgpu_attestation::testing::snp::SIGNED_LEN];
    p.bench_function("ecdsa-p384-verify", |b| {
        b.iter(|| {
            aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED, &point)
                .verify(black_box(signed), &rs)
        })
    });
    let parsed_key = aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED, &point)
        .expect("key");
    p.bench_function("ecdsa-p384-verify-key-parsed-once", |b| b.iter(|| parsed_key.verify_sig(black_box(signed), &rs)));
    p.bench_function("x509-parse-ark", |b| b.iter(|| x509_parser::parse_x509_certificate(black_box(&ark))));
    p.bench_function("x509-parse-vcek", |b| b.iter(|| x509_parser::parse_x509_certificate(black_box(&vcek))));
    p.bench_function("report-parse", |b| {
        b.iter(|| ccgpu_attestation::testing::snp::SnpReport::parse(black_box(&report), None).map(|r| r.version()))
    });
    p.bench_function("sha384-ark", |b| b.iter(|| ccgpu_attestation::sha384(black_box(&ark))));
    p.finish();

    // The ratios, from rounds that time all four one after the other (so load changes hit all four alike):
    // medians and minimums over the rounds (criterion's own figures are above).
    let time5 = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..5 {
            f();
        }
        start.elapsed() / 5
    };
    let fns: [(&str, &dyn Fn()); 4] = [
        ("ours cold", &|| {
            black_box(ours(None));
        }),
        ("ours chain cached", &|| {
            black_box(ours(Some(&cache)));
        }),
        ("sev crate cold", &|| {
            let _ = black_box(sev_full());
        }),
        ("sev crate report-only", &|| {
            let _ = black_box(sev_report_only());
        }),
    ];
    let rounds = 61;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); fns.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in fns.iter().enumerate() {
            samples[i].push(time5(*f));
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let stats: Vec<(f64, f64)> = samples
        .iter_mut()
        .map(|s| {
            s.sort();
            (ms(s[s.len() / 2]), ms(s[0]))
        })
        .collect();
    println!("SEV-SNP verification of a real Milan v2 report, {rounds} interleaved rounds of 5 calls each:");
    for (i, (name, _)) in fns.iter().enumerate() {
        println!("  {name:22} median {:7.3} ms  min {:7.3} ms", stats[i].0, stats[i].1);
    }
    println!(
        "  ratio ours cold / sev crate cold:                   median {:.3}  min {:.3}  (target 1.0/6.4 = 0.156)",
        stats[0].0 / stats[2].0,
        stats[0].1 / stats[2].1
    );
    println!(
        "  ratio ours chain cached / sev crate report-only:    median {:.3}  min {:.3}  (target 0.35/1.8 = 0.194)",
        stats[1].0 / stats[3].0,
        stats[1].1 / stats[3].1
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
