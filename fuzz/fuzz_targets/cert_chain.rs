//! Certificate bundles: `CertChain::from_pem` (input starting with an odd byte, e.g. `-`) or
//! `CertChain::from_der_list` (the input split into consecutive DER elements), then path validation
//! against both shipped anchors and the FWID of every certificate.
#![no_main]

use ccgpu_attestation::{
    CertChain, TrustAnchor,
    testing::x509::{ChainRule, leaf_fwid, validate},
};
use ccgpu_fuzz::{ANCHORS, AT, split_ders};
use libfuzzer_sys::fuzz_target;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

fuzz_target!(|data: &[u8]| {
    let Some(&first) = data.first() else { return };
    let chain = if first & 1 == 1 { CertChain::from_pem(data) } else { CertChain::from_der_list(split_ders(data)) };
    let Ok(chain) = chain else { return };
    assert!(!chain.is_empty() && chain.len() <= ccgpu_attestation::testing::x509::MAX_CHAIN_LEN);
    let anchors = &*ANCHORS;
    let device = validate(&chain, &anchors.device, AT, ChainRule::ExactWithAnchor(5));
    let rim = validate(&chain, &anchors.rim, AT, ChainRule::AnchorOptional);
    for r in [&device, &rim] {
        if let Err(e) = r {
            let _ = (e.to_string(), e.is_expired());
        }
    }
    // A chain that validates to NVIDIA's device root can only be made of NVIDIA-signed certificates.
    if device.is_ok() {
        assert_eq!(chain.ders().last().map(Vec::as_slice), Some(anchors.device.der()));
    }
    for der in chain.ders() {
        let (rest, cert) = X509Certificate::from_der(der).expect("from_der_list checked every certificate");
        assert!(rest.is_empty());
        let _ = leaf_fwid(&cert);
        let _ = TrustAnchor::from_der("fuzz", der.clone()).expect("a parsed certificate is a usable anchor");
    }
    let _ = CertChain::from_pem(chain.to_pem().as_bytes()).expect("PEM round trip");
});
