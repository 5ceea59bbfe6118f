//! `rim::inspect` on arbitrary bytes, then the appraisal of the signing chain to NVIDIA's RIM root.
#![no_main]

use ccgpu_attestation::testing::rim;
use ccgpu_fuzz::{ANCHORS, AT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let inspection = rim::inspect(data);
    let v = inspection.appraise(&ANCHORS.rim, AT, None);
    if v.verified.is_some() {
        assert!(v.identity.is_ok() && v.signature.is_ok() && v.chain.is_ok());
    }
    let _ = (format!("{:?}", v.identity), format!("{:?}", v.signature), format!("{:?}", v.chain));
});
