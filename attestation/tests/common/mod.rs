//! Loading the real H100 evidence from the shared test data, and appraising evidence in one call.

#![allow(dead_code)] // each test binary uses a different subset

use ccgpu_attestation::{
    Anchors, CertChain, GpuAppraisal, GpuAppraise, GpuCheck, GpuEvidence, Outcome, Policy, Revocation, VerifierCache,
    appraise_gpu,
    sim::{Case, RealEvidence},
};
use time::macros::datetime;

pub const H100: &str = "nvidia/h100-550.90.07";

pub fn hex_text(bytes: &[u8]) -> Vec<u8> {
    hex::decode(String::from_utf8_lossy(bytes).split_whitespace().collect::<String>()).expect("hex")
}

/// The real H100 evidence (affirming at 2025-09-01), or `None` to skip when the shared data is absent.
pub fn h100() -> Option<RealEvidence> {
    let read = |rel: &str| ccgpu_test_support::read_testdata(&format!("{H100}/{rel}"));
    Some(RealEvidence {
        report: hex_text(&read("attestation-report.hex")?),
        chain: CertChain::from_pem(&read("cert-chain.pem")?).expect("chain"),
        driver: read("rims/NV_GPU_DRIVER_GH100_550.90.07.xml")?,
        vbios: read("rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml")?,
        nonce: hex_text(&read("nonce.hex")?).try_into().expect("32-byte nonce"),
        at: datetime!(2025-09-01 0:00 UTC),
    })
}

#[allow(clippy::too_many_arguments)]
pub fn appraise_with(
    report: &[u8],
    chain: &CertChain,
    driver: &[u8],
    vbios: &[u8],
    nonce: &[u8; 32],
    at: time::OffsetDateTime,
    anchors: &Anchors,
    cache: Option<&VerifierCache>,
) -> GpuAppraisal {
    let policy = Policy::default();
    let evidence = GpuEvidence { report, chain, driver_rim: Some(driver), vbios_rim: Some(vbios) };
    appraise_gpu(
        &evidence,
        &GpuAppraise { nonce, at, anchors, policy: &policy, revocation: Revocation::NotChecked, cache },
    )
}

pub fn appraise_case(case: &Case, at: time::OffsetDateTime, cache: Option<&VerifierCache>) -> GpuAppraisal {
    let mut anchors = Anchors::nvidia();
    if let Some(a) = &case.device_anchor {
        anchors.device = a.clone();
    }
    if let Some(a) = &case.rim_anchor {
        anchors.rim = a.clone();
    }
    appraise_with(&case.report, &case.chain, &case.driver, &case.vbios, &case.nonce, at, &anchors, cache)
}

/// Checks whose outcome is `Failed` (not those that merely could not run).
pub fn failed(a: &GpuAppraisal) -> Vec<GpuCheck> {
    a.checks.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).map(|r| r.check).collect()
}
