//! The report parser on real reports (H100 driver 550, NVIDIA's Hopper and Blackwell samples, Trustee's
//! Hopper report) and on systematic corruptions of the real H100 report, each refused with its precise
//! error: every truncation length, every fixed field, block and record sizes, and opaque data TLVs.

use ccgpu_test_support::{read_testdata, require_testdata_bytes};
use serde_json::Value;

use super::*;
use crate::x509::{CertChain, leaf_fwid, parse_one};

const H100_REPORT: &str = "nvidia/h100-550.90.07/attestation-report.hex";
const SDK: &str = "nvidia/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata";

fn hex_file(bytes: &[u8]) -> Vec<u8> {
    let text: String = String::from_utf8_lossy(bytes).split_whitespace().collect();
    hex::decode(text).expect("hex test vector")
}

fn real() -> Option<Vec<u8>> {
    read_testdata(H100_REPORT).map(|b| hex_file(&b))
}

// Offsets in the real H100 report (64 blocks of 48-byte digests, 3520-byte record).
const RESPONSE: usize = REQUEST_LEN;
const COUNT: usize = RESPONSE + 4;
const RECORD_LEN: usize = RESPONSE + 5;
const RECORD: usize = RESPONSE + 8;
/// Index(1) + MeasurementSpecification(1) + MeasurementSize(2) + type(1) + value size(2) + SHA-384(48).
const BLOCK: usize = 55;
const RESPONDER_NONCE: usize = RECORD + 64 * BLOCK;
const OPAQUE_LEN: usize = RESPONDER_NONCE + 32;
const OPAQUE: usize = OPAQUE_LEN + 2;

fn opaque_len(report: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([report[OPAQUE_LEN], report[OPAQUE_LEN + 1]]))
}

/// The report with its opaque data replaced by `opaque` (length field adjusted).
fn with_opaque(report: &[u8], opaque: &[u8]) -> Vec<u8> {
    let old = opaque_len(report);
    let mut out = report[..OPAQUE_LEN].to_vec();
    out.extend_from_slice(&u16::try_from(opaque.len()).expect("opaque length").to_le_bytes());
    out.extend_from_slice(opaque);
    out.extend_from_slice(&report[OPAQUE + old..]);
    out
}

fn tlv(data_type: u16, value: &[u8]) -> Vec<u8> {
    let mut out = data_type.to_le_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).expect("tlv length").to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// The real report's opaque TLVs as (type id, value).
fn real_tlvs(report: &[u8]) -> Vec<(u16, Vec<u8>)> {
    AttestationReport::parse(report)
        .expect("real report")
        .opaque()
        .entries
        .iter()
        .map(|e| (e.data_type as u16, e.value.clone()))
        .collect()
}

/// The real report with the value of opaque type `id` replaced (the TLV stays where it was).
fn with_opaque_value(report: &[u8], id: u16, value: &[u8]) -> Vec<u8> {
    let opaque: Vec<u8> =
        real_tlvs(report).into_iter().flat_map(|(t, v)| if t == id { tlv(t, value) } else { tlv(t, &v) }).collect();
    with_opaque(report, &opaque)
}

/// Absolute offset of the value of opaque type `id` in a report built by [`with_opaque_value`].
fn opaque_value_at(report: &[u8], id: u16) -> usize {
    let mut at = OPAQUE;
    for (t, v) in real_tlvs(report) {
        if t == id {
            return at + 4;
        }
        at += 4 + v.len();
    }
    panic!("no opaque type {id}")
}

fn opaque_value_err(report: &[u8], t: OpaqueType, value: &[u8]) -> (SpdmError, usize) {
    let changed = with_opaque_value(report, t as u16, value);
    let err = AttestationReport::parse(&changed).expect_err("must be refused");
    (err, opaque_value_at(report, t as u16))
}

fn field(err: SpdmError) -> (&'static str, usize, String, String) {
    match err {
        SpdmError::Field { field, offset, expected, found } => (field, offset, expected, found),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn real_h100_report_parses_into_its_fields() {
    let Some(raw) = real() else { return };
    let r = AttestationReport::parse(&raw).expect("real report");
    assert_eq!(raw.len(), 4117);
    assert_eq!(r.as_bytes(), &raw[..]);
    assert_eq!(r.signed_bytes().len(), raw.len() - SIGNATURE_LEN);
    assert_eq!(r.response().blocks.len(), 64);
    assert!(r.response().blocks.iter().all(|b| b.value.len() == 48 && b.value_type == 0x01));
    assert_eq!(OPAQUE + opaque_len(&raw) + SIGNATURE_LEN, raw.len());
    let o = r.opaque();
    assert_eq!(o.driver_version.as_deref(), Some("550.90.07"));
    assert_eq!(o.vbios_version.map(|v| v.rim_id_form()), Some("96009F0001".to_owned()));
    assert_eq!(
        (o.project.as_deref(), o.project_sku.as_deref(), o.chip_sku.as_deref()),
        (Some("1010"), Some("0200"), Some("882"))
    );
    assert!(o.fwid.is_some());
    assert_eq!(o.nvdec0_status, Some(Nvdec0Status::Disabled));
}

#[test]
fn every_truncation_is_refused_naming_the_field_it_cuts() {
    let Some(raw) = real() else { return };
    let opaque = opaque_len(&raw);
    let fields: [(&str, usize, usize); 16] = [
        ("request SPDMVersion", 0, 1),
        ("request RequestResponseCode", 1, 1),
        ("request Param1", 2, 1),
        ("request Param2", 3, 1),
        ("request Nonce", 4, 32),
        ("request SlotIDParam", 36, 1),
        ("response SPDMVersion", RESPONSE, 1),
        ("response RequestResponseCode", RESPONSE + 1, 1),
        ("response Param1", RESPONSE + 2, 1),
        ("response Param2", RESPONSE + 3, 1),
        ("response NumberOfBlocks", COUNT, 1),
        ("response MeasurementRecordLength", RECORD_LEN, 3),
        ("response MeasurementRecord", RECORD, 64 * BLOCK),
        ("response Nonce", RESPONDER_NONCE, 32),
        ("response OpaqueLength", OPAQUE_LEN, 2),
        ("response OpaqueData", OPAQUE, opaque),
    ];
    let mut all = fields.to_vec();
    all.push(("response Signature", OPAQUE + opaque, SIGNATURE_LEN));
    assert_eq!(all.last().map(|(_, at, n)| at + n), Some(raw.len()), "the fields tile the report");
    for len in 0..raw.len() {
        let (field, offset, needed) =
            all.iter().copied().find(|(_, at, n)| at + n > len).expect("a field covers every length");
        let expected = SpdmError::Truncated(Truncated { field, offset, needed, available: len.saturating_sub(offset) });
        assert_eq!(AttestationReport::parse(&raw[..len]), Err(expected), "truncated to {len} bytes");
    }
}

#[test]
fn trailing_bytes_and_oversize_reports_are_refused() {
    let Some(raw) = real() else { return };
    let mut longer = raw.clone();
    longer.push(0);
    assert_eq!(AttestationReport::parse(&longer), Err(SpdmError::TrailingBytes { offset: raw.len(), count: 1 }));
    longer.extend([0xff; 9]);
    assert_eq!(AttestationReport::parse(&longer), Err(SpdmError::TrailingBytes { offset: raw.len(), count: 10 }));
    let huge = vec![0u8; MAX_REPORT_LEN + 1];
    assert_eq!(AttestationReport::parse(&huge), Err(SpdmError::TooLarge(MAX_REPORT_LEN + 1)));
}

/// Trustee's Hopper sample report carries one 0x00 after the signature. NVIDIA's parser ignores it; the
/// bytes are then not what the GPU signed and sent, so ccgpu refuses the report.
#[test]
fn trustee_report_with_one_trailing_zero_is_refused() {
    let raw = hex_file(&require_testdata_bytes!("nvidia/trustee/hopper_coco_report1.txt"));
    assert_eq!(raw.len(), 4130);
    assert_eq!(raw.last(), Some(&0));
    assert_eq!(AttestationReport::parse(&raw), Err(SpdmError::TrailingBytes { offset: 4129, count: 1 }));
    // Without that byte it is a well-formed report.
    let r = AttestationReport::parse(&raw[..4129]).expect("the report proper parses");
    assert_eq!(r.response().blocks.len(), 64);
}

#[test]
fn fixed_request_and_response_fields_are_checked() {
    let Some(raw) = real() else { return };
    let cases: [(usize, u8, &str, &str); 10] = [
        (0, 0x10, "request SPDMVersion", "0x11"),
        (0, 0x12, "request SPDMVersion", "0x11"),
        (1, 0x60, "request RequestResponseCode", "0xe0 (GET_MEASUREMENTS)"),
        (2, 0x00, "request Param1", "0x01 (signature requested)"),
        (3, 0x01, "request Param2", "0xff (all measurement blocks)"),
        (RESPONSE, 0x12, "response SPDMVersion", "0x11 (as requested)"),
        (RESPONSE + 1, 0xe0, "response RequestResponseCode", "0x60 (MEASUREMENTS)"),
        (RESPONSE + 2, 0x40, "response Param1", "0x00 (reserved when all blocks are requested)"),
        (RESPONSE + 3, 0x01, "response Param2", "0x00 (the requested slot)"),
        (RECORD + 1, 0x02, "measurement block MeasurementSpecification", "0x01 (DMTF)"),
    ];
    for (at, value, name, expected) in cases {
        let mut r = raw.clone();
        r[at] = value;
        let (f, offset, exp, found) = field(AttestationReport::parse(&r).expect_err(name));
        assert_eq!((f, offset, exp.as_str(), found), (name, at, expected, format!("{value:#04x}")), "byte {at}");
    }
    // Slot 8 is out of range; slots 1..=7 are accepted only when the response names the same slot.
    let mut r = raw.clone();
    r[36] = 8;
    assert_eq!(
        field(AttestationReport::parse(&r).expect_err("slot 8")),
        ("request SlotIDParam", 36, "0..=7".into(), "8".into())
    );
    r[36] = 3;
    let (f, offset, ..) = field(AttestationReport::parse(&r).expect_err("slot mismatch"));
    assert_eq!((f, offset), ("response Param2", RESPONSE + 3));
    r[RESPONSE + 3] = 3;
    assert!(matches!(AttestationReport::parse(&r), Ok(p) if p.request().slot == 3));
}

#[test]
fn block_count_and_indexes_are_checked() {
    let Some(raw) = real() else { return };
    let mut r = raw.clone();
    r[COUNT] = 0;
    assert_eq!(
        field(AttestationReport::parse(&r).expect_err("zero blocks")),
        ("response NumberOfBlocks", COUNT, "at least 1".into(), "0".into())
    );

    // Non-contiguous: block 2 claims index 3; block 1 claims index 0; the last block repeats 63.
    for (position, index) in [(1usize, 3u8), (0, 0), (63, 63), (10, 12)] {
        let mut r = raw.clone();
        r[RECORD + position * BLOCK] = index;
        assert_eq!(
            AttestationReport::parse(&r),
            Err(SpdmError::NonContiguousBlock {
                position,
                offset: RECORD + position * BLOCK,
                expected: position + 1,
                found: index
            })
        );
    }

    // One block fewer than the record holds, and one more.
    let mut r = raw.clone();
    r[COUNT] = 63;
    assert_eq!(
        AttestationReport::parse(&r),
        Err(SpdmError::RecordLengthMismatch { offset: RECORD, declared: 64 * BLOCK, blocks: 63, used: 63 * BLOCK })
    );
    r[COUNT] = 65;
    assert_eq!(
        AttestationReport::parse(&r),
        Err(SpdmError::Truncated(Truncated {
            field: "measurement block Index",
            offset: RECORD + 64 * BLOCK,
            needed: 1,
            available: 0
        }))
    );
}

#[test]
fn block_and_record_sizes_must_agree() {
    let Some(raw) = real() else { return };
    let size_at = RECORD + 2; // block 1's MeasurementSize (u16)
    let value_size_at = RECORD + 5; // its DMTFSpecMeasurementValueSize (u16)
    let with = |at: usize, v: u16| {
        let mut r = raw.clone();
        r[at..at + 2].copy_from_slice(&v.to_le_bytes());
        r
    };
    let mismatch = |measurement_size, value_size| SpdmError::BlockSizeMismatch {
        index: 1,
        offset: RECORD,
        measurement_size,
        value_size,
    };
    assert_eq!(AttestationReport::parse(&with(size_at, 52)), Err(mismatch(52, 48)));
    assert_eq!(AttestationReport::parse(&with(size_at, 48)), Err(mismatch(48, 48)));
    assert_eq!(AttestationReport::parse(&with(value_size_at, 47)), Err(mismatch(51, 47)));
    // MeasurementSize cannot hold 3 + 0xffff: refused even though the saturated sum "matches".
    let r = with(size_at, u16::MAX);
    let mut r2 = r.clone();
    r2[value_size_at..value_size_at + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    assert_eq!(AttestationReport::parse(&r2), Err(mismatch(u16::MAX, u16::MAX)));
    // A consistent block size that runs past the record.
    let mut r = with(size_at, 3 + 0x2000);
    r[value_size_at..value_size_at + 2].copy_from_slice(&0x2000u16.to_le_bytes());
    assert_eq!(
        AttestationReport::parse(&r),
        Err(SpdmError::Truncated(Truncated {
            field: "measurement block DMTFSpecMeasurementValue",
            offset: RECORD + 7,
            needed: 0x2000,
            available: 64 * BLOCK - 7
        }))
    );

    // MeasurementRecordLength one byte short and one byte long.
    let set_len = |len: u32| {
        let mut r = raw.clone();
        r[RECORD_LEN..RECORD_LEN + 3].copy_from_slice(&len.to_le_bytes()[..3]);
        r
    };
    let declared = u32::try_from(64 * BLOCK).expect("record length");
    assert_eq!(
        AttestationReport::parse(&set_len(declared + 1)),
        Err(SpdmError::RecordLengthMismatch { offset: RECORD, declared: 64 * BLOCK + 1, blocks: 64, used: 64 * BLOCK })
    );
    assert_eq!(
        AttestationReport::parse(&set_len(declared - 1)),
        Err(SpdmError::Truncated(Truncated {
            field: "measurement block DMTFSpecMeasurementValue",
            offset: RECORD + 63 * BLOCK + 7,
            needed: 48,
            available: 47
        }))
    );
    // A record length larger than the whole report.
    assert_eq!(
        AttestationReport::parse(&set_len(0xff_ffff)),
        Err(SpdmError::Truncated(Truncated {
            field: "response MeasurementRecord",
            offset: RECORD,
            needed: 0xff_ffff,
            available: raw.len() - RECORD
        }))
    );
}

#[test]
fn opaque_tlvs_unknown_duplicate_and_truncated() {
    let Some(raw) = real() else { return };
    for unknown in [0u16, 26, 31, 37, 0xffff] {
        let r = with_opaque(&raw, &tlv(unknown, &[1]));
        assert_eq!(
            AttestationReport::parse(&r),
            Err(SpdmError::UnknownOpaqueType { data_type: unknown, offset: OPAQUE })
        );
    }
    // Every documented type is understood.
    for id in (1..=25).chain(32..=36) {
        assert!(OpaqueType::from_id(id).is_some_and(|t| t as u16 == id), "type {id}");
    }

    let mut opaque = tlv(3, b"550.90.07\0");
    let second = opaque.len();
    opaque.extend(tlv(3, b"550.90.07\0"));
    assert_eq!(
        AttestationReport::parse(&with_opaque(&raw, &opaque)),
        Err(SpdmError::DuplicateOpaqueType { data_type: OpaqueType::DriverVersion, offset: OPAQUE + second })
    );

    // A TLV cut in its type, its size and its value.
    let cut = |opaque: &[u8]| AttestationReport::parse(&with_opaque(&raw, opaque));
    let truncated =
        |field, offset, needed, available| Err(SpdmError::Truncated(Truncated { field, offset, needed, available }));
    assert_eq!(cut(&[3]), truncated("opaque DataType", OPAQUE, 2, 1));
    assert_eq!(cut(&[3, 0, 10]), truncated("opaque DataSize", OPAQUE + 2, 2, 1));
    assert_eq!(cut(&[3, 0, 10, 0, b'5']), truncated("opaque Data", OPAQUE + 4, 10, 1));

    // No opaque data at all parses (later checks then find no FWID, no versions).
    let r = AttestationReport::parse(&with_opaque(&raw, &[])).expect("empty opaque data");
    assert_eq!(r.opaque(), &OpaqueData::default());
    // An opaque length that runs into the signature leaves too little for it.
    let mut r = raw.clone();
    let n = u16::try_from(opaque_len(&raw) + 1).expect("u16");
    r[OPAQUE_LEN..OPAQUE_LEN + 2].copy_from_slice(&n.to_le_bytes());
    assert!(matches!(
        AttestationReport::parse(&r),
        Err(SpdmError::Truncated(Truncated { field: "opaque DataType", .. }))
    ));
}

#[test]
fn opaque_values_must_have_their_format() {
    let Some(raw) = real() else { return };
    let refused = |t: OpaqueType, value: &[u8], reason: &str| {
        let (err, at) = opaque_value_err(&raw, t, value);
        assert_eq!(
            err,
            SpdmError::OpaqueValue { data_type: t, offset: at, reason: reason.to_owned() },
            "{t:?} {value:?}"
        );
    };
    refused(OpaqueType::Nvdec0Status, &[0x00], "expected one byte 0xaa or 0x55, found 00");
    refused(OpaqueType::Nvdec0Status, &[0xaa, 0x55], "expected one byte 0xaa or 0x55, found aa55");
    refused(OpaqueType::Nvdec0Status, &[], "expected one byte 0xaa or 0x55, found ");
    refused(OpaqueType::Fwid, &[7; 47], "47 bytes, expected 48");
    refused(OpaqueType::Fwid, &[7; 49], "49 bytes, expected 48");
    refused(OpaqueType::VbiosVersion, &[0; 7], "7 bytes, expected 8");
    refused(OpaqueType::Msrscnt, &[0; 6], "6 bytes is not a whole number of 32-bit counters");

    // Identifiers become parts of RIM ids and file names: separators, dot-dot and NULs inside are refused.
    refused(OpaqueType::DriverVersion, b"550/90/07", "byte 0x2f is not allowed in an identifier");
    refused(OpaqueType::DriverVersion, b"..", "driver version \"..\" has an empty dot-separated component");
    refused(OpaqueType::DriverVersion, b"550..07", "driver version \"550..07\" has an empty dot-separated component");
    refused(OpaqueType::DriverVersion, b".550", "driver version \".550\" has an empty dot-separated component");
    refused(OpaqueType::DriverVersion, b"550.\0\0", "driver version \"550.\" has an empty dot-separated component");
    refused(OpaqueType::DriverVersion, b"550\x0090.07", "byte 0x00 is not allowed in an identifier");
    refused(OpaqueType::DriverVersion, b"\0\0\0", "identifier of 0 characters (1..=32 allowed)");
    refused(OpaqueType::DriverVersion, &[b'1'; 33], "identifier of 33 characters (1..=32 allowed)");
    refused(OpaqueType::Project, b"10.0", "byte 0x2e is not allowed in an identifier");
    refused(OpaqueType::Project, b"../x", "byte 0x2e is not allowed in an identifier");
    refused(OpaqueType::ProjectSku, b"02\\0", "byte 0x5c is not allowed in an identifier");
    refused(OpaqueType::ChipSku, b" 882", "byte 0x20 is not allowed in an identifier");
    refused(OpaqueType::ChipSku, b"8\x0082\0", "byte 0x00 is not allowed in an identifier");

    // Trailing NULs and spaces are padding; hex chip SKUs are upper-cased.
    let r =
        AttestationReport::parse(&with_opaque_value(&raw, OpaqueType::ChipSku as u16, b"88a \0\0")).expect("padded");
    assert_eq!(r.opaque().chip_sku.as_deref(), Some("88A"));
    let r = AttestationReport::parse(&with_opaque_value(&raw, OpaqueType::DriverVersion as u16, b"575.32\0"))
        .expect("2-part");
    assert_eq!(r.opaque().driver_version.as_deref(), Some("575.32"));
}

#[test]
fn typed_values_of_the_newer_tlvs() {
    let Some(raw) = real() else { return };
    let newer = [21u16, 22, 34, 35, 36];
    let mut opaque: Vec<u8> =
        real_tlvs(&raw).into_iter().filter(|(t, _)| !newer.contains(t)).flat_map(|(t, v)| tlv(t, &v)).collect();
    let base = opaque.len();
    opaque.extend(tlv(34, &[2, 0]));
    opaque.extend(tlv(35, b"gb100\0"));
    opaque.extend(tlv(36, &[2]));
    opaque.extend(tlv(22, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]));
    opaque.extend(tlv(21, &[0x55]));
    let r = AttestationReport::parse(&with_opaque(&raw, &opaque)).expect("with newer TLVs");
    let o = r.opaque();
    assert_eq!(o.opaque_version, Some(2));
    assert_eq!(o.chip_info.as_deref(), Some("GB100"));
    assert_eq!(o.feature_flag, Some(FeatureFlag::ProtectedPcie));
    assert_eq!(o.switch_pdis.as_ref().map(Vec::len), Some(2));
    assert_eq!(o.protected_pcie_status, Some(0x55));

    let bad = |t: u16, v: &[u8]| {
        let mut o = opaque[..base].to_vec();
        o.extend(tlv(t, v));
        AttestationReport::parse(&with_opaque(&raw, &o)).expect_err("refused")
    };
    let reason = |e: SpdmError| match e {
        SpdmError::OpaqueValue { offset, reason, .. } => (offset, reason),
        other => panic!("{other:?}"),
    };
    let value_at = OPAQUE + base + 4;
    assert_eq!(reason(bad(36, &[3])), (value_at, "unknown feature flag 3".into()));
    assert_eq!(reason(bad(34, &[])), (value_at, "0 bytes, expected a 1..=4 byte integer".into()));
    assert_eq!(reason(bad(34, &[0; 5])), (value_at, "5 bytes, expected a 1..=4 byte integer".into()));
    assert_eq!(reason(bad(35, b"GB/100")), (value_at, "byte 0x2f is not allowed in an identifier".into()));
    assert_eq!(reason(bad(22, &[0; 9])), (value_at, "9 bytes is not a whole number of 8-byte PDIs".into()));
    assert_eq!(reason(bad(21, &[])), (value_at, "0 bytes, expected 1".into()));
}

/// NVIDIA's C++ SDK parses `hopperAttestationReport.txt` into `spdm_req_parsed_output.json` and
/// `spdm_parsed_output.json`; our parse must agree on every field they print.
#[test]
fn parity_with_nvidias_parse_of_the_sdk_sample() {
    let raw = hex_file(&require_testdata_bytes!(&format!("{SDK}/hopperAttestationReport.txt")));
    let resp: Value =
        serde_json::from_slice(&require_testdata_bytes!(&format!("{SDK}/spdm_parsed_output.json"))).expect("json");
    let req: Value =
        serde_json::from_slice(&require_testdata_bytes!(&format!("{SDK}/spdm_req_parsed_output.json"))).expect("json");
    let r = AttestationReport::parse(&raw).expect("NVIDIA's sample parses");
    let h8 = |b: u8| format!("{b:#04x}");
    let hx = |b: &[u8]| format!("0x{}", hex::encode(b));
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k}")).to_owned();

    let q = r.request();
    assert_eq!(s(&req, "SPDMVersion"), h8(q.version));
    assert_eq!(s(&req, "RequestResponseCode"), "0xe0");
    assert_eq!(s(&req, "Param1"), h8(q.param1));
    assert_eq!(s(&req, "Param2"), h8(q.param2));
    assert_eq!(s(&req, "Nonce"), hx(&q.nonce));
    assert_eq!(s(&req, "SlotIDParam"), h8(q.slot));

    let p = r.response();
    assert_eq!(s(&resp, "SPDMVersion"), h8(p.version));
    assert_eq!(s(&resp, "RequestResponseCode"), "0x60");
    assert_eq!(s(&resp, "Param1"), "0x00");
    assert_eq!(s(&resp, "Param2"), h8(q.slot));
    assert_eq!(resp["NumberOfBlocks"].as_u64(), Some(p.blocks.len() as u64));
    assert_eq!(resp["MeasurementRecord"]["NumberOfBlocks"].as_u64(), Some(p.blocks.len() as u64));
    assert_eq!(
        resp["MeasurementRecordLength"].as_u64(),
        Some((p.blocks.iter().map(|b| 7 + b.value.len()).sum::<usize>()) as u64)
    );
    assert_eq!(s(&resp, "Nonce"), hx(&p.responder_nonce));
    assert_eq!(s(&resp, "Signature"), hx(&p.signature));
    let opaque_bytes: usize = p.opaque.entries.iter().map(|e| 4 + e.value.len()).sum();
    assert_eq!(resp["OpaqueLength"].as_u64(), Some(opaque_bytes as u64));
    assert_eq!(raw.len(), REQUEST_LEN + 8 + 64 * BLOCK + 32 + 2 + opaque_bytes + SIGNATURE_LEN);

    let blocks = resp["MeasurementRecord"]["MeasurementBlocks"].as_object().expect("blocks");
    assert_eq!(blocks.len(), p.blocks.len());
    for b in &p.blocks {
        let theirs = &blocks[&b.index.to_string()];
        assert_eq!(theirs["DMTFSpecMeasurementValueType"].as_u64(), Some(u64::from(b.value_type)), "block {}", b.index);
        assert_eq!(theirs["DMTFSpecMeasurementValueSize"].as_u64(), Some(b.value.len() as u64), "block {}", b.index);
        assert_eq!(s(theirs, "DMTFSpecMeasurementValue"), hx(&b.value), "block {}", b.index);
    }

    // NVIDIA's printer leaves out the opaque data version (34) and the feature flag (36).
    let fields = resp["OpaqueData"]["OpaqueDataField"].as_object().expect("opaque fields");
    let unprinted = [OpaqueType::OpaqueDataVersion, OpaqueType::FeatureFlag];
    assert_eq!(fields.len() + unprinted.len(), p.opaque.entries.len());
    for e in &p.opaque.entries {
        let name = serde_json::to_value(e.data_type).expect("type name");
        let key = format!("OPAQUE_FIELD_ID_{}", name.as_str().expect("string"));
        let Some(theirs) = fields.get(&key) else {
            assert!(unprinted.contains(&e.data_type), "NVIDIA has no {key}");
            continue;
        };
        if e.data_type == OpaqueType::Msrscnt {
            let counters: Vec<u64> = theirs.as_array().expect("list").iter().filter_map(Value::as_u64).collect();
            let ours: Vec<u64> = p.opaque.msrscnt.as_ref().expect("msrscnt").iter().map(|&c| u64::from(c)).collect();
            assert_eq!(counters, ours);
        } else {
            assert_eq!(theirs.as_str(), Some(hx(&e.value).as_str()), "{key}");
        }
    }
    let o = &p.opaque;
    assert_eq!(o.driver_version.as_deref(), Some("580.159.03"));
    assert_eq!(o.nvdec0_status, Some(Nvdec0Status::Disabled));
    assert_eq!((o.opaque_version, o.feature_flag), (Some(1), Some(FeatureFlag::SinglePassthrough)));
    assert_eq!(
        (o.project.as_deref(), o.project_sku.as_deref(), o.chip_sku.as_deref()),
        (Some("1010"), Some("0205"), Some("862"))
    );
}

/// NVIDIA's Hopper and Blackwell samples: the Blackwell report's FWID (type 20) equals the first fwid of
/// the DICE TcbInfo extension (2.23.133.5.4.1.1) of its attestation certificate.
#[test]
fn blackwell_sample_fwid_matches_its_certificate_tcb_info() {
    let gpu = format!("{SDK}/sample_attestation_data/gpu");
    let raw = hex_file(&require_testdata_bytes!(&format!("{gpu}/blackwellAttestationReport.txt")));
    let chain = CertChain::from_pem(&require_testdata_bytes!(&format!("{gpu}/blackwellCertChain.txt"))).expect("chain");
    let r = AttestationReport::parse(&raw).expect("Blackwell sample parses");
    let o = r.opaque();
    assert_eq!(o.driver_version.as_deref(), Some("575.32"));
    assert_eq!(o.opaque_version, Some(0));
    let leaf = parse_one(&chain.ders()[0]).expect("leaf");
    let cert_fwid = leaf_fwid(&leaf).expect("well-formed").expect("a TcbInfo FWID");
    assert_eq!(o.fwid, Some(cert_fwid));
    assert_eq!(
        hex::encode(cert_fwid),
        "d090cab1b6e6ffddca83d1781e25b3f040fa1f3c7608230cb5f41b1c1b99f5f748349e59d0ef8eb830c9bc79ccf77502"
    );

    // The Hopper sample (driver 535) predates the FWID TLV, while its certificate has one.
    let raw = hex_file(&require_testdata_bytes!(&format!("{gpu}/hopperAttestationReport.txt")));
    let r = AttestationReport::parse(&raw).expect("Hopper sample parses");
    assert_eq!(r.opaque().fwid, None);
    assert_eq!(r.opaque().driver_version.as_deref(), Some("535.86.09"));
}

#[test]
fn h100_report_fwid_matches_its_certificate() {
    let Some(raw) = real() else { return };
    let pem = require_testdata_bytes!("nvidia/h100-550.90.07/cert-chain.pem");
    let chain = CertChain::from_pem(&pem).expect("chain");
    let leaf = parse_one(&chain.ders()[0]).expect("leaf");
    let r = AttestationReport::parse(&raw).expect("report");
    assert_eq!(leaf_fwid(&leaf), Ok(r.opaque().fwid));
}

/// Inputs the fuzzers found (fuzz/README.md), kept as regressions.
#[test]
fn fuzz_regressions() {
    let Some(raw) = real() else { return };
    // spdm_report: a driver version "535.8..09" was accepted and became part of a RIM id.
    let (err, at) = opaque_value_err(&raw, OpaqueType::DriverVersion, b"535.8..09\0");
    assert_eq!(
        err,
        SpdmError::OpaqueValue {
            data_type: OpaqueType::DriverVersion,
            offset: at,
            reason: "driver version \"535.8..09\" has an empty dot-separated component".into()
        }
    );
}
