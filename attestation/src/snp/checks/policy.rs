//! Steps 9–12: the guest as the policy wants it — its policy bits, VMPL, minimum TCB, and the reference
//! values (launch measurement, HOST_DATA) the policy pins.

use super::parsed;
use crate::appraisal::Checks;
use crate::snp::SnpCheck;
use crate::snp::policy::SnpPolicy;
use crate::snp::product::Product;
use crate::snp::report::{SnpReport, policy_bit};
use crate::snp::tcb::Tcb;

/// Step 9: The guest policy bits (debug, migration agent, SMT) are ones the policy accepts.
pub(crate) fn guest_policy(checks: &mut Checks<SnpCheck>, report: Option<&SnpReport<'_>>, policy: &SnpPolicy) {
    let Some(r) = parsed(checks, report, &[SnpCheck::GuestPolicy]) else { return };
    let bits = r.policy_bits();
    let mut problems = Vec::new();
    if bits & policy_bit::DEBUG != 0 && !policy.allow_debug {
        problems.push("the guest allows debugging (POLICY bit 19): the host can read and write its memory");
    }
    if bits & policy_bit::MIGRATE_MA != 0 && !policy.allow_migration_agent {
        problems.push("the guest may be associated with a migration agent (POLICY bit 18)");
    }
    if bits & policy_bit::SMT != 0 && !policy.allow_smt {
        problems.push("the guest allows the host to use SMT (POLICY bit 16), which the policy forbids");
    }
    if problems.is_empty() {
        let on = |bit: u64| if bits & bit != 0 { "allowed" } else { "off" };
        checks.pass(
            SnpCheck::GuestPolicy,
            format!(
                "POLICY {bits:#x}: debug {}, migration agent {}, SMT {}",
                on(policy_bit::DEBUG),
                on(policy_bit::MIGRATE_MA),
                on(policy_bit::SMT)
            ),
        );
    } else {
        checks.fail(SnpCheck::GuestPolicy, format!("POLICY {bits:#x}: {}", problems.join("; ")));
    }
}

/// Step 10: The report was requested from the VMPL the policy requires.
pub(crate) fn vmpl(checks: &mut Checks<SnpCheck>, report: Option<&SnpReport<'_>>, policy: &SnpPolicy) {
    let Some(r) = parsed(checks, report, &[SnpCheck::Vmpl]) else { return };
    let vmpl = r.fields().vmpl;
    match policy.vmpl {
        None => checks.skip(SnpCheck::Vmpl, format!("the policy requires no VMPL (the report's is {vmpl})")),
        Some(want) if want == vmpl => checks.pass(SnpCheck::Vmpl, format!("VMPL {vmpl}")),
        Some(want) => checks
            .fail(SnpCheck::Vmpl, format!("the report was requested from VMPL {vmpl}, the policy requires {want}")),
    }
}

/// Step 11: REPORTED_TCB meets the policy's minimum for the product.
pub(crate) fn min_tcb(
    checks: &mut Checks<SnpCheck>,
    report: Option<&SnpReport<'_>>,
    product: Option<Product>,
    policy: &SnpPolicy,
) {
    let Some(r) = parsed(checks, report, &[SnpCheck::MinTcb]) else { return };
    if policy.min_tcb.is_empty() {
        checks.skip(SnpCheck::MinTcb, "the policy sets no minimum TCB");
        return;
    }
    let Some(product) = product else {
        checks.not_run(SnpCheck::MinTcb, "the product is unknown");
        return;
    };
    let reported: Tcb = r.fields().reported_tcb.into();
    match policy.min_tcb.get(&product) {
        None => {
            let named: Vec<&str> = policy.min_tcb.keys().map(|p| p.name()).collect();
            checks.fail(
                SnpCheck::MinTcb,
                format!("the policy sets minimum TCBs for {} only, this is a {product} report", named.join(", ")),
            );
        }
        Some(min) => {
            let below = reported.below(min);
            if below.is_empty() {
                checks.pass(SnpCheck::MinTcb, format!("REPORTED_TCB ({reported}) meets the {product} minimum ({min})"));
            } else {
                checks.fail(
                    SnpCheck::MinTcb,
                    format!("REPORTED_TCB is below the {product} minimum: {}", below.join(", ")),
                );
            }
        }
    }
}

/// Step 12: The launch measurement and HOST_DATA are ones the policy allows.
pub(crate) fn reference_values(checks: &mut Checks<SnpCheck>, report: Option<&SnpReport<'_>>, policy: &SnpPolicy) {
    let Some(r) = parsed(checks, report, &[SnpCheck::Measurement, SnpCheck::HostData]) else { return };
    let f = r.fields();
    match &policy.measurements {
        None => checks.skip(SnpCheck::Measurement, "the policy lists no measurements"),
        Some(allowed) if allowed.iter().any(|m| m.0 == f.measurement) => {
            checks.pass(SnpCheck::Measurement, format!("MEASUREMENT {} is allowed", hex::encode(f.measurement)))
        }
        Some(allowed) => checks.fail(
            SnpCheck::Measurement,
            format!("MEASUREMENT {} is not one of the {} the policy allows", hex::encode(f.measurement), allowed.len()),
        ),
    }
    match &policy.host_data {
        None => checks.skip(SnpCheck::HostData, "the policy requires no HOST_DATA"),
        Some(want) if want.0 == f.host_data => checks.pass(SnpCheck::HostData, "HOST_DATA equals the policy's"),
        Some(want) => checks.fail(
            SnpCheck::HostData,
            format!("HOST_DATA {} differs from the policy's {want}", hex::encode(f.host_data)),
        ),
    }
}
