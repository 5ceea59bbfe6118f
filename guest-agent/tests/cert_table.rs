//! The SEV-SNP certificate table as a malicious host could write it, through the agent's `SevGuest` with
//! a fake guest device: a table holding AMD's real Genoa VCEK gives exactly that certificate, and 2,000
//! deterministic random damages of it (bytes flipped, headers rewritten, the table cut) never panic and
//! never yield a certificate that is not a slice of the bytes the host wrote.

use ccgpu_guest_agent::{CpuTee as _, RawExtReport, SevGuest, SnpGuestDevice, TeeError, parse_cert_table};

const VCEK_GUID: &str = "63da758de6644564adc5f4b93be8accd";

#[derive(Debug)]
struct HostFilled {
    report: Vec<u8>,
    certs: Vec<u8>,
}

impl SnpGuestDevice for HostFilled {
    fn present(&self) -> bool {
        true
    }
    fn ext_report(&self, _report_data: &[u8; 64], _vmpl: u32) -> Result<RawExtReport, TeeError> {
        Ok(RawExtReport { report: self.report.clone(), certs: self.certs.clone() })
    }
}

fn real() -> Option<(Vec<u8>, Vec<u8>)> {
    let report = ccgpu_test_support::read_testdata("snp/lunal/live-report-v5-genoa.bin")?;
    let vcek = ccgpu_test_support::read_testdata("snp/lunal/live-vcek-genoa.der")?;
    Some((report, vcek))
}

/// The table the kernel hands back: one VCEK entry, the terminator, the DER, zeros to 4 pages.
fn table(vcek: &[u8]) -> Vec<u8> {
    let mut t = hex::decode(VCEK_GUID).expect("guid");
    t.extend_from_slice(&48u32.to_le_bytes());
    t.extend_from_slice(&u32::try_from(vcek.len()).expect("len").to_le_bytes());
    t.extend_from_slice(&[0; 24]);
    t.extend_from_slice(vcek);
    t.resize(16384, 0);
    t
}

#[test]
fn the_real_vcek_comes_through_unchanged() {
    let Some((report, vcek)) = real() else { return ccgpu_test_support::skip("SEV-SNP test data") };
    let g = SevGuest::with_device(HostFilled { report: report.clone(), certs: table(&vcek) }, "fake", 0);
    let r = g.report(&[0; 64]).expect("report");
    assert_eq!(r.vek, vcek);
    assert_eq!(r.report, report);
    assert_eq!(r.ask_ark, None);
}

#[test]
fn random_damage_never_panics_and_never_reads_outside_the_table() {
    let Some((report, vcek)) = real() else { return ccgpu_test_support::skip("SEV-SNP test data") };
    let good = table(&vcek);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut refused, mut accepted) = (0, 0);
    for round in 0..2000 {
        let mut t = good.clone();
        match round % 4 {
            // Flip bytes in the headers.
            0 => (0..1 + next() % 4).for_each(|_| t[(next() % 48) as usize] ^= 1 << (next() % 8)),
            // A random offset and length.
            1 => t[16..24].copy_from_slice(&next().to_le_bytes()),
            // Cut the table anywhere.
            2 => t.truncate(usize::try_from(next() % (good.len() as u64 + 1)).expect("small")),
            // Random headers, many of them.
            _ => (0..(next() % 200) as usize).for_each(|i| {
                if let Some(b) = t.get_mut(i) {
                    *b = next().to_le_bytes()[0]
                }
            }),
        }
        let g = SevGuest::with_device(HostFilled { report: report.clone(), certs: t.clone() }, "fake", 0);
        match g.report(&[0; 64]) {
            Ok(r) => {
                accepted += 1;
                assert!(t.windows(r.vek.len()).any(|w| w == r.vek.as_slice()), "round {round}: VEK not from the table");
            }
            Err(TeeError::CertTable { origin, .. }) => {
                refused += 1;
                assert_eq!(origin, "fake");
            }
            Err(TeeError::Certificates(_)) => refused += 1,
            Err(e) => panic!("round {round}: unexpected error {e}"),
        }
        if let Ok(entries) = parse_cert_table("fake", &t) {
            assert!(entries.iter().all(|e| !e.data().is_empty()));
        }
    }
    assert!(refused > 0 && accepted > 0, "the damages must both break and spare the table ({refused}/{accepted})");
}
