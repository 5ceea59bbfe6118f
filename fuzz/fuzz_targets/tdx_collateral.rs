//! The TDX collateral parsers on arbitrary bytes: dcap-qvl's collateral JSON, PCS responses (the signed
//! substring split), TCB info and QE identity JSON, CRL decoding and the PCK certificate's SGX extension.
//! Collateral reaches a verifier from a PCCS or a cache directory, neither trusted. Nothing may panic, and
//! a split PCS response's signed part must be a substring of the input.
#![no_main]

use ccgpu_attestation::{PckExtension, QeIdentity, TcbInfo, TdxCollateral, crl_der, split_signed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (flag, rest) = data.split_first().unwrap_or((&0, &[]));
    match flag % 5 {
        0 => {
            let _ = TdxCollateral::from_dcap_qvl_json(rest);
        }
        1 => {
            if let Ok((signed, _)) = split_signed(rest, "TCB info", "tcbInfo") {
                let text = String::from_utf8_lossy(rest);
                assert!(text.contains(&signed), "the signed part is not a substring");
                let _ = TcbInfo::parse(&signed);
            }
        }
        2 => {
            let text = String::from_utf8_lossy(rest);
            let _ = TcbInfo::parse(&text);
            let _ = QeIdentity::parse(&text);
        }
        3 => {
            let _ = crl_der("PCK CRL", rest);
        }
        _ => {
            let _ = PckExtension::parse(rest);
        }
    }
});
