//! `ocsp::parse_response` on arbitrary bytes (OCSP responses come from the network or from files beside
//! the evidence). An accepted response keeps its signed part exactly as received.
#![no_main]

use ccgpu_attestation::OcspResponse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = OcspResponse::parse(data) else { return };
    assert!(!r.tbs.is_empty());
    assert!(data.windows(r.tbs.len()).any(|w| w == r.tbs.as_slice()), "tbsResponseData not taken from the input");
    let _ = format!("{r:?}");
});
