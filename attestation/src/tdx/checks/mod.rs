//! One function per numbered step of the TDX appraisal. Each records the outcome of its check(s) —
//! passed, failed, not run because an input it needs is missing or untrustworthy, or skipped (a policy
//! that pins no reference value) — and returns what later steps need. None of them stops the appraisal,
//! so it names every problem.

mod collateral;
mod endorsement;
mod policy;
mod quote;
mod tcb;

pub(super) use collateral::{collateral_current, collateral_signatures, qe_identity};
pub(super) use endorsement::{Pck, pck_chain, revocation};
pub(super) use policy::{reference_values, report_data, service_td, td_attributes};
pub(super) use quote::{qe_report, quote_parsed, quote_signature};
pub(super) use tcb::{module_identity, tcb_level, tcb_status};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

use crate::appraisal::Checks;
use crate::tdx::TdxCheck;

/// `value`, or `None` with each of `these` checks recorded as not run because of `why`.
fn needs<'v, T>(checks: &mut Checks<TdxCheck>, value: Option<&'v T>, these: &[TdxCheck], why: &str) -> Option<&'v T> {
    if value.is_none() {
        for check in these {
            checks.not_run(*check, why);
        }
    }
    value
}

/// Verifies a fixed-width r‖s ECDSA P-256/SHA-256 signature with an uncompressed SEC1 point.
pub(super) fn verify_p256(point: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok()
}
