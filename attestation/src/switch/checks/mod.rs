//! One function per numbered step of the NVSwitch appraisal. Each records the outcome of its check(s) and
//! returns what later steps need; none stops the appraisal.

mod device;
mod measurements;
mod policy;
mod report;
mod rim;

pub(super) use device::{arch, device_chain};
pub(super) use measurements::measurements;
pub(super) use policy::policy;
pub(super) use report::{fwid, pdi, report_parsed};
pub(super) use rim::rim;
