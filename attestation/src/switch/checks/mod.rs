//! One function per numbered step of the NVSwitch appraisal. Each records the outcome of its check(s) and
//! returns what later steps need; none stops the appraisal.

mod device;
mod measurements;
mod report;
mod revocation;
mod rim;

pub(super) use device::{arch, device_chain};
pub(super) use measurements::measurements;
pub(super) use report::{fwid, nonce, pdi, report_parsed, report_signature};
pub(super) use rim::rim;
