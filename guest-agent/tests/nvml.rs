//! The real NVML backend: it compiles into the agent, and without `libnvidia-ml.so.1` it fails with a
//! clear error naming the library, before anything else happens. Where the library is present (a GPU
//! machine), the same test reads — never sets — the CC state and versions.

use ccgpu_guest_agent::{GpuError, GpuManagement as _, NVML_LIBRARY, NvmlBackend};

#[test]
fn without_the_library_nvml_fails_cleanly() {
    match NvmlBackend::default().open_nvml() {
        Err(e @ GpuError::Init { .. }) => {
            let text = e.to_string();
            assert!(text.contains(NVML_LIBRARY), "{text}");
        }
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(nvml) => {
            // A machine with the NVIDIA driver: read-only checks only.
            let gpus = nvml.gpus().expect("GPUs");
            eprintln!("NVML present: driver {:?}, {} GPU(s)", nvml.driver_version(), gpus.len());
            for g in gpus {
                eprintln!("{g}: {:?} {:?} ready={:?}", nvml.info(g), nvml.cc_settings(g), nvml.ready());
            }
        }
    }
    let err = NvmlBackend::with_library("/nonexistent/libnvidia-ml.so.1").open_nvml().expect_err("no library there");
    assert!(matches!(err, GpuError::Init { .. }), "{err}");
}
