//! [`LocalVerifier`]: appraises the bundle inside the guest with `ccgpu-attestation`
//! ([`appraise_bundle`]) under the configured policy, against the compiled-in NVIDIA and AMD roots (or,
//! only in `--simulate` mode, the simulation's own roots).
//!
//! Revocation is not checked here (the guest has no route to NVIDIA's OCSP responders); the appraisal
//! records it as not checked, and a policy with `ocsp.require = "required"` therefore fails closed — use
//! remote mode for revocation. Certificate validity is judged at the guest's clock raised to the build
//! time ([`super::clock`]): the host provides the clock and could roll it back to revive expired
//! certificates, but not to before the agent was built. A relying party (remote mode) judges at its own.

use ccgpu_attestation::{
    AmdRoots, Anchors, BundleAppraise, BundleRevocation, EvidenceBundle, Policy, Verdict, VerifierCache,
    appraise_bundle,
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
        // CPU and bundle-level failures concern every GPU: they are what binds the GPUs to this VM.
        let shared: Vec<String> = appraisal.failures().into_iter().filter(|f| !f.starts_with("gpu-")).collect();
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
            affirming: appraisal.verdict == Verdict::Affirming,
            verdict: appraisal.verdict.to_string(),
            failures: appraisal.failures(),
            gpus,
            source: "local",
            appraisal_json: serde_json::to_vec(&appraisal).unwrap_or_default(),
            record,
        })
    }
}
