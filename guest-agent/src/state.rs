//! The per-GPU state machine and the agent's status board.
//!
//! A GPU only moves forward through [`GpuState`], one step at a time, or to `Failed` from any state but
//! `Ready`; a failed GPU stays failed. A `Ready` GPU fails only when the ready state is withdrawn
//! ([`StatusBoard::withdraw`]: the set of NVIDIA devices changed after bring-up), and a device that
//! appears after bring-up enters as `Failed` ([`StatusBoard::appeared`]). [`StatusBoard`] holds every
//! GPU's record with the time each state was reached (relative to agent start), bumps a generation
//! counter on every change and wakes watchers, which is what the API's `WatchStatus` waits on. Illegal
//! transitions are refused and logged, never applied: the state shown is always one the bring-up really
//! reached.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ccgpu_pci::PciAddress;

use crate::gpu::CcSettings;

/// Where one GPU is in bring-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GpuState {
    /// Found on the PCI bus.
    Discovered,
    /// Bound to the `nvidia` driver.
    DriverLoaded,
    /// `nvidia-persistenced` is serving.
    PersistencedUp,
    /// Its report and chain for our nonce are in hand.
    EvidenceCollected,
    /// Its evidence verified (affirming).
    Verified,
    /// The CC ready state is set: it accepts work.
    Ready,
    /// Bring-up failed; the GPU is not ready.
    Failed,
}

impl GpuState {
    /// Stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovered => "discovered",
            Self::DriverLoaded => "driver-loaded",
            Self::PersistencedUp => "persistenced-up",
            Self::EvidenceCollected => "evidence-collected",
            Self::Verified => "verified",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    /// The state after this one on the way to ready.
    fn next(self) -> Option<Self> {
        match self {
            Self::Discovered => Some(Self::DriverLoaded),
            Self::DriverLoaded => Some(Self::PersistencedUp),
            Self::PersistencedUp => Some(Self::EvidenceCollected),
            Self::EvidenceCollected => Some(Self::Verified),
            Self::Verified => Some(Self::Ready),
            Self::Ready | Self::Failed => None,
        }
    }
}

impl fmt::Display for GpuState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a GPU failed. Stable names (`reason()`), so operators and tests can match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The PCI bus could not be read.
    Discovery,
    /// The number of GPUs differs from `ccgpu.expect_gpus`.
    UnexpectedGpuCount,
    /// NVSwitches are present: their evidence (PPCIe) is not collected, so the fabric is unattested.
    NvSwitchUnsupported,
    /// `modprobe` failed or timed out.
    ModuleLoad,
    /// The GPU did not bind to the `nvidia` driver in time.
    DriverNotBound,
    /// `nvidia-persistenced` failed or was not ready in time.
    Persistenced,
    /// NVML could not be initialised.
    NvmlUnavailable,
    /// NVML does not list this GPU.
    UnknownToNvml,
    /// An NVML query (UUID, versions, CC settings) failed.
    GpuQuery,
    /// CC mode is off.
    CcOff,
    /// CC dev-tools mode is on and the policy does not allow it.
    DevTools,
    /// The attestation report or certificate chain could not be obtained.
    Evidence,
    /// No randomness for the nonce.
    Nonce,
    /// The CPU TEE report could not be obtained.
    CpuEvidence,
    /// The verdict is not affirming.
    Verification,
    /// The relying party could not be asked, or its answer is not a valid signed verdict for our nonce.
    RelyingParty,
    /// The appraisal could not be written to the attestation log.
    AttestationLog,
    /// Setting or confirming the ready state failed.
    ReadyState,
    /// Another GPU failed: the ready state is system-wide, so no GPU is released.
    OtherGpuFailed,
    /// The device appeared (hot-plugged) or disappeared after bring-up: it was never verified, and the
    /// ready state, which would cover it, is withdrawn.
    DeviceSetChanged,
}

impl FailureReason {
    /// Stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::UnexpectedGpuCount => "unexpected-gpu-count",
            Self::NvSwitchUnsupported => "nvswitch-unsupported",
            Self::ModuleLoad => "module-load",
            Self::DriverNotBound => "driver-not-bound",
            Self::Persistenced => "persistenced",
            Self::NvmlUnavailable => "nvml-unavailable",
            Self::UnknownToNvml => "unknown-to-nvml",
            Self::GpuQuery => "gpu-query",
            Self::CcOff => "cc-off",
            Self::DevTools => "dev-tools",
            Self::Evidence => "evidence",
            Self::Nonce => "nonce",
            Self::CpuEvidence => "cpu-evidence",
            Self::Verification => "verification",
            Self::RelyingParty => "relying-party",
            Self::AttestationLog => "attestation-log",
            Self::ReadyState => "ready-state",
            Self::OtherGpuFailed => "other-gpu-failed",
            Self::DeviceSetChanged => "device-set-changed",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A GPU's failure: the state it was in, why, and the detail (error chain, failing checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The state the GPU was in when it failed (the step after it is the one that failed).
    pub at: GpuState,
    /// Why.
    pub reason: FailureReason,
    /// The detail.
    pub detail: String,
}

/// One GPU's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRecord {
    /// PCI address in the guest.
    pub bdf: PciAddress,
    /// UUID, once NVML gave it.
    pub uuid: Option<String>,
    /// Current state.
    pub state: GpuState,
    /// Set when `state` is `Failed`.
    pub failure: Option<Failure>,
    /// Each state reached, with the time since agent start.
    pub timings: Vec<(GpuState, Duration)>,
    /// Verdict of its appraisal, once there is one.
    pub verdict: Option<String>,
    /// Its failing checks.
    pub failed_checks: Vec<String>,
    /// Driver version.
    pub driver_version: Option<String>,
    /// VBIOS version.
    pub vbios_version: Option<String>,
    /// CC settings, once read.
    pub cc: Option<CcSettings>,
}

/// The agent as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Bring-up in progress.
    BringingUp,
    /// Every GPU ready.
    Ready,
    /// Bring-up failed; no GPU is ready.
    Failed,
    /// No GPU found.
    NoGpus,
}

impl Phase {
    /// Stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::BringingUp => "bringing-up",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::NoGpus => "no-gpus",
        }
    }
}

/// A snapshot of the agent's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    /// Bumped on every change.
    pub generation: u64,
    /// Overall phase.
    pub phase: Phase,
    /// The CC ready state as last set or read.
    pub ready: bool,
    /// Why bring-up failed, when it did.
    pub reason: Option<String>,
    /// Per GPU, in address order.
    pub gpus: Vec<GpuRecord>,
    /// `local` or `remote`.
    pub mode: String,
    /// Digest of the policy in force.
    pub policy_digest: String,
    /// Digest of the configuration file.
    pub config_digest: Option<String>,
    /// Verdict of the last appraisal.
    pub last_verdict: Option<String>,
    /// Agent start to end of bring-up.
    pub bringup: Option<Duration>,
}

/// The shared, watched status.
#[derive(Debug)]
pub struct StatusBoard {
    start: Instant,
    status: Mutex<AgentStatus>,
    changed: Condvar,
}

impl StatusBoard {
    /// A board for an agent that started at `start`.
    pub fn new(start: Instant, mode: &str, policy_digest: String, config_digest: Option<String>) -> Self {
        Self {
            start,
            status: Mutex::new(AgentStatus {
                generation: 1,
                phase: Phase::BringingUp,
                ready: false,
                reason: None,
                gpus: Vec::new(),
                mode: mode.to_owned(),
                policy_digest,
                config_digest,
                last_verdict: None,
                bringup: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// When the agent started.
    pub fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> MutexGuard<'_, AgentStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the status and wakes watchers.
    pub fn update<T>(&self, change: impl FnOnce(&mut AgentStatus) -> T) -> T {
        let mut s = self.lock();
        let out = change(&mut s);
        s.generation = s.generation.saturating_add(1);
        drop(s);
        self.changed.notify_all();
        out
    }

    /// The status now.
    pub fn snapshot(&self) -> AgentStatus {
        self.lock().clone()
    }

    /// The status once its generation exceeds `after`, or after `timeout` as it is then.
    pub fn wait_newer(&self, after: u64, timeout: Duration) -> AgentStatus {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |s| s.generation <= after)
            .unwrap_or_else(PoisonError::into_inner);
        guard.clone()
    }

    /// Registers discovered GPUs.
    pub fn discovered(&self, gpus: &[PciAddress]) {
        let at = self.start.elapsed();
        self.update(|s| {
            s.gpus = gpus
                .iter()
                .map(|bdf| GpuRecord {
                    bdf: *bdf,
                    uuid: None,
                    state: GpuState::Discovered,
                    failure: None,
                    timings: vec![(GpuState::Discovered, at)],
                    verdict: None,
                    failed_checks: Vec::new(),
                    driver_version: None,
                    vbios_version: None,
                    cc: None,
                })
                .collect();
        });
        for bdf in gpus {
            tracing::info!(bdf = %bdf, state = "discovered", at_us = micros(at), "GPU state");
        }
    }

    /// Moves `bdf` one step forward to `to`. Refused (and logged) unless `to` is the next state.
    pub fn advance(&self, bdf: PciAddress, to: GpuState) -> bool {
        let at = self.start.elapsed();
        let moved = self.update(|s| match s.gpus.iter_mut().find(|g| g.bdf == bdf) {
            Some(g) if g.state.next() == Some(to) => {
                g.state = to;
                g.timings.push((to, at));
                true
            }
            _ => false,
        });
        if moved {
            tracing::info!(bdf = %bdf, state = to.name(), at_us = micros(at), "GPU state");
        } else {
            tracing::error!(bdf = %bdf, state = to.name(), "refused GPU state transition");
        }
        moved
    }

    /// Fails `bdf` (unless already failed or ready).
    pub fn fail(&self, bdf: PciAddress, reason: FailureReason, detail: impl Into<String>) {
        self.to_failed(bdf, reason, detail.into(), |state| state != GpuState::Ready, "GPU failed");
    }

    /// Fails `bdf` even when it is `Ready`: the ready state was withdrawn. Returns whether it changed.
    pub fn withdraw(&self, bdf: PciAddress, reason: FailureReason, detail: impl Into<String>) -> bool {
        self.to_failed(bdf, reason, detail.into(), |_| true, "GPU withdrawn")
    }

    /// Moves `bdf` to `Failed` when it is not failed yet and `from(state)` allows it; logs `event`.
    fn to_failed(
        &self,
        bdf: PciAddress,
        reason: FailureReason,
        detail: String,
        from: impl Fn(GpuState) -> bool,
        event: &str,
    ) -> bool {
        let at = self.start.elapsed();
        let failed = self.update(|s| match s.gpus.iter_mut().find(|g| g.bdf == bdf) {
            Some(g) if g.state != GpuState::Failed && from(g.state) => {
                g.failure = Some(Failure { at: g.state, reason, detail: detail.clone() });
                g.state = GpuState::Failed;
                g.timings.push((GpuState::Failed, at));
                true
            }
            _ => false,
        });
        if failed {
            tracing::error!(bdf = %bdf, reason = reason.name(), detail = %detail, at_us = micros(at), "{event}");
        }
        failed
    }

    /// Registers a GPU that appeared after bring-up, failed at once (it is never brought up).
    pub fn appeared(&self, bdf: PciAddress, reason: FailureReason, detail: impl Into<String>) {
        let detail = detail.into();
        let at = self.start.elapsed();
        self.update(|s| {
            if s.gpus.iter().any(|g| g.bdf == bdf) {
                return;
            }
            s.gpus.push(GpuRecord {
                bdf,
                uuid: None,
                state: GpuState::Failed,
                failure: Some(Failure { at: GpuState::Discovered, reason, detail: detail.clone() }),
                timings: vec![(GpuState::Discovered, at), (GpuState::Failed, at)],
                verdict: None,
                failed_checks: Vec::new(),
                driver_version: None,
                vbios_version: None,
                cc: None,
            });
            s.gpus.sort_by_key(|g| g.bdf);
        });
        tracing::error!(
            bdf = %bdf, reason = reason.name(), detail = %detail, at_us = micros(at), "GPU appeared after bring-up"
        );
    }

    /// After bring-up: the agent is failed now (the ready state withdrawn, or `ready` if that failed).
    pub fn fail_after_bringup(&self, ready: bool, reason: String) {
        self.update(|s| {
            s.phase = Phase::Failed;
            s.ready = ready;
            s.reason = Some(reason);
        });
    }

    /// Fails every GPU not yet failed.
    pub fn fail_all(&self, reason: FailureReason, detail: &str) {
        for bdf in self.live() {
            self.fail(bdf, reason, detail);
        }
    }

    /// GPUs not failed, in address order.
    pub fn live(&self) -> Vec<PciAddress> {
        self.lock().gpus.iter().filter(|g| g.state != GpuState::Failed).map(|g| g.bdf).collect()
    }

    /// Edits one GPU's record (identity and appraisal fields; not its state).
    pub fn annotate(&self, bdf: PciAddress, edit: impl FnOnce(&mut GpuRecord)) {
        self.update(|s| {
            if let Some(g) = s.gpus.iter_mut().find(|g| g.bdf == bdf) {
                let state = g.state;
                let failure = g.failure.clone();
                edit(g);
                g.state = state;
                g.failure = failure;
            }
        });
    }

    /// Ends bring-up.
    pub fn finish(&self, phase: Phase, ready: bool, reason: Option<String>) {
        let at = self.start.elapsed();
        self.update(|s| {
            s.phase = phase;
            s.ready = ready;
            s.reason = reason.clone();
            s.bringup = Some(at);
        });
        match &reason {
            Some(r) => {
                tracing::error!(phase = phase.name(), ready, reason = %r, bringup_us = micros(at), "bring-up ended")
            }
            None => tracing::info!(phase = phase.name(), ready, bringup_us = micros(at), "bring-up ended"),
        }
    }
}

/// Microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu() -> PciAddress {
        PciAddress::new(0, 1, 0, 0).expect("address")
    }

    #[test]
    fn states_only_move_forward_one_step() {
        let b = StatusBoard::new(Instant::now(), "local", String::new(), None);
        b.discovered(&[gpu()]);
        assert!(!b.advance(gpu(), GpuState::Verified), "skipping steps is refused");
        assert!(!b.advance(gpu(), GpuState::Ready));
        for s in [GpuState::DriverLoaded, GpuState::PersistencedUp, GpuState::EvidenceCollected, GpuState::Verified] {
            assert!(b.advance(gpu(), s));
        }
        b.fail(gpu(), FailureReason::Verification, "x");
        assert!(!b.advance(gpu(), GpuState::Ready), "a failed GPU never becomes ready");
        let s = b.snapshot();
        assert_eq!(s.gpus[0].state, GpuState::Failed);
        assert_eq!(
            s.gpus[0].failure.as_ref().map(|f| (f.at, f.reason)),
            Some((GpuState::Verified, FailureReason::Verification))
        );
        assert_eq!(s.gpus[0].timings.len(), 6);
    }

    #[test]
    fn watchers_see_new_generations() {
        let b = StatusBoard::new(Instant::now(), "local", String::new(), None);
        let g = b.snapshot().generation;
        assert_eq!(b.wait_newer(g, Duration::ZERO).generation, g, "nothing new: returns the same");
        b.discovered(&[gpu()]);
        assert!(b.wait_newer(g, Duration::from_secs(60)).generation > g);
    }
}
