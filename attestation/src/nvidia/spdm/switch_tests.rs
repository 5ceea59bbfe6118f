//! The LS10 (NVSwitch) layout: NVIDIA's SDK sample parsed and compared with NVIDIA's own parse of it, and
//! malformed switch opaque data refused, naming the type and the offset.

use ccgpu_test_support::{read_testdata, require_testdata_bytes};
use serde_json::Value;

use super::*;

const SDK: &str = "nvidia/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata";

fn sample() -> Option<Vec<u8>> {
    let text = read_testdata(&format!("{SDK}/switchAttestationReport.txt"))?;
    Some(hex::decode(String::from_utf8_lossy(&text).split_whitespace().collect::<String>()).expect("hex"))
}

/// The report with its opaque data replaced (lengths fixed up; the signature no longer verifies).
fn with_opaque(report: &[u8], opaque: &[u8]) -> Vec<u8> {
    let r = AttestationReport::parse_switch(report).expect("sample parses");
    let old: usize = r.opaque().entries.iter().map(|e| 4 + e.value.len()).sum();
    let end = report.len() - SIGNATURE_LEN;
    let start = end - old;
    let mut out = report[..start - 2].to_vec();
    out.extend_from_slice(&u16::try_from(opaque.len()).expect("small").to_le_bytes());
    out.extend_from_slice(opaque);
    out.extend_from_slice(&report[end..]);
    out
}

fn tlvs(report: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let r = AttestationReport::parse_switch(report).expect("sample parses");
    r.opaque().entries.iter().map(|e| (e.data_type as u16, e.value.clone())).collect()
}

fn encode(list: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, v) in list {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&u16::try_from(v.len()).expect("small").to_le_bytes());
        out.extend_from_slice(v);
    }
    out
}

fn replaced(report: &[u8], id: u16, value: Vec<u8>) -> Vec<u8> {
    let list: Vec<(u16, Vec<u8>)> =
        tlvs(report).into_iter().map(|(t, v)| if t == id { (t, value.clone()) } else { (t, v) }).collect();
    with_opaque(report, &encode(&list))
}

#[test]
fn sdk_switch_sample_matches_nvidias_parse() {
    let Some(raw) = sample() else { return };
    let theirs: Value =
        serde_json::from_slice(&require_testdata_bytes!(&format!("{SDK}/switch_spdm_parsed_output.json")))
            .expect("json");
    let req: Value =
        serde_json::from_slice(&require_testdata_bytes!(&format!("{SDK}/switch_spdm_req_parsed_output.json")))
            .expect("json");
    let r = AttestationReport::parse_switch(&raw).expect("NVIDIA's LS10 sample parses");
    let hx = |b: &[u8]| format!("0x{}", hex::encode(b));
    assert_eq!(req["Nonce"].as_str(), Some(hx(&r.request().nonce).as_str()));
    let p = r.response();
    assert_eq!(theirs["NumberOfBlocks"].as_u64(), Some(p.blocks.len() as u64));
    assert_eq!(theirs["Nonce"].as_str(), Some(hx(&p.responder_nonce).as_str()));
    assert_eq!(theirs["Signature"].as_str(), Some(hx(&p.signature).as_str()));
    let opaque_len: usize = p.opaque.entries.iter().map(|e| 4 + e.value.len()).sum();
    assert_eq!(theirs["OpaqueLength"].as_u64(), Some(opaque_len as u64));
    let blocks = theirs["MeasurementRecord"]["MeasurementBlocks"].as_object().expect("blocks");
    assert_eq!(blocks.len(), p.blocks.len());
    for b in &p.blocks {
        let t = &blocks[&b.index.to_string()];
        assert_eq!(t["DMTFSpecMeasurementValue"].as_str(), Some(hx(&b.value).as_str()), "block {}", b.index);
    }

    let o = &theirs["OpaqueData"]["OpaqueDataField"];
    let s = r.opaque().switch.as_ref().expect("switch layout");
    assert_eq!(o["OPAQUE_FIELD_ID_DEVICE_PDI"].as_str(), Some(format!("0x{}", s.device_pdi.expect("pdi")).as_str()));
    let gpus: Vec<String> = s.gpu_pdis.as_ref().expect("gpu pdis").iter().map(|p| format!("0x{p}")).collect();
    let their_gpus: Vec<String> = o["OPAQUE_FIELD_ID_SWITCH_GPU_PDIS"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v.as_str().expect("s").to_owned())
        .collect();
    assert_eq!(gpus, their_gpus);
    let ports: Vec<String> = s.ports.as_ref().expect("ports").iter().map(|b| format!("{b:#04x}")).collect();
    let their_ports: Vec<String> = o["OPAQUE_FIELD_ID_SWITCH_PORT"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v.as_str().expect("s").to_owned())
        .collect();
    assert_eq!(ports, their_ports);
    // NVIDIA writes the version as the hex of its ASCII bytes, the position and lock status as raw hex,
    // and expands each disabled-port mask bit into four entries.
    assert_eq!(
        o["OPAQUE_FIELD_ID_VBIOS_VERSION"].as_str(),
        Some(hx(s.vbios_version.as_deref().expect("vbios").as_bytes()).as_str())
    );
    let raw_of = |t: OpaqueType| hx(&r.opaque().entries.iter().find(|e| e.data_type == t).expect("present").value);
    assert_eq!(o["OPAQUE_FIELD_ID_SWITCH_POSITION_ID"].as_str(), Some(raw_of(OpaqueType::PositionId).as_str()));
    assert_eq!(o["OPAQUE_FIELD_ID_SWITCH_LOCK_STATUS"].as_str(), Some(raw_of(OpaqueType::LockSwitchStatus).as_str()));
    assert_eq!((s.position, s.lock_status), (Some(2), Some(1)), "little-endian 0x0200 and 0x0100");
    let mask = u64::from_str_radix(s.disabled_ports.as_deref().expect("mask"), 16).expect("hex");
    let bits = format!("{mask:b}");
    let expanded: Vec<u64> = bits.chars().flat_map(|c| [u64::from(c == '1'); 4]).collect();
    let theirs_ports: Vec<u64> =
        o["OPAQUE_FIELD_ID_DISABLED_PORTS"].as_array().expect("list").iter().map(|v| v.as_u64().expect("n")).collect();
    assert_eq!(expanded, theirs_ports);
    let msr: Vec<u64> =
        o["OPAQUE_FIELD_ID_MSRSCNT"].as_array().expect("list").iter().map(|v| v.as_u64().expect("n")).collect();
    assert_eq!(r.opaque().msrscnt.as_ref().expect("msrscnt").iter().map(|&c| u64::from(c)).collect::<Vec<_>>(), msr);
    assert!(r.opaque().fwid.is_none() && r.opaque().vbios_version.is_none(), "no GPU-only values from a switch");
}

#[test]
fn layouts_do_not_mix() {
    let Some(raw) = sample() else { return };
    // Type 26 is a switch's; a GPU report carrying it is refused, as is a GPU-only type in a switch report.
    match AttestationReport::parse(&raw) {
        Err(SpdmError::UnknownOpaqueType { data_type: 26, .. }) | Err(SpdmError::OpaqueValue { .. }) => {}
        other => panic!("a switch report read as a GPU's: {other:?}"),
    }
    let mut list = tlvs(&raw);
    list.push((36, vec![2]));
    match AttestationReport::parse_switch(&with_opaque(&raw, &encode(&list))) {
        Err(SpdmError::UnknownOpaqueType { data_type: 36, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_switch_values_are_refused_naming_type_and_offset() {
    let Some(raw) = sample() else { return };
    let cases: Vec<(u16, Vec<u8>, &str)> = vec![
        (22, vec![1; 7], "8-byte PDI"),
        (22, vec![1; 9], "8-byte PDI"),
        (26, vec![0; 127], "expected 8 8-byte PDIs"),
        (26, vec![0; 129], "expected 8 8-byte PDIs"),
        (26, [vec![0u8; 64], vec![8u8], vec![0xffu8; 63]].concat(), "port 0 maps to GPU 8"),
        (6, b"96..10".to_vec(), "empty dot-separated component"),
        (6, b"96/10".to_vec(), "not allowed"),
        (24, vec![], "1..=4 byte integer"),
        (25, vec![0; 5], "1..=4 byte integer"),
        (23, vec![], "port mask"),
    ];
    for (id, value, want) in cases {
        let bad = replaced(&raw, id, value.clone());
        match AttestationReport::parse_switch(&bad) {
            Err(SpdmError::OpaqueValue { data_type, offset, reason }) => {
                assert_eq!(data_type as u16, id);
                assert!(reason.contains(want), "type {id}: {reason}");
                assert!(offset > REQUEST_LEN && offset < bad.len(), "offset {offset}");
            }
            other => panic!("type {id} value {}: {other:?}", hex::encode(&value)),
        }
    }
    // Every truncation of the opaque data is refused.
    let r = AttestationReport::parse_switch(&raw).expect("parses");
    let opaque = encode(&tlvs(&raw));
    for cut in 1..opaque.len() {
        if let Ok(x) = AttestationReport::parse_switch(&with_opaque(&raw, &opaque[..cut])) {
            // A cut on a TLV boundary leaves fewer TLVs, never the same data.
            assert_ne!(x.opaque(), r.opaque(), "cut {cut}");
        }
    }
}

#[test]
fn gpu_switch_pdis_are_read_little_endian_and_unused_links_dropped() {
    let o = OpaqueData {
        switch_pdis: Some(vec![[1, 2, 3, 4, 5, 6, 7, 8], [0; 8], [1, 2, 3, 4, 5, 6, 7, 8]]),
        ..OpaqueData::default()
    };
    let list = o.connected_switch_pdis().expect("listed");
    assert_eq!(list, vec![Pdi([8, 7, 6, 5, 4, 3, 2, 1]); 2]);
    assert_eq!(Pdi::from_certificate_serial(&[0x50, 8, 7, 6, 5, 4, 3, 2, 1]), Some(list[0]));
    assert_eq!(Pdi::from_certificate_serial(&[8, 7, 6, 5, 4, 3, 2, 1]), None);
}
