//! `appraise_gpu` with fuzzed report bytes against the real H100 device chain and RIMs, at a time when
//! all of them are valid. Never panics; and an affirming verdict is only possible for the real report's
//! signed bytes with the real nonce.
#![no_main]

use std::sync::LazyLock;

use ccgpu_attestation::{
    GpuAppraise, GpuEvidence, Policy, Revocation, Verdict, VerifierCache, appraise_gpu, testing::spdm::SIGNATURE_LEN,
};
use ccgpu_fuzz::{ANCHORS, AT, REAL};
use libfuzzer_sys::fuzz_target;

/// Chains and RIMs repeat on every run: cache them, as a fleet verifier would.
static CACHE: LazyLock<VerifierCache> = LazyLock::new(VerifierCache::new);

fuzz_target!(|data: &[u8]| {
    let real = &*REAL;
    let policy = Policy::default();
    let evidence =
        GpuEvidence { report: data, chain: &real.chain, driver_rim: Some(&real.driver), vbios_rim: Some(&real.vbios) };
    let ctx = GpuAppraise {
        nonce: &real.nonce,
        at: AT,
        anchors: &ANCHORS,
        policy: &policy,
        revocation: Revocation::NotChecked,
        cache: Some(&CACHE),
    };
    let a = appraise_gpu(&evidence, &ctx);
    let _ = serde_json::to_string(&a).expect("appraisal serializes");
    if a.verdict == Verdict::Affirming {
        let signed = real.report.len() - SIGNATURE_LEN;
        assert!(
            data.len() == real.report.len() && data[..signed] == real.report[..signed],
            "affirming a changed report"
        );
    }
});
