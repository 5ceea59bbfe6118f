//! [`SevGuest`]: SEV-SNP reports through the `sev` crate's guest firmware API (`SNP_GET_EXT_REPORT` on
//! the guest device; the ioctl and its `unsafe` live inside the `sev` crate).
//!
//! The extended report carries the host-provisioned certificate table (`SNP_SET_EXT_CONFIG` on the host):
//! the VCEK or VLEK that signed the report, and the ASK/ASVK and ARK when present. None of it is trusted
//! here — the verifier checks the chain to its pinned AMD roots. Without a VCEK/VLEK in the table the
//! evidence cannot be verified offline, and that is an error here rather than a bundle nobody can check.
//!
//! The device path is a parameter (`ccgpu.sev_guest`) for presence detection. The `sev` crate itself only
//! opens `/dev/sev-guest`, so a different path is reported as unsupported instead of silently using
//! another device.

use std::path::PathBuf;

use ::sev::firmware::guest::Firmware;
use ::sev::firmware::host::{CertTableEntry, CertType};

use super::{CpuReport, CpuTee, TeeError};

/// The only device path the `sev` crate opens.
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";

/// The SEV-SNP guest device.
#[derive(Debug, Clone)]
pub struct SevGuest {
    device: PathBuf,
    vmpl: u32,
}

impl SevGuest {
    /// The device at `device`, asking for reports of `vmpl`.
    pub fn new(device: impl Into<PathBuf>, vmpl: u32) -> Self {
        Self { device: device.into(), vmpl }
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

/// VEK, and ASK/ASVK + ARK as PEM, from an extended report's certificate table.
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

impl CpuTee for SevGuest {
    fn present(&self) -> bool {
        self.device.exists()
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<CpuReport, TeeError> {
        if self.device.as_os_str() != SEV_GUEST_DEVICE {
            return Err(TeeError::Unsupported(format!(
                "the sev crate opens only {SEV_GUEST_DEVICE}, not {}",
                self.device.display()
            )));
        }
        let mut fw = Firmware::open().map_err(|source| TeeError::Open { device: SEV_GUEST_DEVICE.into(), source })?;
        let (report, table) = fw
            .get_ext_report(None, Some(*report_data), Some(self.vmpl))
            .map_err(|e| TeeError::Firmware(e.to_string()))?;
        let (vek, ask_ark) = certificates(table.as_deref().unwrap_or_default())?;
        Ok(CpuReport { report, vek, ask_ark })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_device_and_other_paths() {
        let g = SevGuest::new("/nonexistent/sev-guest", 0);
        assert!(!g.present());
        assert!(matches!(g.report(&[0; 64]), Err(TeeError::Unsupported(_))));
    }

    #[test]
    fn certificate_table_needs_a_vek() {
        assert!(matches!(certificates(&[]), Err(TeeError::Certificates(_))));
        let table = vec![
            CertTableEntry::new(CertType::ASK, vec![1, 2]),
            CertTableEntry::new(CertType::ARK, vec![3]),
            CertTableEntry::new(CertType::VLEK, vec![9]),
        ];
        let (vek, ask_ark) = certificates(&table).expect("VLEK found");
        assert_eq!(vek, vec![9]);
        let text = String::from_utf8(ask_ark.expect("ASK and ARK")).expect("PEM");
        assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2);
    }
}
