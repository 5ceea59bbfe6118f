//! [`SevGuest`]: SEV-SNP extended reports (`SNP_GET_EXT_REPORT`) from the guest device, through the
//! [`SnpGuestDevice`] seam: the real device is [`super::SevGuestIoctl`] (our own ioctl; the `sev`
//! crate's `get_ext_report` is not used — its certificate-table parser follows the host's offsets
//! through raw pointers), and tests substitute a fake that returns any bytes a malicious host could.
//!
//! The extended report carries the host-provisioned certificate table (`SNP_SET_EXT_CONFIG` on the host):
//! the VCEK or VLEK that signed the report, and the ASK/ASVK and ARK when present. None of it is trusted
//! here: the table is parsed bounds-checked by [`super::parse_cert_table`] (a malformed one is an error
//! naming the entry, and nothing is sent), and the verifier checks the chain to its pinned AMD roots.
//! Without a VCEK/VLEK in the table the evidence cannot be verified offline, and that is an error here
//! rather than a bundle nobody can check.

use std::path::PathBuf;

use ::sev::firmware::host::{CertTableEntry, CertType};

use super::certtable::parse_cert_table;
use super::guest_device::SnpGuestDevice;
use super::ioctl::SevGuestIoctl;
use super::{CpuReport, CpuTee, TeeError};

/// The usual guest device path.
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";

/// The SEV-SNP guest device.
#[derive(Debug, Clone)]
pub struct SevGuest<D: SnpGuestDevice = SevGuestIoctl> {
    device: D,
    origin: String,
    vmpl: u32,
}

impl SevGuest<SevGuestIoctl> {
    /// The device at `device`, asking for reports of `vmpl`.
    pub fn new(device: impl Into<PathBuf>, vmpl: u32) -> Self {
        let device = SevGuestIoctl::new(device);
        let origin = device.path().display().to_string();
        Self { device, origin, vmpl }
    }
}

impl<D: SnpGuestDevice> SevGuest<D> {
    /// Reports from `device` (named `origin` in errors), of `vmpl`.
    pub fn with_device(device: D, origin: impl Into<String>, vmpl: u32) -> Self {
        Self { device, origin: origin.into(), vmpl }
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// VEK, and ASK/ASVK + ARK as PEM, from an extended report's (parsed) certificate table.
pub fn certificates(table: &[CertTableEntry]) -> Result<(Vec<u8>, Option<Vec<u8>>), TeeError> {
    let find = |t: CertType| table.iter().find(|e| e.cert_type == t).map(|e| e.data().to_vec());
    let vek = find(CertType::VCEK).or_else(|| find(CertType::VLEK)).ok_or_else(|| {
        TeeError::Certificates(
            "the extended report's certificate table has no VCEK or VLEK (the host must provision it)".into(),
        )
    })?;
    let ask_ark = match (find(CertType::ASK), find(CertType::ARK)) {
        (Some(ask), Some(ark)) => Some(format!("{}{}", pem(&ask), pem(&ark)).into_bytes()),
        _ => None,
    };
    Ok((vek, ask_ark))
}

impl<D: SnpGuestDevice> CpuTee for SevGuest<D> {
    fn present(&self) -> bool {
        self.device.present()
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<CpuReport, TeeError> {
        let raw = self.device.ext_report(report_data, self.vmpl)?;
        let table = parse_cert_table(&self.origin, &raw.certs)?;
        let (vek, ask_ark) = certificates(&table)?;
        Ok(CpuReport { report: raw.report, vek, ask_ark })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::tee::guest_device::RawExtReport;

    /// A fake guest device answering with a fixed certificate buffer (what a malicious host fills in).
    #[derive(Debug)]
    struct FakeDevice {
        certs: Vec<u8>,
        asked: Mutex<Vec<([u8; 64], u32)>>,
    }

    impl FakeDevice {
        fn new(certs: Vec<u8>) -> Self {
            Self { certs, asked: Mutex::default() }
        }
    }

    impl SnpGuestDevice for FakeDevice {
        fn present(&self) -> bool {
            true
        }
        fn ext_report(&self, report_data: &[u8; 64], vmpl: u32) -> Result<RawExtReport, TeeError> {
            self.asked.lock().expect("lock").push((*report_data, vmpl));
            let mut report = vec![0xAA; 1184];
            report[0x50..0x90].copy_from_slice(report_data);
            Ok(RawExtReport { report, certs: self.certs.clone() })
        }
    }

    fn header(guid: &str, offset: u32, len: u32) -> Vec<u8> {
        let mut h = hex::decode(guid).expect("guid");
        h.extend_from_slice(&offset.to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
        h
    }

    const VCEK: &str = "63da758de6644564adc5f4b93be8accd";

    #[test]
    fn a_good_table_gives_the_certificates_and_the_report() {
        let entries = [
            CertTableEntry::new(CertType::ASK, vec![1, 2]),
            CertTableEntry::new(CertType::ARK, vec![3]),
            CertTableEntry::new(CertType::VCEK, vec![0x30, 9]),
        ];
        let mut certs = CertTableEntry::cert_table_to_vec_bytes(&entries).expect("table");
        certs.resize(16384, 0);
        let g = SevGuest::with_device(FakeDevice::new(certs), "fake", 2);
        let r = g.report(&[5; 64]).expect("report");
        assert_eq!(r.vek, vec![0x30, 9]);
        assert_eq!(&r.report[0x50..0x90], &[5; 64]);
        let pem = String::from_utf8(r.ask_ark.expect("ASK and ARK")).expect("PEM");
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert_eq!(g.device.asked.lock().expect("lock").as_slice(), &[([5; 64], 2)]);
    }

    #[test]
    fn malicious_tables_are_errors_naming_the_device_and_entry() {
        let mut past_end = header(VCEK, 48, 100_000);
        past_end.extend_from_slice(&[0; 24]);
        let mut overlapping = header(VCEK, 72, 8);
        overlapping.extend(header("c0b406a4a803495297433fb6014cd0ae", 74, 8));
        overlapping.extend_from_slice(&[0; 24 + 16]);
        let no_terminator: Vec<u8> = (0..3).flat_map(|_| header(VCEK, 0, 1)).collect();
        let huge: Vec<u8> = (0..1000).flat_map(|_| header("c0b406a4a803495297433fb6014cd0ae", 0, 1)).collect();
        for (name, certs, entry) in [
            ("5 bytes", vec![1, 2, 3, 4, 5], 0),
            ("past the end", past_end, 0),
            ("overlapping", overlapping, 1),
            ("no terminator", no_terminator, 3),
            ("huge count", huge, crate::tee::MAX_CERT_ENTRIES),
        ] {
            let g = SevGuest::with_device(FakeDevice::new(certs), "/dev/sev-guest", 0);
            match g.report(&[0; 64]) {
                Err(TeeError::CertTable { origin, entry: e, .. }) => {
                    assert_eq!(origin, "/dev/sev-guest", "{name}");
                    assert_eq!(e, entry, "{name}");
                }
                other => panic!("{name}: expected a certificate-table error, got {other:?}"),
            }
        }
    }

    #[test]
    fn certificate_table_needs_a_vek() {
        assert!(matches!(certificates(&[]), Err(TeeError::Certificates(_))));
        let g = SevGuest::with_device(FakeDevice::new(vec![0; 24]), "fake", 0);
        assert!(matches!(g.report(&[0; 64]), Err(TeeError::Certificates(_))));
    }

    #[test]
    fn an_absent_device() {
        let g = SevGuest::new("/nonexistent/sev-guest", 0);
        assert!(!g.present());
        assert!(matches!(g.report(&[0; 64]), Err(TeeError::Open { .. })));
    }
}
