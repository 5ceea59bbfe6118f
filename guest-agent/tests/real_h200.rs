//! The simulated GPU against what a real one answered.
//!
//! `tests/data/real-h200-2026-12-04/` holds what `ccgpu-guest-agent --probe` printed on a real NVIDIA H200
//! (driver 580.159.04, CC mode off, in a VM; see its PROVENANCE.md). The same probe runs here on the
//! simulated GPU in the same state, and every answer must have the same shape: the same values where the
//! simulation copies them (driver, VBIOS, modes, ready state) and the same NVML error where NVML refused
//! (`Unknown`, not `NotSupported`, for evidence while CC is off).

use std::path::PathBuf;
use std::sync::Arc;

use ccgpu_guest_agent::sim::{GpuFault, SimGpuModel, SimGpus};
use ccgpu_guest_agent::{GpuManagement as _, ProbeAnswer, probe};
use ccgpu_pci::PciAddress;
use serde_json::Value;

fn recorded() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real-h200-2026-12-04/agent-probe-1.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the recording is JSON")
}

fn sim_gpu(address: PciAddress) -> SimGpus {
    SimGpus::new(Arc::new(SimGpuModel::generate().expect("simulated PKIs")), &[address])
}

fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("GPU-") else { return false };
    let parts: Vec<&str> = rest.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn the_simulated_gpu_in_cc_off_answers_as_the_real_h200_did() {
    let real = recorded();
    let real = &real["survey"];
    let address: PciAddress = real["gpus"]["ok"][0].as_str().expect("one GPU").parse().expect("address");
    let gpu = sim_gpu(address);
    gpu.inject(GpuFault::CcOff(None));
    let sim = serde_json::to_value(probe(&gpu, &[7; 32])).expect("serializes");

    assert_eq!(sim["gpus"]["ok"], real["gpus"]["ok"]);
    assert_eq!(sim["ready"]["ok"], real["ready"]["ok"], "CC off: the ready state reads, as not ready");
    let (s, r) = (&sim["per_gpu"][0], &real["per_gpu"][0]);
    assert_eq!(s["cc_settings"]["ok"], r["cc_settings"]["ok"]);
    assert_eq!(s["info"]["ok"]["driver_version"], r["info"]["ok"]["driver_version"]);
    assert_eq!(s["info"]["ok"]["vbios_version"], r["info"]["ok"]["vbios_version"]);
    for uuid in [&s["info"]["ok"]["uuid"], &r["info"]["ok"]["uuid"]] {
        assert!(uuid.as_str().is_some_and(is_uuid), "{uuid}");
    }
    for call in ["attestation_report", "certificate_chain"] {
        assert_eq!(r[call]["error"]["nvml"], "Unknown", "the recording: {}", r[call]);
        assert_eq!(s[call]["error"]["nvml"], r[call]["error"]["nvml"], "{call}: {}", s[call]);
        assert!(s[call].get("ok").is_none());
    }
}

#[test]
fn in_cc_mode_the_simulated_report_names_the_firmware_info_reports() {
    let address: PciAddress = "0000:00:06.0".parse().expect("address");
    let gpu = sim_gpu(address);
    let info = gpu.info(address).expect("info");
    let report = gpu.attestation_report(address, &[7; 32]).expect("CC on: a report");
    let parsed = ccgpu_attestation::AttestationReport::parse(&report).expect("parses");
    let opaque = parsed.opaque();
    assert_eq!(opaque.driver_version.as_deref(), Some(info.driver_version.as_str()));
    assert_eq!(opaque.vbios_version.map(|v| v.dotted_upper()), Some(info.vbios_version.clone()));
    let real = recorded();
    assert_eq!(real["survey"]["per_gpu"][0]["info"]["ok"]["driver_version"], info.driver_version.as_str());
    assert_eq!(real["survey"]["per_gpu"][0]["info"]["ok"]["vbios_version"], info.vbios_version.as_str());
}

#[test]
fn the_probe_never_sets_the_ready_state() {
    let address: PciAddress = "0000:00:06.0".parse().expect("address");
    let gpu = sim_gpu(address);
    let survey = probe(&gpu, &[1; 32]);
    assert!(gpu.set_ready_calls().is_empty());
    assert!(matches!(survey.per_gpu[0].attestation_report.outcome, ProbeAnswer::Ok(_)));
    assert_eq!(gpu.report_calls(), 1);
}
