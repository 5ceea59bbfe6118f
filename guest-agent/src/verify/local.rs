//! [`LocalVerifier`]: appraises the bundle inside the guest with `ccgpu-attestation`
//! ([`appraise_bundle`]) under the configured policy, against the compiled-in NVIDIA and AMD roots (or,
//! only in `--simulate` mode, the simulation's own roots).
//!
//! Revocation is not checked here (the guest has no route to NVIDIA's OCSP responders); the appraisal
//! records it as not checked, and a policy with `ocsp.require = "required"` therefore fails closed — use
//! remote mode for revocation. Certificate validity is judged at the guest's clock raised to the build
//! time ([`super::clock`]): the host provides the clock and could roll it back to revive expired
//! certificates, but not to before the agent was built. A relying party (remote mode) judges at its own.
//!
//! One warning does not hold a local verdict back: a policy without `snp.measurements`. Inside the guest
//! the launch measurement is the guest's own — an image that should not run would not run this check
//! either — so pinning it is for the relying party (remote mode, `ccgpu verify bundle`), where an
//! unpinned measurement stays a `warning` and releases nothing. Every other warning blocks
//! ([`local_verdict`]).

use ccgpu_attestation::{
    AmdRoots, Anchors, BundleAppraise, BundleRevocation, CompositeAppraisal, EvidenceBundle, Outcome, Policy, SnpCheck,
    Verdict, VerifierCache, appraise_bundle,
};
use time::OffsetDateTime;

use super::clock::{build_time_floor, judgement_time};
use super::{Decision, GpuDecision, Verifier, VerifyError};
use crate::audit;

/// Local verification.
#[derive(Debug)]
pub struct LocalVerifier {
    anchors: Anchors,
    amd_roots: AmdRoots,
    policy: Policy,
    cache: VerifierCache,
    clock: fn() -> OffsetDateTime,
    floor: OffsetDateTime,
}

impl LocalVerifier {
    /// NVIDIA's and AMD's production roots.
    pub fn production(policy: Policy) -> Self {
        Self::with_roots(Anchors::nvidia(), AmdRoots::amd(), policy)
    }

    /// Explicit roots (the simulation's, in `--simulate` mode and tests).
    pub fn with_roots(anchors: Anchors, amd_roots: AmdRoots, policy: Policy) -> Self {
        Self {
            anchors,
            amd_roots,
            policy,
            cache: VerifierCache::new(),
            clock: OffsetDateTime::now_utc,
            floor: build_time_floor(),
        }
    }

    /// The same verifier reading the guest clock from `clock` (tests: a clock the host rolled back).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// The earliest time evidence is judged at: the build time.
    pub fn floor(&self) -> OffsetDateTime {
        self.floor
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl Verifier for LocalVerifier {
    fn name(&self) -> &'static str {
        "local"
    }

    fn appraise(&self, bundle: &EvidenceBundle) -> Result<Decision, VerifyError> {
        let now = (self.clock)();
        let at = judgement_time(now, self.floor);
        if at == now {
            tracing::info!(guest_clock = %now, build_time_floor = %self.floor, judged_at = %at, "judging evidence at the guest clock");
        } else {
            tracing::warn!(
                guest_clock = %now, build_time_floor = %self.floor, judged_at = %at,
                "the guest clock is before this agent's build time; judging evidence at the build time"
            );
        }
        let appraisal = appraise_bundle(
            bundle,
            &BundleAppraise {
                // The agent assembled this bundle around the nonce it drew itself.
                expected_nonce: Some(&bundle.nonce),
                at,
                anchors: &self.anchors,
                amd_roots: &self.amd_roots,
                policy: &self.policy,
                revocation: BundleRevocation::NotChecked,
                cache: Some(&self.cache),
            },
        );
        let verdict = local_verdict(&appraisal);
        // CPU and bundle-level failures (and warnings that block) concern every GPU: they are what binds
        // the GPUs to this VM.
        let mut shared: Vec<String> = appraisal.failures().into_iter().filter(|f| !f.starts_with("gpu-")).collect();
        if verdict == Verdict::Warning
            && let Some(cpu) = &appraisal.cpu
        {
            shared.extend(cpu.warnings.iter().map(|w| format!("cpu:warning: {w}")));
        }
        let gpus = appraisal
            .gpus
            .iter()
            .map(|g| {
                let mut failed: Vec<String> =
                    g.appraisal.checks.failures().iter().map(|c| c.name().to_owned()).collect();
                failed.extend(shared.iter().cloned());
                GpuDecision {
                    affirming: g.appraisal.verdict == Verdict::Affirming && shared.is_empty(),
                    verdict: g.appraisal.verdict.to_string(),
                    failed_checks: failed,
                }
            })
            .collect();
        let record = audit::composite_record(&appraisal, bundle, now).map_err(VerifyError::Record)?;
        Ok(Decision {
            affirming: verdict.is_affirming(),
            verdict: verdict.to_string(),
            failures: appraisal.failures(),
            gpus,
            source: "local",
            appraisal_json: serde_json::to_vec(&appraisal).unwrap_or_default(),
            record,
        })
    }
}

/// The verdict of a local appraisal: the appraisal's own, except that the one warning an unpinned launch
/// measurement causes (and nothing else) counts as affirming inside the guest — see the module docs.
pub fn local_verdict(appraisal: &CompositeAppraisal) -> Verdict {
    let only_unpinned_measurement = appraisal.cpu.as_ref().is_some_and(|cpu| {
        cpu.checks.verdict() == Verdict::Affirming
            && matches!(cpu.checks.get(SnpCheck::Measurement), Some(Outcome::Skipped { .. }))
            && cpu.warnings.len() == 1
    });
    let rest_affirming = appraisal.checks.verdict() == Verdict::Affirming
        && appraisal.gpus.iter().all(|g| g.appraisal.verdict == Verdict::Affirming);
    match appraisal.verdict {
        Verdict::Warning if only_unpinned_measurement && rest_affirming => Verdict::Affirming,
        v => v,
    }
}
