//! Step 10: the appraisal policy's own rules for GPUs (driver and VBIOS versions).

use crate::appraisal::Checks;
use crate::gpu::{GpuCheck, GpuIdentity};
use crate::policy::Policy;

/// Step 10: The report's driver and VBIOS versions satisfy the policy.
pub(crate) fn policy(checks: &mut Checks<GpuCheck>, report_parsed: bool, identity: &GpuIdentity, policy: &Policy) {
    if !report_parsed {
        checks.not_run(GpuCheck::Policy, "the report did not parse");
        return;
    }
    match policy.judge_gpu_versions(identity.driver_version.as_deref(), identity.vbios_version.as_deref()) {
        Ok(detail) => checks.pass(GpuCheck::Policy, detail),
        Err(reason) => checks.fail(GpuCheck::Policy, reason),
    }
}
