//! Certificate bundles that are not well-formed chains: garbage, non-certificate PEM blocks, too many
//! certificates, bytes after a certificate, cut certificates — each refused with its precise error, before
//! any path validation. And path validation of chains made from the real H100 certificates put together
//! wrongly.

use ccgpu_attestation::{
    Anchors, CertChain, ChainParseError, TrustAnchor,
    testing::x509::{CertProblem, ChainError, ChainRule, MAX_CHAIN_LEN, validate},
};
use ccgpu_test_support::require_testdata_bytes;
use time::macros::datetime;

const CHAIN: &str = "nvidia/h100-550.90.07/cert-chain.pem";

fn real_ders() -> Option<Vec<Vec<u8>>> {
    let pem = ccgpu_test_support::read_testdata(CHAIN)?;
    Some(CertChain::from_pem(&pem).expect("real chain").ders().to_vec())
}

fn pem_block(label: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(label, der.to_vec()))
}

#[test]
fn garbage_and_empty_bundles() {
    assert_eq!(CertChain::from_pem(b""), Err(ChainParseError::Empty));
    assert_eq!(CertChain::from_pem(b"not a certificate at all\n"), Err(ChainParseError::Empty));
    assert_eq!(CertChain::from_pem(&[0xff, 0x00, 0x30, 0x82]), Err(ChainParseError::Empty));
    assert_eq!(CertChain::from_der_list(vec![]), Err(ChainParseError::Empty));
    // A BEGIN line without its END, and base64 that is not base64.
    assert_eq!(
        CertChain::from_pem(b"-----BEGIN CERTIFICATE-----\nMIIB\n"),
        Err(ChainParseError::Pem("1 BEGIN lines but 0 complete PEM blocks".into()))
    );
    assert!(matches!(
        CertChain::from_pem(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
        Err(ChainParseError::Pem(_))
    ));
    // Well-formed PEM whose content is not a certificate.
    let junk = pem_block("CERTIFICATE", b"\x30\x03\x02\x01\x00");
    assert!(matches!(CertChain::from_pem(junk.as_bytes()), Err(ChainParseError::Malformed { position: 0, .. })));
}

#[test]
fn non_certificate_pem_blocks_are_named() {
    let Some(ders) = real_ders() else { return };
    let bundle = format!("{}{}", pem_block("CERTIFICATE", &ders[0]), pem_block("EC PRIVATE KEY", b"\x30\x00"));
    assert_eq!(
        CertChain::from_pem(bundle.as_bytes()),
        Err(ChainParseError::NotCertificate { position: 1, label: "EC PRIVATE KEY".into() })
    );
    let bundle = pem_block("X509 CRL", &ders[0]);
    assert_eq!(
        CertChain::from_pem(bundle.as_bytes()),
        Err(ChainParseError::NotCertificate { position: 0, label: "X509 CRL".into() })
    );
    // "TRUSTED CERTIFICATE" (OpenSSL's auxiliary form) is not a CERTIFICATE either.
    let bundle = pem_block("TRUSTED CERTIFICATE", &ders[0]);
    assert!(matches!(CertChain::from_pem(bundle.as_bytes()), Err(ChainParseError::NotCertificate { .. })));
}

#[test]
fn at_most_eight_certificates() {
    let Some(ders) = real_ders() else { return };
    let eight: Vec<Vec<u8>> = ders.iter().cycle().take(MAX_CHAIN_LEN).cloned().collect();
    assert_eq!(CertChain::from_der_list(eight.clone()).map(|c| c.len()), Ok(MAX_CHAIN_LEN));
    let mut nine = eight;
    nine.push(ders[0].clone());
    assert_eq!(CertChain::from_der_list(nine.clone()), Err(ChainParseError::TooLong(9)));
    let pem: String = nine.iter().map(|d| pem_block("CERTIFICATE", d)).collect();
    assert_eq!(CertChain::from_pem(pem.as_bytes()), Err(ChainParseError::TooLong(9)));
}

#[test]
fn bytes_after_or_missing_from_a_certificate() {
    let Some(ders) = real_ders() else { return };
    let mut longer = ders[2].clone();
    longer.push(0);
    assert_eq!(
        CertChain::from_der_list(vec![ders[0].clone(), ders[1].clone(), longer.clone()]),
        Err(ChainParseError::Malformed { position: 2, reason: "1 trailing bytes after the certificate".into() })
    );
    // Two certificates in one PEM block are one certificate with trailing bytes.
    let two = [ders[0].clone(), ders[1].clone()].concat();
    let err = CertChain::from_pem(pem_block("CERTIFICATE", &two).as_bytes()).expect_err("two in one");
    assert_eq!(
        err,
        ChainParseError::Malformed {
            position: 0,
            reason: format!("{} trailing bytes after the certificate", ders[1].len())
        }
    );
    // Every cut of the leaf is refused at its position.
    for cut in 0..ders[0].len() {
        let r = CertChain::from_der_list(vec![ders[1].clone(), ders[0][..cut].to_vec()]);
        assert!(matches!(r, Err(ChainParseError::Malformed { position: 1, .. })), "cut at {cut}: {r:?}");
    }
    // A certificate whose outer SEQUENCE length is long-form for a short length (not DER).
    let mut non_minimal = vec![0x30, 0x84];
    non_minimal.extend(u32::try_from(ders[0].len() - 4).expect("u32").to_be_bytes());
    non_minimal.extend_from_slice(&ders[0][4..]);
    assert_eq!(
        CertChain::from_der_list(vec![non_minimal]),
        Err(ChainParseError::Malformed {
            position: 0,
            reason: "not DER: DER length at byte 1 is not minimally encoded or is indefinite".into()
        })
    );
}

/// A bundle cut inside its last PEM block must not quietly become a shorter chain.
#[test]
fn a_cut_pem_bundle_is_refused_not_shortened() {
    let pem = require_testdata_bytes!(CHAIN);
    let text = String::from_utf8(pem).expect("PEM text");
    let last_end = text.rfind("-----END CERTIFICATE-----").expect("END line");
    let cut = &text[..last_end];
    assert_eq!(
        CertChain::from_pem(cut.as_bytes()),
        Err(ChainParseError::Pem("5 BEGIN lines but 4 complete PEM blocks".into()))
    );
    assert_eq!(CertChain::from_pem(text.as_bytes()).map(|c| c.len()), Ok(5));
}

#[test]
fn text_around_pem_blocks_is_ignored_but_the_certificates_are_exact() {
    let Some(ders) = real_ders() else { return };
    let bundle =
        format!("subject=leaf\n{}\nnotes\n{}", pem_block("CERTIFICATE", &ders[0]), pem_block("CERTIFICATE", &ders[1]));
    let chain = CertChain::from_pem(bundle.as_bytes()).expect("explanatory text around blocks");
    assert_eq!(chain.ders(), &ders[..2]);
    assert_eq!(CertChain::from_pem(chain.to_pem().as_bytes()), Ok(chain));
}

#[test]
fn real_certificates_put_together_wrongly() {
    let Some(ders) = real_ders() else { return };
    let anchors = Anchors::nvidia();
    let at = datetime!(2025-09-01 0:00 UTC);
    let rule = ChainRule::ExactWithAnchor(5);
    let chain = |list: Vec<Vec<u8>>| CertChain::from_der_list(list).expect("parses");
    assert!(validate(&chain(ders.clone()), &anchors.device, at, rule).is_ok());

    // Leaf and its issuer swapped: the chain's position 0 is now a CA that the leaf did not issue.
    let mut swapped = ders.clone();
    swapped.swap(0, 1);
    let err = validate(&chain(swapped.clone()), &anchors.device, at, rule).expect_err("swapped");
    assert!(matches!(err, ChainError::Cert { position: 0, problem: CertProblem::LeafIsCa, .. }), "{err}");
    // Two intermediates swapped: names no longer chain.
    swapped = ders.clone();
    swapped.swap(1, 2);
    let err = validate(&chain(swapped), &anchors.device, at, rule).expect_err("swapped");
    assert!(matches!(err, ChainError::Cert { position: 0, problem: CertProblem::IssuerMismatch { .. }, .. }), "{err}");

    // An intermediate missing: too short.
    let mut short = ders.clone();
    short.remove(2);
    assert_eq!(validate(&chain(short), &anchors.device, at, rule), Err(ChainError::Length { expected: 5, found: 4 }));

    // Ending in a root other than the pinned one (the RIM root).
    let mut foreign = ders.clone();
    let last = foreign.len() - 1;
    foreign[last] = anchors.rim.der().to_vec();
    assert!(matches!(validate(&chain(foreign), &anchors.device, at, rule), Err(ChainError::ForeignRoot { .. })));

    // The device chain does not validate to the RIM root, whatever the length rule.
    let err = validate(&chain(ders.clone()), &anchors.rim, at, ChainRule::AnchorOptional).expect_err("wrong anchor");
    assert!(matches!(err, ChainError::ForeignRoot { .. }), "{err}");

    // Pinning an intermediate works for the certificates it issued (its own validity is checked too).
    let intermediate = TrustAnchor::from_der("intermediate", ders[1].clone()).expect("parses");
    let leaf_only = chain(vec![ders[0].clone()]);
    assert!(validate(&leaf_only, &intermediate, at, ChainRule::AnchorOptional).is_ok());
    let before = validate(&leaf_only, &intermediate, datetime!(2019-01-01 0:00 UTC), ChainRule::AnchorOptional);
    assert!(
        matches!(before, Err(ChainError::Cert { position: 0, problem: CertProblem::NotYetValid { .. }, .. })),
        "{before:?}"
    );
    let err = validate(&chain(vec![ders[1].clone()]), &intermediate, at, ChainRule::AnchorOptional).expect_err("self");
    assert!(matches!(err, ChainError::Length { expected: 2, found: 1 }), "{err}");
}

#[test]
fn anchors_must_be_exactly_one_certificate() {
    let pem = require_testdata_bytes!(CHAIN);
    assert!(TrustAnchor::from_pem("bundle", &pem).expect_err("five certificates").contains("found 5"));
    assert!(TrustAnchor::from_der("junk", vec![0x30, 0x00]).is_err());
    let Some(ders) = real_ders() else { return };
    let mut trailing = ders[4].clone();
    trailing.push(0);
    assert_eq!(
        TrustAnchor::from_der("trailing", trailing).expect_err("trailing byte"),
        "1 trailing bytes after the certificate"
    );
}
