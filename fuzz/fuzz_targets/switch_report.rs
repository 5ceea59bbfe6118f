//! `AttestationReport::parse_switch` (the NVSwitch LS10 layout) on arbitrary bytes, then the switch
//! values and the topology check over them, with the invariants a parsed switch report must satisfy: the
//! bytes are kept exactly, the switch values exist only in the switch layout, the GPU list has its fixed
//! length and every port maps to one of its GPUs or to none, the VBIOS version is a safe identifier, and
//! the topology check never affirms a board it was not given.
#![no_main]

use ccgpu_attestation::{
    AttestationReport, DeviceLinks, SWITCH_GPU_PDIS, Verdict, appraise_topology, testing::spdm::SIGNATURE_LEN,
};
use ccgpu_fuzz::safe_component;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let gpu = AttestationReport::parse(data);
    let Ok(report) = AttestationReport::parse_switch(data) else { return };
    assert_eq!(report.as_bytes(), data);
    assert_eq!(report.signed_bytes(), &data[..data.len() - SIGNATURE_LEN]);
    if let Ok(g) = gpu {
        assert!(g.opaque().switch.is_none(), "a GPU parse never carries switch values");
    }
    let o = report.opaque();
    let s = o.switch.as_ref().expect("the switch layout always carries its values");
    assert!(o.vbios_version.is_none(), "a switch's VBIOS version is text, never the GPU's 8 bytes");
    if let Some(v) = &s.vbios_version {
        assert!(safe_component(v), "unsafe VBIOS version {v:?}");
    }
    if let Some(list) = &s.gpu_pdis {
        assert_eq!(list.len(), SWITCH_GPU_PDIS);
        let ports = s.ports.as_ref().expect("the port map comes with the PDIs");
        assert!(ports.iter().all(|&p| p == 0xff || usize::from(p) < SWITCH_GPU_PDIS));
        // One switch and its own GPU list is never a board: the topology is never affirming.
        let switch = DeviceLinks { pdi: s.device_pdi, peers: Some(list.clone()) };
        let gpus: Vec<DeviceLinks> =
            list.iter().map(|p| DeviceLinks { pdi: Some(*p), peers: s.device_pdi.map(|d| vec![d]) }).collect();
        let t = appraise_topology(&gpus, &[switch]);
        assert_ne!(t.verdict, Verdict::Affirming);
    }
    let _ = serde_json::to_string(s).expect("serializes");
});
