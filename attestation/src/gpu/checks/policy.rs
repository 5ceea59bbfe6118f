//! Step 10: the appraisal policy's own rules for GPUs: driver and VBIOS versions, and which RIMs are
//! accepted (NVIDIA's known test RIMs refused by default; `gpu.accepted_rims` pins digests or tag ids).

use crate::appraisal::Checks;
use crate::gpu::{GpuCheck, GpuIdentity};
use crate::policy::{Policy, RimRef};

/// Step 10: The report's driver and VBIOS versions, and the RIMs used, satisfy the policy.
pub(crate) fn policy(
    checks: &mut Checks<GpuCheck>,
    report_parsed: bool,
    identity: &GpuIdentity,
    rims: &[RimRef<'_>],
    policy: &Policy,
) {
    if !report_parsed {
        checks.not_run(GpuCheck::Policy, "the report did not parse");
        return;
    }
    let verdict = policy
        .judge_gpu_versions(identity.driver_version.as_deref(), identity.vbios_version.as_deref())
        .and_then(|versions| policy.judge_rims(rims).map(|rims| format!("{versions}; {rims}")));
    match verdict {
        Ok(detail) => checks.pass(GpuCheck::Policy, detail),
        Err(reason) => checks.fail(GpuCheck::Policy, reason),
    }
}
