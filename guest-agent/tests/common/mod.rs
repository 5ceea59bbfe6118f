//! Shared fixtures: the simulated PKIs (generated once per test binary), a simulated guest with a
//! temporary attestation log, a relying party's appraisal, and readers of what an agent left behind. The
//! benchmarks include this module too (`#[path]`).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ccgpu_attestation::{
    AmdRoots, Anchors, BundleAppraise, BundleRevocation, CompositeAppraisal, EvidenceBundle, LogReader, LogRecord,
    LogVerdict, Measurement, Policy, appraise_bundle,
};
use ccgpu_guest_agent::sim::{SIM_LAUNCH_MEASUREMENT, SimFleet, SimPkis};
use ccgpu_guest_agent::{
    Agent, AgentStatus, AuditLog, Config, FailureReason, GpuState, Outcome, Phase, Verifier, Waits,
};

/// The simulated PKIs, generated once.
pub fn pkis() -> SimPkis {
    static PKIS: OnceLock<SimPkis> = OnceLock::new();
    PKIS.get_or_init(|| SimPkis::generate().expect("simulated PKIs")).clone()
}

/// An agent configuration writing its log to `log`, with wait bounds that end at once: the simulation
/// never needs to wait, and a test must not.
pub fn config(log: PathBuf) -> Config {
    Config { log, waits: Waits { base: Duration::ZERO, per_gpu: Duration::ZERO }, ..Config::default() }
}

/// The relying party's policy: the default, with the simulated guest image's launch measurement pinned
/// (without it, the CPU verdict is at most `warning`).
pub fn relying_party_policy() -> Policy {
    let mut policy = Policy::default();
    policy.snp.measurements = Some(vec![Measurement(SIM_LAUNCH_MEASUREMENT)]);
    policy
}

/// A verifier outside the guest (a relying party, or `ccgpu verify bundle`): the simulation's roots and
/// [`relying_party_policy`], prepared once.
pub struct RelyingParty {
    anchors: Anchors,
    roots: AmdRoots,
    policy: Policy,
}

impl RelyingParty {
    pub fn new(pkis: &SimPkis) -> Self {
        Self::with_policy(pkis, relying_party_policy())
    }

    pub fn with_policy(pkis: &SimPkis, policy: Policy) -> Self {
        Self { anchors: pkis.gpu.anchors(), roots: pkis.snp.roots().expect("simulated AMD roots"), policy }
    }

    /// `bundle` appraised for the nonce it carries (in remote mode the agent chose it), now, revocation
    /// not checked, no cache.
    pub fn appraise(&self, bundle: &EvidenceBundle) -> CompositeAppraisal {
        appraise_bundle(
            bundle,
            &BundleAppraise {
                expected_nonce: Some(&bundle.nonce),
                at: time::OffsetDateTime::now_utc(),
                anchors: &self.anchors,
                amd_roots: &self.roots,
                policy: &self.policy,
                revocation: BundleRevocation::NotChecked,
                cache: None,
            },
        )
    }
}

/// `bundle` appraised by a [`RelyingParty`] over `pkis`.
pub fn appraise(pkis: &SimPkis, bundle: &EvidenceBundle) -> CompositeAppraisal {
    RelyingParty::new(pkis).appraise(bundle)
}

/// A simulated guest with `gpus` GPUs, its agent's configuration and a temporary log.
pub struct Guest {
    pub fleet: SimFleet,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

impl Guest {
    pub fn new(gpus: u8) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path().join("attestation.log"));
        Self { fleet: SimFleet::new(pkis(), gpus), config, dir }
    }

    pub fn log_path(&self) -> PathBuf {
        self.config.log.clone()
    }

    /// An agent with the local verifier over the simulation's roots under `config.policy`.
    pub fn agent(&self) -> Arc<Agent> {
        let verifier: Arc<dyn Verifier> =
            Arc::new(self.fleet.local_verifier(self.config.policy.clone()).expect("verifier"));
        self.agent_with(verifier)
    }

    pub fn agent_with(&self, verifier: Arc<dyn Verifier>) -> Arc<Agent> {
        let deps = self.fleet.deps(verifier, Arc::new(AuditLog::new(self.log_path())));
        Agent::new(self.config.clone(), deps, Instant::now())
    }

    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.config.policy = policy;
        self
    }

    /// Every record of the log, after verifying its chain.
    pub fn records(&self) -> Vec<LogRecord> {
        LogReader::open(self.log_path()).expect("log").verify().expect("intact log chain");
        LogReader::open(self.log_path()).expect("log").records().map(|r| r.expect("record").1).collect()
    }

    /// The ready state was never set to true, and is not set now.
    pub fn assert_never_ready(&self) {
        assert!(!self.fleet.gpus.set_ready_calls().contains(&true), "set_ready(true) was called");
        assert!(!self.fleet.gpus.is_ready(), "the ready state is set");
    }
}

/// Asserts a completed, successful bring-up.
pub fn assert_ready(guest: &Guest, agent: &Agent, outcome: &Outcome) {
    assert_eq!(outcome, &Outcome::Ready, "{:#?}", agent.status().snapshot());
    let s = agent.status().snapshot();
    assert_eq!(s.phase, Phase::Ready);
    assert!(s.ready);
    assert!(s.gpus.iter().all(|g| g.state == GpuState::Ready && g.failure.is_none()));
    for g in &s.gpus {
        let states: Vec<GpuState> = g.timings.iter().map(|(st, _)| *st).collect();
        assert_eq!(
            states,
            vec![
                GpuState::Discovered,
                GpuState::DriverLoaded,
                GpuState::PersistencedUp,
                GpuState::EvidenceCollected,
                GpuState::Verified,
                GpuState::Ready
            ],
            "{}: every state, in order",
            g.bdf
        );
        assert!(g.timings.windows(2).all(|w| w[0].1 <= w[1].1), "timings are monotonic");
    }
    assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![true]);
    assert!(guest.fleet.gpus.is_ready());
    let records = guest.records();
    assert_eq!(records.len(), 1, "one record per bring-up");
    assert_eq!(records[0].verdict, LogVerdict::Affirming);
    assert_eq!(records[0].devices.len(), s.gpus.len() + 1, "every GPU and the SNP report");
}

/// The failure of the GPU at `index`.
pub fn failure_of(s: &AgentStatus, index: usize) -> (FailureReason, String, Vec<String>) {
    let g = &s.gpus[index];
    let f = g.failure.as_ref().unwrap_or_else(|| panic!("GPU {index} did not fail: {g:#?}"));
    assert_eq!(g.state, GpuState::Failed);
    (f.reason, f.detail.clone(), g.failed_checks.clone())
}

/// Asserts a failed bring-up: nothing ready, the ready state never set, a contraindicated record.
pub fn assert_failed(guest: &Guest, agent: &Agent, outcome: &Outcome) -> AgentStatus {
    assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    let s = agent.status().snapshot();
    assert_eq!(s.phase, Phase::Failed);
    assert!(!s.ready);
    assert!(s.gpus.iter().all(|g| g.state == GpuState::Failed), "{:#?}", s.gpus);
    guest.assert_never_ready();
    let records = guest.records();
    let last = records.last().expect("the failure is in the attestation log");
    assert_eq!(last.verdict, LogVerdict::Contraindicated);
    assert!(!last.failed_checks.is_empty());
    s
}
