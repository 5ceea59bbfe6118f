//! NVIDIA's known test RIMs: documents signed by NVIDIA's production RIM chain, carrying the identity of a
//! production RIM (the same SWID tag id, chip and version), but the golden values of a test build. Nothing
//! signed in them says "test": they are told apart from production RIMs only by their SHA-384, so this
//! list names each one by digest. An appraisal refuses them unless the policy says `allow_test_rims`.
//!
//! Source: NVIDIA/nvtrust's first verifier samples (2023) and nv-local-gpu-verifier's `samples/`, which
//! ship `Driver_RIM_test_no_gpu.swidtag` (driver 545.00) and `1010_0200_882_96005E0001_test_no_gpu.swidtag`
//! (VBIOS 96.00.5E.00.01) beside the production `…_PROD.swidtag` of the same tag id.

/// (SHA-384 of the document, hex; what it is).
pub const KNOWN_TEST_RIMS: &[(&str, &str)] = &[
    (
        "af2f27ee4ec04c13a7a1bfa702fd8da789602cb049a4f5c1e37cd312880cc566a2ac45aaccef0437479487878a645872",
        "Driver_RIM_test_no_gpu (GH100 driver 545.00, nvtrust 2023 samples)",
    ),
    (
        "a7d0cb8df1560bbad8b0dcfcb805b962f93be7c9becd39f618df25ace886715366748e661947b435c58e6b64c7bc2718",
        "1010_0200_882_96005E0001_test_no_gpu (GH100 VBIOS 96.00.5E.00.01, nvtrust 2023 samples)",
    ),
];

/// What the RIM with this SHA-384 is, when it is one of NVIDIA's known test RIMs.
pub fn known_test_rim(digest: &[u8; 48]) -> Option<&'static str> {
    let hex = hex::encode(digest);
    KNOWN_TEST_RIMS.iter().find(|(d, _)| *d == hex).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_a_sha384_and_is_found() {
        for (digest, _) in KNOWN_TEST_RIMS {
            let bytes: [u8; 48] = hex::decode(digest).expect("hex").try_into().expect("48 bytes");
            assert!(known_test_rim(&bytes).is_some());
        }
        assert!(known_test_rim(&[0; 48]).is_none());
    }
}
