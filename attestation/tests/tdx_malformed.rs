//! Malformed TDX quotes and collateral: each structural violation is refused with an error naming the
//! field and offset (quotes) or the document and field (collateral); nothing panics.

mod tdx_common;

use ccgpu_attestation::{
    MAX_QUOTE_LEN, PckExtension, QeIdentity, TcbInfo, TdxCollateral, TdxQuote, crl_der, split_signed,
};

use tdx_common::*;

fn err(q: &[u8]) -> String {
    TdxQuote::parse(q).expect_err("refused").to_string()
}

fn with(q: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut m = q.to_vec();
    m[at..at + bytes.len()].copy_from_slice(bytes);
    m
}

#[test]
fn every_header_and_size_field_is_strict() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(v5) = quote("go-tdx-guest/quote_v5_sample.dat") else { return };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (with(&q, 0, &[3, 0]), "version at byte 0"),
        (with(&q, 0, &[6, 0]), "version at byte 0"),
        (with(&q, 2, &[3, 0]), "attestation key type at byte 2"),
        (with(&q, 4, &[0, 0, 0, 0]), "TEE type at byte 4"),
        (with(&q, 8, &[1]), "header reserved at byte 8"),
        (with(&q, 12, &[0]), "QE vendor id at byte 12"),
        // v5: body type 4 is unknown; type 2 with the 1.5 size disagrees.
        (with(&v5, 48, &[4, 0]), "body type at byte 48"),
        (with(&v5, 48, &[2, 0]), "body size at byte 50"),
        (with(&v5, 50, &[0x89, 2]), "body size at byte 50"),
        // Certification data type 5 where 6 is required (the PCK chain must come with the QE report).
        (with(&q, 636 + 128, &[5, 0]), "certification data type at byte 764"),
        // The inner certification data type (636 + 134 + 384 + 64 + 2 + 32).
        (with(&q, 636 + 134 + 482, &[4, 0]), "PCK certification data type"),
        // A signature data length one short leaves the certification data truncated.
        (with(&q, 632, &(4300u32 - 1).to_le_bytes()), "truncated"),
        // One more than the certification data holds.
        (with(&q, 636 + 130, &(4166u32 + 1).to_le_bytes()), "truncated"),
        // The QE report's reserved bytes (636 + 134 + 20).
        (with(&q, 636 + 134 + 20, &[1]), "QE report reserved at byte 790"),
        (with(&q, 636 + 134 + 300, &[1]), "QE report reserved"),
    ];
    for (m, want) in cases {
        let e = err(&m);
        assert!(e.contains(want), "{want}: {e}");
    }
    // Slack inside the signature data: the outer size one larger than its contents (and a byte to cover it).
    let mut slack = with(&q, 632, &(4301u32).to_le_bytes());
    slack.truncate(636 + 4301);
    assert!(err(&slack).contains("left over inside"), "{}", err(&slack));
}

#[test]
fn every_truncation_is_refused_without_panicking() {
    let Some(q) = quote("dcap-qvl/tdx_quote_outdated") else { return };
    let end = 706 + 4300;
    for len in 0..end {
        assert!(TdxQuote::parse(&q[..len]).is_err(), "{len} bytes parsed");
    }
    assert!(TdxQuote::parse(&q[..end]).is_ok());
    let mut big = q.clone();
    big.resize(MAX_QUOTE_LEN + 1, 0);
    assert!(err(&big).contains("limit"));
}

#[test]
fn every_real_quote_parses_with_its_named_offsets() {
    for (file, version, trailing) in [
        ("dcap-qvl/tdx_quote", 4, 70),
        ("dcap-qvl/tdx_quote_outdated", 5, 0),
        ("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", 4, 39),
        ("go-tdx-guest/cos-113-tdx-quote.dat", 4, 3065),
        ("zkdcap/quote_v4.dat", 4, 0),
        ("trustee/tdx_quote_5.dat", 5, 0),
    ] {
        let Some(raw) = quote(file) else { return };
        let q = TdxQuote::parse(&raw).expect(file);
        assert_eq!((q.version, q.trailing), (version, trailing), "{file}");
        let body_at = if version == 4 { 48 } else { 54 };
        assert_eq!(&raw[body_at + ccgpu_attestation::body_offset::MR_TD..][..48], &q.body.mr_td[..], "{file}");
        assert_eq!(q.signed().len(), if version == 4 { 632 } else { 702 }, "{file}");
    }
    // The Azure HCL report carries the same TD report: its REPORTDATA (160) and MRTD (560) equal the quote's.
    let (Some(raw), Some(hcl)) =
        (quote("trustee/az-tdx-vtpm/td-quote.bin"), read("trustee/az-tdx-vtpm/hcl-report.bin"))
    else {
        return;
    };
    let q = TdxQuote::parse(&raw).expect("quote");
    assert_eq!(&hcl[160..224], &q.body.report_data[..]);
    assert_eq!(&hcl[560..608], &q.body.mr_td[..]);
}

fn fifteen_components(tcb_info: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(tcb_info).expect("JSON");
    let comps = v["tcbLevels"][0]["tcb"]["sgxtcbcomponents"].as_array_mut().expect("components");
    comps.pop();
    v.to_string()
}

#[test]
fn malformed_collateral_is_refused_by_document_and_field() {
    let Some(c) = collateral(COLL_DCAP_QVL) else { return };
    for (json, want) in [
        (c.tcb_info.replace("\"id\":\"TDX\"", "\"id\":\"SGX\""), "only TDX TCB info version 3"),
        (c.tcb_info.replace("\"version\":3", "\"version\":2"), "only TDX TCB info version 3"),
        (c.tcb_info.replace("\"fmspc\":\"B0C06F000000\"", "\"fmspc\":\"B0C06F\""), "fmspc is 3 bytes"),
        (c.tcb_info.replace("\"issueDate\":\"2025-06-19T10:16:03Z\"", "\"issueDate\":\"yesterday\""), "issueDate"),
        (fifteen_components(&c.tcb_info), "has 15 SGX components, not 16"),
        (c.tcb_info.replace("\"tcbType\":0", "\"tcbType\":1"), "tcbType 1"),
        ("[]".to_owned(), "does not parse"),
    ] {
        let e = TcbInfo::parse(&json).expect_err(want).to_string();
        assert!(e.contains(want) && e.starts_with("TCB info"), "{want}: {e}");
    }
    for (json, want) in [
        (c.qe_identity.replace("\"TD_QE\"", "\"QE\""), "only TD_QE identity"),
        (c.qe_identity.replace("\"mrsigner\":\"DC9E", "\"mrsigner\":\"9E"), "mrsigner"),
        ("{".to_owned(), "does not parse"),
    ] {
        let e = QeIdentity::parse(&json).expect_err(want).to_string();
        assert!(e.contains(want) && e.starts_with("QE identity"), "{want}: {e}");
    }
    assert!(TdxCollateral::from_dcap_qvl_json(b"{}").is_err());
    assert!(
        TdxCollateral::from_dcap_qvl_json(&vec![b' '; 300 * 1024]).expect_err("large").to_string().contains("limit")
    );
    assert!(crl_der("PCK CRL", b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n").is_err());
    assert!(crl_der("PCK CRL", b"not hex").is_err());
    assert!(split_signed(b"{\"tcbInfo\":", "TCB info", "tcbInfo").is_err());
}

#[test]
fn a_certificate_without_the_sgx_extension_is_not_a_pck() {
    let Some(root) = read("dcap-qvl/TrustedRootCA.der") else { return };
    let (_, cert) = x509_parser::parse_x509_certificate(&root).expect("root parses");
    assert!(PckExtension::read(&cert).expect_err("no extension").to_string().contains("no SGX extension"));
    for junk in [&b""[..], &[0x30, 0x00], &[0x30, 0x03, 0x30, 0x01, 0x06], &[0x04, 0x00]] {
        assert!(PckExtension::parse(junk).is_err(), "{junk:?}");
    }
}

#[test]
fn random_damage_to_a_real_quote_never_panics_and_never_verifies() {
    let Some(q) = quote("dcap-qvl/tdx_quote") else { return };
    let Some(c) = collateral(COLL_DCAP_QVL) else { return };
    let policy = pinned_policy(&q);
    // A small deterministic generator (xorshift): the same damage every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let mut m = q.clone();
        for _ in 0..1 + next() % 4 {
            let at = usize::try_from(next() % 4936).expect("fits"); // up to the end of the signature data
            m[at] ^= u8::try_from(next() % 255 + 1).expect("fits");
        }
        if m == q {
            continue;
        }
        let a = appraise(&m, &c, AT_DCAP_QVL, &policy, None);
        assert_ne!(a.verdict, ccgpu_attestation::Verdict::Affirming, "damaged quote affirmed: {}", explain(&a));
    }
}
