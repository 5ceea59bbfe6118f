//! Full verification of the real H100 evidence (chain + report + 2 RIMs + measurements), cold and with
//! verified certificate links and RIM inspections cached by digest. Compare with NVIDIA's verifier
//! through `bench/gpu-vs-nvtrust.sh`, which runs both in one go and prints the ratios.

use std::hint::black_box;

use ccgpu_attestation::{
    Anchors, AttestationReport, CertChain, GpuAppraise, GpuEvidence, Policy, Revocation, Verdict, VerifierCache,
    appraise_gpu,
};
use criterion::{Criterion, criterion_group, criterion_main};
use time::macros::datetime;

fn hex_text(bytes: &[u8]) -> Vec<u8> {
    hex::decode(String::from_utf8_lossy(bytes).split_whitespace().collect::<String>()).expect("hex")
}

fn bench(c: &mut Criterion) {
    let dir = "nvidia/h100-550.90.07";
    let read = |rel: &str| ccgpu_test_support::read_testdata(&format!("{dir}/{rel}"));
    let (Some(report), Some(chain), Some(driver), Some(vbios), Some(nonce)) = (
        read("attestation-report.hex"),
        read("cert-chain.pem"),
        read("rims/NV_GPU_DRIVER_GH100_550.90.07.xml"),
        read("rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml"),
        read("nonce.hex"),
    ) else {
        eprintln!("skipping: shared test data not found");
        return;
    };
    let report = hex_text(&report);
    let nonce: [u8; 32] = hex_text(&nonce).try_into().expect("nonce");
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let at = datetime!(2025-09-01 0:00 UTC);

    // Everything from bytes: parse the chain too, as a verifier receiving evidence must.
    let full = |cache: Option<&VerifierCache>| {
        let chain = CertChain::from_pem(&chain).expect("chain");
        let evidence =
            GpuEvidence { report: &report, chain: &chain, driver_rim: Some(&driver), vbios_rim: Some(&vbios) };
        let ctx = GpuAppraise {
            nonce: &nonce,
            at,
            anchors: &anchors,
            policy: &policy,
            revocation: Revocation::NotChecked,
            cache,
        };
        appraise_gpu(&evidence, &ctx)
    };
    assert_eq!(full(None).verdict, Verdict::Affirming);

    let mut g = c.benchmark_group("gpu");
    g.bench_function("cold", |b| b.iter(|| black_box(full(None))));
    let cache = VerifierCache::new();
    assert_eq!(full(Some(&cache)).verdict, Verdict::Affirming);
    g.bench_function("cached", |b| b.iter(|| black_box(full(Some(&cache)))));
    g.finish();

    let mut p = c.benchmark_group("gpu-parts");
    let parsed = AttestationReport::parse(&report).expect("report");
    let leaf_chain = CertChain::from_pem(&chain).expect("chain");
    let key = ccgpu_attestation::testing::x509::validate(
        &leaf_chain,
        &anchors.device,
        at,
        ccgpu_attestation::testing::x509::ChainRule::ExactWithAnchor(5),
    )
    .expect("valid")
    .leaf_key;
    p.bench_function("report-signature", |b| b.iter(|| black_box(parsed.verify_signature(&key))));
    p.bench_function("report-parse", |b| b.iter(|| black_box(AttestationReport::parse(&report))));
    p.bench_function("rim-inspect", |b| b.iter(|| black_box(ccgpu_attestation::testing::rim::inspect(&driver))));
    p.bench_function("chain-parse-validate", |b| {
        b.iter(|| {
            let chain = CertChain::from_pem(&chain).expect("chain");
            black_box(ccgpu_attestation::testing::x509::validate(
                &chain,
                &anchors.device,
                at,
                ccgpu_attestation::testing::x509::ChainRule::ExactWithAnchor(5),
            ))
        })
    });
    p.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
