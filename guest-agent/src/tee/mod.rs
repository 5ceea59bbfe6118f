//! The CPU TEE seam: a hardware-signed report of this VM that carries 64 bytes of our choosing
//! (REPORT_DATA), used to bind the GPUs' evidence to this VM ([`ccgpu_attestation::report_data`]).
//!
//! Real: [`sev::SevGuest`], the AMD SEV-SNP guest device (`SNP_GET_EXT_REPORT` by our own ioctl in
//! `ioctl.rs`, the crate's only `unsafe`), kept for guests older than Linux 6.7; [`tsm::ConfigfsTsm`], the kernel's configfs TSM reports, which
//! serve Intel TDX quotes and SEV-SNP reports alike and name the TEE that answered.
//! Which one the agent uses is detected ([`CpuTeeDevice`]: configfs TSM when present, else the guest
//! device), or forced by the measured `cpu_tee` setting.
//! Simulated: `crate::sim::SimSnp`, reports signed by a simulated AMD PKI. When the VM has no CPU TEE
//! device, [`NoTee`] reports that, and the policy decides (by default a bundle without CPU evidence is
//! refused: nothing else binds the GPU reports to this VM).

mod certtable;
mod guest_device;
mod ioctl;
mod select;
pub mod sev;
pub mod tsm;

use std::fmt;

use thiserror::Error;

pub use self::certtable::{MAX_CERT_ENTRIES, parse_cert_table};
pub use self::guest_device::{RawExtReport, SnpGuestDevice};
pub use self::ioctl::{INITIAL_CERTS_LEN, MAX_CERTS_LEN, SevGuestIoctl};
pub use self::select::CpuTeeDevice;
pub use self::sev::{SEV_GUEST_DEVICE, SevGuest};
pub use self::tsm::{Configfs, ConfigfsTsm, TSM_REPORT_ROOT, TeeKind, TsmEvidence, TsmFs};

/// A CPU TEE report and what verifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuReport {
    /// The report (1184 bytes for SEV-SNP).
    pub report: Vec<u8>,
    /// The VCEK or VLEK certificate, DER.
    pub vek: Vec<u8>,
    /// The ASK/ASVK and ARK, PEM, when the platform supplied them.
    pub ask_ark: Option<Vec<u8>>,
}

/// Getting a report failed.
#[derive(Debug, Error)]
pub enum TeeError {
    /// The device could not be opened.
    #[error("opening {device}")]
    Open {
        /// The device path.
        device: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The firmware refused or failed.
    #[error("SEV-SNP firmware: {0}")]
    Firmware(String),
    /// No VCEK/VLEK came with the report.
    #[error("{0}")]
    Certificates(String),
    /// The host-supplied certificate table is malformed (nothing is sent).
    #[error("{origin}: certificate table entry {entry}: {why}")]
    CertTable {
        /// Where the table came from (the device, or the configfs entry).
        origin: String,
        /// The entry's index (the count of entries read when the table itself is cut off or too long).
        entry: usize,
        /// What is wrong with it.
        why: String,
    },
    /// This device path cannot be used.
    #[error("{0}")]
    Unsupported(String),
    /// A simulated failure.
    #[error("{0}")]
    Simulated(String),
}

/// A CPU TEE that signs reports carrying our REPORT_DATA.
pub trait CpuTee: Send + Sync + fmt::Debug {
    /// Whether this VM has the TEE device at all.
    fn present(&self) -> bool;
    /// A fresh report carrying `report_data`.
    fn report(&self, report_data: &[u8; 64]) -> Result<CpuReport, TeeError>;
}

/// No CPU TEE.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTee;

impl CpuTee for NoTee {
    fn present(&self) -> bool {
        false
    }

    fn report(&self, _report_data: &[u8; 64]) -> Result<CpuReport, TeeError> {
        Err(TeeError::Unsupported("this VM has no CPU TEE device".into()))
    }
}
