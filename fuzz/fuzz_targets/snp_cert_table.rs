//! `parse_cert_table`, the guest agent's only parser of the SEV-SNP certificate table — bytes the host
//! writes into the guest's buffer (`SNP_GET_EXT_REPORT`) or configfs TSM's `auxblob`. Nothing may panic
//! or read outside the input; an accepted table's certificates are non-empty slices of the input, of
//! distinct types, at most `MAX_CERT_ENTRIES`, and survive a round trip through the `sev` crate's writer
//! unchanged (the writer is given only what our parser produced).
#![no_main]

use ccgpu_guest_agent::{MAX_CERT_ENTRIES, parse_cert_table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = parse_cert_table("fuzz", data) else { return };
    assert!(entries.len() <= MAX_CERT_ENTRIES);
    for (i, e) in entries.iter().enumerate() {
        assert!(!e.data().is_empty(), "entry {i} is empty");
        assert!(data.windows(e.data().len()).any(|w| w == e.data()), "entry {i}'s data is not from the input");
        assert!(entries[..i].iter().all(|p| p.cert_type != e.cert_type), "entry {i} repeats a type");
    }
    let rewritten = sev::firmware::host::CertTableEntry::cert_table_to_vec_bytes(&entries).expect("writer");
    assert_eq!(parse_cert_table("fuzz", &rewritten).expect("rewritten table parses"), entries);
});
