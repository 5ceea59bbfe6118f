//! `rim_from_service_answer` on arbitrary bytes (an answer of NVIDIA's RIM service, or of whatever
//! answers in its place): nothing may panic, and an accepted document is within the RIM size limit.
#![no_main]

use ccgpu_attestation::{MAX_SERVICE_ANSWER, rim_from_service_answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = rim_from_service_answer("NV_GPU_DRIVER_GH100_550.90.07", data) {
        assert!(!doc.is_empty() && doc.len() <= MAX_SERVICE_ANSWER, "bounded");
    }
});
