//! Step 10: the appraisal policy's rule for the RIM a switch was judged by — the same rule as a GPU's RIMs
//! (NVIDIA's known test RIMs refused unless `gpu.allow_test_rims`; `gpu.accepted_rims` pins digests or
//! tag ids), so pinning RIMs cannot be side-stepped through an NVSwitch.

use crate::appraisal::Checks;
use crate::policy::{Policy, RimRef};
use crate::switch::SwitchCheck;

/// Step 10: The VBIOS RIM used is one the policy accepts.
pub(crate) fn policy(checks: &mut Checks<SwitchCheck>, rim: Option<RimRef<'_>>, policy: &Policy) {
    let Some(rim) = rim else {
        return checks.not_run(SwitchCheck::VbiosRimPolicy, "no VBIOS RIM was appraised");
    };
    match policy.judge_rims(&[rim]) {
        Ok(detail) => checks.pass(SwitchCheck::VbiosRimPolicy, detail),
        Err(reason) => checks.fail(SwitchCheck::VbiosRimPolicy, reason),
    }
}
