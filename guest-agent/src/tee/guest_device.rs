//! The seam in front of the SEV-SNP guest device: one extended-report request, its raw answer. The real
//! implementation is the ioctl module ([`super::ioctl::SevGuestIoctl`]); tests put a fake in its place.
//!
//! Trusts: nothing in a [`RawExtReport`]: its certificate table is the host's bytes, parsed bounds-checked
//! by `super::certtable`.

use std::fmt;

use super::TeeError;

/// What `SNP_GET_EXT_REPORT` returned, unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawExtReport {
    /// The attestation report (the response's report bytes, framing checked).
    pub report: Vec<u8>,
    /// The certificate buffer as the host filled it (the table, then zeros).
    pub certs: Vec<u8>,
}

/// A device that answers `SNP_GET_EXT_REPORT`.
pub trait SnpGuestDevice: Send + Sync + fmt::Debug {
    /// Whether the device exists.
    fn present(&self) -> bool;
    /// An extended report carrying `report_data`, for `vmpl`.
    fn ext_report(&self, report_data: &[u8; 64], vmpl: u32) -> Result<RawExtReport, TeeError>;
}
