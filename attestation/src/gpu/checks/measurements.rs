//! Step 9: the golden measurements of the two verified RIMs — no index active in both, and every active
//! one matching the report.

use crate::appraisal::Checks;
use crate::gpu::GpuCheck;
use crate::nvidia::measurements::{self, Comparison};
use crate::nvidia::rim::VerifiedRim;
use crate::nvidia::spdm::AttestationReport;

/// Step 9: Index conflict and measurements; the comparison, when it ran. Golden values are only read from
/// verified RIMs.
pub(crate) fn measurements(
    checks: &mut Checks<GpuCheck>,
    report: Option<&AttestationReport>,
    driver: Option<&VerifiedRim>,
    vbios: Option<&VerifiedRim>,
) -> Option<Comparison> {
    let (Some(d), Some(v)) = (driver, vbios) else {
        let missing: Vec<&str> = [(driver.is_none(), "driver"), (vbios.is_none(), "VBIOS")]
            .iter()
            .filter(|(m, _)| *m)
            .map(|(_, n)| *n)
            .collect();
        let reason =
            format!("no verified {} RIM: golden values are only read from verified RIMs", missing.join(" or "));
        checks.not_run(GpuCheck::IndexConflict, reason.clone());
        checks.not_run(GpuCheck::Measurements, reason);
        return None;
    };
    let conflicts = measurements::index_conflicts(d, v);
    if !conflicts.is_empty() {
        checks.fail(
            GpuCheck::IndexConflict,
            format!("golden indexes active in both the driver and the VBIOS RIM: {conflicts:?}"),
        );
        checks.not_run(GpuCheck::Measurements, "the golden values are contradictory (index conflict)");
        return None;
    }
    checks.pass(GpuCheck::IndexConflict, "no golden index is active in both RIMs");
    let Some(r) = report else {
        checks.not_run(GpuCheck::Measurements, "the report did not parse");
        return None;
    };
    let c = measurements::compare(r, d, v);
    if c.mismatches.is_empty() {
        checks.pass(GpuCheck::Measurements, c.summary());
    } else {
        let list: Vec<String> = c.mismatches.iter().map(|m| format!("{} ({})", m.index, m.source)).collect();
        checks
            .fail(GpuCheck::Measurements, format!("{}; mismatching golden indexes: {}", c.summary(), list.join(", ")));
    }
    Some(c)
}
