//! The FWID extension parser (and the strict DER reader under it): fuzzed bytes become the value of the
//! FWID extension of NVIDIA's real Hopper attestation certificate (first byte even) or the DICE TcbInfo
//! extension of the real Blackwell one (first byte odd), with every enclosing DER length re-encoded.
#![no_main]

use ccgpu_attestation::{CertChain, testing::x509::leaf_fwid};
use ccgpu_fuzz::{BLACKWELL_LEAF, OID_BLACKWELL_TCB_INFO, OID_HOPPER_FWID, REAL, with_extension_value};
use libfuzzer_sys::fuzz_target;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, value)) = data.split_first() else { return };
    let (base, oid) = if mode & 1 == 0 {
        (&REAL.chain.ders()[0], OID_HOPPER_FWID)
    } else {
        (&*BLACKWELL_LEAF, OID_BLACKWELL_TCB_INFO)
    };
    let Some(cert_der) = with_extension_value(base, oid, value) else { return };
    let Ok((_, cert)) = X509Certificate::from_der(&cert_der) else { return };
    if let Ok(Some(fwid)) = leaf_fwid(&cert) {
        // The FWID is read from the extension, never made up.
        assert!(value.windows(48).any(|w| w == fwid), "FWID not taken from the extension value");
    }
    let _ = CertChain::from_der_list(vec![cert_der]);
});
