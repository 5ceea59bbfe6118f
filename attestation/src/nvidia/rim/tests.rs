use ccgpu_test_support::{require_testdata, require_testdata_bytes};
use time::macros::datetime;

use super::*;
use crate::nvidia::anchors::Anchors;

const H100_RIMS: [&str; 2] = [
    "nvidia/h100-550.90.07/rims/NV_GPU_DRIVER_GH100_550.90.07.xml",
    "nvidia/h100-550.90.07/rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml",
];

#[test]
fn real_h100_rims_verify_inside_their_validity() {
    let anchors = Anchors::nvidia();
    for rel in H100_RIMS {
        let xml = require_testdata_bytes!(rel);
        let v = verify(&xml, &anchors.rim, datetime!(2025-09-01 0:00 UTC));
        assert_eq!(v.signature, Ok(()), "{rel}");
        assert!(v.chain.is_ok(), "{rel}: {:?}", v.chain);
        let verified = v.verified.expect("verified");
        assert_eq!(verified.golden.len(), 64);
    }
}

#[test]
fn every_real_rim_signature_verifies_and_one_changed_byte_breaks_it() {
    let anchors = Anchors::nvidia();
    let dir = require_testdata!("nvidia/rims-prod");
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("rims-prod").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert_eq!(files.len(), 20);
    for path in files.iter().map(|p| p.as_path()).chain(
        H100_RIMS
            .iter()
            .filter_map(|r| ccgpu_test_support::testdata(r))
            .collect::<Vec<_>>()
            .iter()
            .map(|p| p.as_path()),
    ) {
        let xml = std::fs::read(path).expect("read");
        let v = verify(&xml, &anchors.rim, datetime!(2024-01-01 0:00 UTC));
        assert_eq!(v.signature, Ok(()), "{}", path.display());
        assert!(v.identity.is_ok(), "{}: {:?}", path.display(), v.identity);

        // One byte of content (a golden value digit) and one byte of the signature value.
        let text = String::from_utf8(xml.clone()).expect("utf8");
        let hash_at = text.find("Hash0=\"").expect("a Hash0") + 7;
        let mut content = xml.clone();
        content[hash_at] = if content[hash_at] == b'0' { b'1' } else { b'0' };
        let v = verify(&content, &anchors.rim, datetime!(2024-01-01 0:00 UTC));
        assert_eq!(v.signature, Err(RimError::Signature(XmlDsigError::DigestMismatch)), "{}", path.display());
        assert!(v.verified.is_none());

        let sig_at = text.find("<ds:SignatureValue>").expect("SignatureValue") + 19 + 10;
        let mut sig = xml.clone();
        sig[sig_at] = if sig[sig_at] == b'A' { b'B' } else { b'A' };
        let v = verify(&sig, &anchors.rim, datetime!(2024-01-01 0:00 UTC));
        assert!(
            matches!(v.signature, Err(RimError::Signature(XmlDsigError::Signature(_)))),
            "{}: {:?}",
            path.display(),
            v.signature
        );
    }
}
