//! AMD certificate revocation lists on arbitrary bytes: `parse_crl`, then `check_not_revoked` of AMD's real
//! Genoa ASK under its real ARK. Nothing may panic, and nothing fuzzed is ever accepted: no fuzzer can sign
//! with AMD's ARK, so every input must be refused.
#![no_main]

use ccgpu_attestation::{AmdRoots, Intermediate, check_not_revoked, parse_crl};
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;
use x509_parser::prelude::{FromDer, X509Certificate};

fuzz_target!(|data: &[u8]| {
    let _ = parse_crl(data).map(|c| c.iter_revoked_certificates().count());
    let roots = AmdRoots::amd();
    let genoa = roots.iter().find(|p| p.product().name() == "Genoa").expect("Genoa roots");
    let (_, ark) = X509Certificate::from_der(genoa.ark()).expect("ARK");
    let (_, ask) = X509Certificate::from_der(genoa.intermediate(Intermediate::Ask).expect("ASK")).expect("ASK");
    let r = check_not_revoked(data, &ark, &ask, datetime!(2026-01-01 0:00 UTC), time::Duration::minutes(5));
    assert!(r.is_err(), "a fuzzed CRL was accepted as signed by AMD's ARK");
});
