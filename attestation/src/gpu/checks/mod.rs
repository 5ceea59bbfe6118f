//! One function per numbered step of the GPU appraisal. Each records the outcome of its check(s) — passed,
//! failed, not run because an input it needs is missing or untrustworthy, or skipped by explicit policy —
//! and returns what later steps need. None of them stops the appraisal, so it names every problem.

mod device;
mod measurements;
mod policy;
mod report;
mod revocation;
mod rim;

pub(super) use device::{arch, device_chain};
pub(super) use measurements::measurements;
pub(super) use policy::policy;
pub(crate) use report::{fwid, nonce, report_parsed, report_signature};
pub(crate) use revocation::{Target as RevocationTarget, check as revocation_check};
pub(super) use rim::{RimKind, rim};
