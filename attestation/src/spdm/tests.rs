use ccgpu_test_support::require_testdata_bytes;

use super::*;

fn hex_file(bytes: &[u8]) -> Vec<u8> {
    let text: String = String::from_utf8_lossy(bytes).split_whitespace().collect();
    hex::decode(text).expect("hex test vector")
}

#[test]
fn scratch_dump() {
    let base = "nvidia/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata/sample_attestation_data/gpu/";
    for f in ["blackwellAttestationReport.txt", "hopperAttestationReport.txt"] {
        let raw = hex_file(&require_testdata_bytes!(&format!("{base}{f}")));
        let r = AttestationReport::parse(&raw);
        match r {
            Ok(r) => {
                let o = r.opaque();
                eprintln!("{f}: {:?}", o.entries.iter().map(|e| (e.data_type, e.value.len())).collect::<Vec<_>>());
                eprintln!(
                    "  drv {:?} vbios {:?} fwid {:?} chip {:?} ver {:?} ff {:?}",
                    o.driver_version,
                    o.vbios_version,
                    o.fwid.map(hex::encode),
                    o.chip_info,
                    o.opaque_version,
                    o.feature_flag
                );
            }
            Err(e) => eprintln!("{f}: {e}"),
        }
    }
}
