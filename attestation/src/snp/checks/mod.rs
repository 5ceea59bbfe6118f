//! One function per numbered step of the SEV-SNP appraisal. Each records the outcome of its check(s) —
//! passed, failed, not run because an input it needs is missing or untrustworthy, or skipped (a VLEK or a
//! masked CHIP_ID skips the hwID binding; a policy that sets no reference value skips the comparison with
//! it) — and returns what later steps need. None of them stops the appraisal, so it names every problem.

mod binding;
mod endorsement;
mod policy;
mod report;
mod revocation;

pub(super) use binding::{product, report_data, vek_binding};
pub(super) use endorsement::endorsement_chain;
pub(super) use policy::{guest_policy, min_tcb, reference_values, vmpl};
pub(super) use report::{report_parsed, report_signature, reserved_fields, signature_algorithm};
pub(super) use revocation::ask_revocation;

use crate::appraisal::Checks;
use crate::snp::SnpCheck;
use crate::snp::report::SnpReport;

/// The parsed report, or `None` with each of `these` checks recorded as not run because it did not parse.
fn parsed<'r, 'a>(
    checks: &mut Checks<SnpCheck>,
    report: Option<&'r SnpReport<'a>>,
    these: &[SnpCheck],
) -> Option<&'r SnpReport<'a>> {
    if report.is_none() {
        for check in these {
            checks.not_run(*check, "the report did not parse");
        }
    }
    report
}
