//! Step 9: every active golden measurement of the verified switch VBIOS RIM matches the report.

use crate::appraisal::Checks;
use crate::nvidia::measurements::{self, Comparison};
use crate::nvidia::rim::VerifiedRim;
use crate::nvidia::spdm::AttestationReport;
use crate::switch::SwitchCheck;

/// Step 9: The comparison, when it ran. Golden values are only read from a verified RIM.
pub(crate) fn measurements(
    checks: &mut Checks<SwitchCheck>,
    report: Option<&AttestationReport>,
    vbios: Option<&VerifiedRim>,
) -> Option<Comparison> {
    let Some(v) = vbios else {
        checks.not_run(
            SwitchCheck::Measurements,
            "no verified VBIOS RIM: golden values are only read from verified RIMs",
        );
        return None;
    };
    let Some(r) = report else {
        checks.not_run(SwitchCheck::Measurements, "the report did not parse");
        return None;
    };
    let c = measurements::compare_vbios(r, v);
    if c.mismatches.is_empty() {
        checks.pass(SwitchCheck::Measurements, format!("VBIOS {}/{} golden values match", c.matched.1, c.active.1));
    } else {
        let list: Vec<String> = c.mismatches.iter().map(|m| m.index.to_string()).collect();
        checks.fail(
            SwitchCheck::Measurements,
            format!(
                "VBIOS {}/{} golden values match; mismatching golden indexes: {}",
                c.matched.1,
                c.active.1,
                list.join(", ")
            ),
        );
    }
    Some(c)
}
