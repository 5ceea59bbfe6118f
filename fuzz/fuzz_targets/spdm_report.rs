//! `AttestationReport::parse` on arbitrary bytes, then every accessor, with the invariants a parsed report
//! must satisfy: the bytes are kept exactly, block indexes are contiguous, and nothing the report says
//! can become anything but a plain file-name component of a RIM id.
#![no_main]

use ccgpu_attestation::{AttestationReport, GpuArch, RimIds, rim_file_candidates, testing::spdm::SIGNATURE_LEN};
use ccgpu_fuzz::safe_component;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(report) = AttestationReport::parse(data) else { return };
    assert_eq!(report.as_bytes(), data);
    assert_eq!(report.signed_bytes(), &data[..data.len() - SIGNATURE_LEN]);
    assert_eq!(&report.response().signature[..], &data[data.len() - SIGNATURE_LEN..]);
    assert_eq!(&report.request().nonce[..], &data[4..36]);
    let blocks = &report.response().blocks;
    assert!(!blocks.is_empty());
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(usize::from(b.index), i + 1);
        assert_eq!(report.measurement(i), Some(b.value.as_slice()));
    }
    assert_eq!(report.measurement(blocks.len()), None);

    let o = report.opaque();
    let mut types: Vec<_> = o.entries.iter().map(|e| e.data_type).collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), o.entries.len(), "opaque types are unique");
    for s in [&o.driver_version, &o.chip_sku, &o.project, &o.project_sku, &o.chip_info].into_iter().flatten() {
        assert!(safe_component(s), "unsafe identifier {s:?}");
    }
    if let Some(v) = o.vbios_version {
        assert_eq!(v.rim_id_form().len(), 10);
        assert_eq!(v.dotted_upper().len(), 14);
        let _ = format!("{v} {v:?}");
    }
    for arch in [GpuArch::Hopper, GpuArch::Blackwell] {
        let ids = RimIds::from_report(o, "GH100", arch);
        for id in ids.driver.iter().chain(ids.vbios.iter()) {
            assert!(safe_component(id), "unsafe RIM id {id:?}");
            for name in rim_file_candidates(id) {
                assert!(safe_component(&name));
            }
        }
    }
});
