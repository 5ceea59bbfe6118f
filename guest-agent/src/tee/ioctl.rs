//! [`SevGuestIoctl`]: `SNP_GET_EXT_REPORT` on the SEV-SNP guest device (`/dev/sev-guest`), by our own
//! ioctl — the only `unsafe` in the agent.
//!
//! The structures are the kernel's `include/uapi/linux/sev-guest.h` (`snp_guest_request_ioctl`,
//! `snp_ext_report_req`, `snp_report_resp`), with their sizes checked at compile time. Every buffer the
//! kernel writes is ours and sized here: the 4000-byte response, and a page-multiple certificate buffer.
//! When the host wants a larger certificate buffer (VMM error 1, the size written back to `certs_len`),
//! the request is retried once, with at most [`MAX_CERTS_LEN`] bytes.
//!
//! Trusts nothing it reads: the report is checked only for its framing (status 0, a size that fits the
//! response) — the verifier judges it — and the certificate buffer is returned as bytes, to be parsed by
//! [`super::parse_cert_table`], never by the `sev` crate (whose parser follows the host's offsets through
//! raw pointers).
#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

use super::TeeError;
use super::guest_device::{RawExtReport, SnpGuestDevice};

/// The certificate buffer asked for first: 4 pages (the kernel's `SEV_FW_BLOB_MAX_SIZE`).
pub const INITIAL_CERTS_LEN: usize = 4 * PAGE;
/// The largest certificate buffer the retry asks for.
pub const MAX_CERTS_LEN: usize = 16 * PAGE;
const PAGE: usize = 4096;
/// `SNP_GUEST_VMM_ERR_INVALID_LEN`: the certificate buffer is too small; `certs_len` says how large.
const VMM_ERR_INVALID_LEN: u32 = 1;
/// `_IOWR('S', 0x2, struct snp_guest_request_ioctl)`.
const SNP_GET_EXT_REPORT: u64 = (3 << 30) | ((size_of::<GuestRequest>() as u64) << 16) | ((b'S' as u64) << 8) | 0x2;
/// `MSG_REPORT_RSP`'s header: status, report size, 24 reserved bytes.
const RESP_HEADER: usize = 32;

/// `struct snp_report_req`.
#[repr(C)]
struct ReportReq {
    user_data: [u8; 64],
    vmpl: u32,
    rsvd: [u8; 28],
}

/// `struct snp_ext_report_req`.
#[repr(C)]
struct ExtReportReq {
    data: ReportReq,
    certs_address: u64,
    certs_len: u32,
}

/// `struct snp_report_resp`.
#[repr(C)]
struct ReportResp {
    data: [u8; 4000],
}

/// `struct snp_guest_request_ioctl` (the union `exitinfo2` as its two halves, little-endian).
#[repr(C)]
struct GuestRequest {
    msg_version: u8,
    req_data: u64,
    resp_data: u64,
    fw_error: u32,
    vmm_error: u32,
}

const _: () = assert!(size_of::<ReportReq>() == 96);
const _: () = assert!(size_of::<ExtReportReq>() == 112);
const _: () = assert!(size_of::<ReportResp>() == 4000);
const _: () = assert!(size_of::<GuestRequest>() == 32);
const _: () = assert!(SNP_GET_EXT_REPORT == 0xC020_5302);

/// The SEV-SNP guest device at a path (`/dev/sev-guest` in a guest; `ccgpu.sev_guest`).
#[derive(Debug, Clone)]
pub struct SevGuestIoctl {
    path: PathBuf,
}

impl SevGuestIoctl {
    /// The device at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The device's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SnpGuestDevice for SevGuestIoctl {
    fn present(&self) -> bool {
        self.path.exists()
    }

    fn ext_report(&self, report_data: &[u8; 64], vmpl: u32) -> Result<RawExtReport, TeeError> {
        let device = self.path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|source| TeeError::Open { device: device.clone(), source })?;
        let fail = |why: String| TeeError::Firmware(format!("{device}: SNP_GET_EXT_REPORT: {why}"));
        let mut certs_len = INITIAL_CERTS_LEN;
        for attempt in 0..2 {
            let mut certs = vec![0u8; certs_len];
            let mut req = ExtReportReq {
                data: ReportReq { user_data: *report_data, vmpl, rsvd: [0; 28] },
                certs_address: certs.as_mut_ptr() as u64,
                certs_len: u32::try_from(certs_len).map_err(|_| fail("certificate buffer too large".into()))?,
            };
            let mut resp = Box::new(ReportResp { data: [0; 4000] });
            let mut guest = GuestRequest {
                msg_version: 1,
                req_data: std::ptr::addr_of_mut!(req) as u64,
                resp_data: std::ptr::addr_of_mut!(*resp) as u64,
                fw_error: 0,
                vmm_error: 0,
            };
            // SAFETY: `file` is an open descriptor for the whole call. `guest` is a live, exclusively
            // borrowed `snp_guest_request_ioctl` (layout checked above); the addresses in it point to
            // `req` (112 bytes, `snp_ext_report_req`) and `resp` (4000 bytes, `snp_report_resp`), both
            // alive until after the call, and `req.certs_address`/`certs_len` describe `certs`, a
            // buffer of exactly `certs_len` bytes alive until after the call. The kernel writes only
            // within those sizes.
            let rc = unsafe { libc::ioctl(file.as_raw_fd(), SNP_GET_EXT_REPORT as _, std::ptr::addr_of_mut!(guest)) };
            let os = io::Error::last_os_error();
            if guest.vmm_error == VMM_ERR_INVALID_LEN {
                let wanted = usize::try_from(req.certs_len).unwrap_or(usize::MAX);
                if attempt == 0 && wanted > certs_len && wanted <= MAX_CERTS_LEN && wanted % PAGE == 0 {
                    certs_len = wanted;
                    continue;
                }
                return Err(fail(format!(
                    "the host wants a {wanted}-byte certificate buffer (had {certs_len}; at most {MAX_CERTS_LEN}, \
                     page-aligned, one retry)"
                )));
            }
            if rc < 0 || guest.fw_error != 0 || guest.vmm_error != 0 {
                return Err(fail(format!(
                    "{os} (firmware error {:#x}, VMM error {:#x})",
                    guest.fw_error, guest.vmm_error
                )));
            }
            let status = u32::from_le_bytes([resp.data[0], resp.data[1], resp.data[2], resp.data[3]]);
            let size = u32::from_le_bytes([resp.data[4], resp.data[5], resp.data[6], resp.data[7]]);
            if status != 0 {
                return Err(fail(format!("report status {status:#x}")));
            }
            let report = usize::try_from(size)
                .ok()
                .and_then(|s| resp.data.get(RESP_HEADER..RESP_HEADER.checked_add(s)?))
                .filter(|r| !r.is_empty())
                .ok_or_else(|| fail(format!("report size {size} does not fit the response")))?;
            return Ok(RawExtReport { report: report.to_vec(), certs });
        }
        Err(fail("the certificate buffer retry did not settle".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_device_is_an_open_error_naming_it() {
        let d = SevGuestIoctl::new("/nonexistent/sev-guest");
        assert!(!d.present());
        let e = d.ext_report(&[0; 64], 0).expect_err("absent");
        assert!(matches!(&e, TeeError::Open { device, .. } if device == "/nonexistent/sev-guest"), "{e:?}");
    }

    #[test]
    fn a_device_that_is_not_sev_guest_fails_the_ioctl_cleanly() {
        // /dev/null accepts the open and refuses the ioctl (ENOTTY): an error, no report.
        let e = SevGuestIoctl::new("/dev/null").ext_report(&[0; 64], 0).expect_err("not sev-guest");
        assert!(matches!(e, TeeError::Firmware(ref m) if m.contains("/dev/null")), "{e:?}");
    }
}
