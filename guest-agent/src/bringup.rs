//! The bring-up: from "GPUs on the bus" to "ready", or to "failed, and every GPU locked".
//!
//! [`Agent::bring_up`] runs the steps in order, moving each GPU through [`GpuState`] and recording why it
//! stopped when it does. The CC ready state is one switch for every GPU in the VM, so it is set only when
//! every discovered GPU has verified and the appraisal is in the attestation log; it is then read back.
//! On any failure it is never set — and if it reads as set (someone else set it), it is cleared.
//!
//! Every wait is bounded by `base + per_gpu × GPUs` ([`crate::config::Waits`]). Timings are recorded
//! per GPU relative to the agent's start ([`StatusBoard`]), and every step logs structured `tracing`
//! events (`bdf`, `gpu_uuid`, `state`, `reason`, `at_us`).
//!
//! After bring-up, [`Agent::supervise`] keeps `nvidia-persistenced` running and rescans the PCI bus every
//! `ccgpu.rescan_s` ([`Agent::check_devices`]): the ready state covers every GPU in the VM, so a device
//! the host hot-plugs after ready would be released unverified. When the set of NVIDIA devices changes,
//! the ready state is cleared, the added or removed device fails (`device-set-changed`), every other GPU
//! is withdrawn, and a contraindicated record goes to the attestation log. Nothing is brought up again:
//! the VM has to be restarted.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ccgpu_attestation::{EvidenceBundle, LogVerdict, error_chain as chain};
use ccgpu_pci::{PciAddress, PciBus};
use thiserror::Error;
use time::OffsetDateTime;

use crate::audit::{self, AuditLog};
use crate::config::Config;
use crate::discovery::{Discovered, discover};
use crate::evidence::{self, EvidenceError};
use crate::gpu::{GpuBackend, GpuManagement, RimSource};
use crate::state::{FailureReason, GpuState, Phase, StatusBoard};
use crate::system::SystemOps;
use crate::tee::{CpuTee, TeeError};
use crate::verify::{Decision, Verifier};

/// Restarts of `nvidia-persistenced` the supervisor attempts before giving up.
pub const MAX_PERSISTENCED_RESTARTS: u32 = 3;

/// Everything the agent acts on, each behind its seam.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The PCI bus (sysfs, or simulated).
    pub bus: Arc<dyn PciBus>,
    /// Modules and daemons.
    pub system: Arc<dyn SystemOps>,
    /// NVML (opened once the driver is loaded).
    pub gpu_backend: Arc<dyn GpuBackend>,
    /// The CPU TEE.
    pub tee: Arc<dyn CpuTee>,
    /// RIMs.
    pub rims: Arc<dyn RimSource>,
    /// Local or remote verification.
    pub verifier: Arc<dyn Verifier>,
    /// The attestation log.
    pub log: Arc<AuditLog>,
}

/// How a bring-up ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every GPU verified; the ready state is set.
    Ready,
    /// No GPU is ready; why.
    Failed(String),
    /// No GPU found.
    NoGpus,
}

/// The last appraisal, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAppraisal {
    /// Verdict name.
    pub verdict: String,
    /// `local` or `remote`.
    pub source: String,
    /// The appraisal as JSON.
    pub json: Vec<u8>,
    /// When it was made.
    pub time: OffsetDateTime,
}

/// Fresh evidence could not be produced for the API.
#[derive(Debug, Error)]
pub enum EvidenceUnavailable {
    /// The driver is not up yet (or bring-up failed before it was).
    #[error("evidence is not available: the GPU driver is not up")]
    NotYet,
    /// Another evidence request is in progress.
    #[error("another evidence request is in progress")]
    Busy,
    /// A GPU's evidence could not be collected.
    #[error("collecting GPU evidence")]
    Gpu(#[source] EvidenceError),
    /// The CPU TEE report could not be obtained.
    #[error("getting the CPU TEE report")]
    Tee(#[source] TeeError),
}

/// What one supervision check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervision {
    /// Not started yet (or bring-up failed before it).
    NotStarted,
    /// Running.
    Alive,
    /// It had died and was restarted.
    Restarted,
    /// It is down and could not be restarted.
    Down(String),
}

/// What one rescan of the PCI bus found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceCheck {
    /// Bring-up has not finished (or never discovered anything): nothing to compare with.
    NotStarted,
    /// The same NVIDIA devices as last time.
    Unchanged,
    /// NVIDIA devices appeared or disappeared: the ready state was withdrawn.
    Changed {
        /// Addresses of devices that appeared (or changed identity), in order.
        added: Vec<PciAddress>,
        /// Addresses of devices that disappeared (or changed identity), in order.
        removed: Vec<PciAddress>,
    },
    /// The bus could not be read; nothing was changed (the next rescan tries again).
    Unreadable(String),
}

/// One NVIDIA device as the rescan compares it: address and identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DeviceKey {
    address: PciAddress,
    device: u16,
    class: u32,
    /// A GPU (else an NVSwitch).
    gpu: bool,
}

fn device_set(found: &Discovered) -> BTreeSet<DeviceKey> {
    let key = |gpu: bool| {
        move |d: &ccgpu_pci::PciDevice| DeviceKey { address: d.address, device: d.device, class: d.class.0, gpu }
    };
    found.gpus.iter().map(key(true)).chain(found.nvswitches.iter().map(key(false))).collect()
}

fn describe(keys: &[DeviceKey]) -> String {
    let list: Vec<String> = keys.iter().map(|k| format!("{} (10de:{:04x})", k.address, k.device)).collect();
    list.join(", ")
}

/// The agent: configuration, seams, and the shared status.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    deps: Deps,
    status: Arc<StatusBoard>,
    gpus: OnceLock<Arc<dyn GpuManagement>>,
    targets: OnceLock<Vec<(PciAddress, Option<String>)>>,
    devices: Mutex<Option<BTreeSet<DeviceKey>>>,
    appraisal: Mutex<Option<StoredAppraisal>>,
    evidence_lock: Mutex<()>,
    persistenced_started: AtomicBool,
    persistenced_restarts: AtomicU32,
}

impl Agent {
    /// An agent that started at `start` (timings are relative to it).
    pub fn new(config: Config, deps: Deps, start: Instant) -> Arc<Self> {
        let status =
            Arc::new(StatusBoard::new(start, config.mode.name(), config.policy.digest(), config.config_digest.clone()));
        Arc::new(Self {
            config,
            deps,
            status,
            gpus: OnceLock::new(),
            targets: OnceLock::new(),
            devices: Mutex::new(None),
            appraisal: Mutex::new(None),
            evidence_lock: Mutex::new(()),
            persistenced_started: AtomicBool::new(false),
            persistenced_restarts: AtomicU32::new(0),
        })
    }

    /// The status board.
    pub fn status(&self) -> &StatusBoard {
        &self.status
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The last appraisal.
    pub fn appraisal(&self) -> Option<StoredAppraisal> {
        self.appraisal.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Runs bring-up once.
    pub fn bring_up(&self) -> Outcome {
        let span = tracing::info_span!("bringup", mode = self.config.mode.name());
        let _enter = span.enter();
        let outcome = self.run();
        match &outcome {
            Outcome::Ready => self.status.finish(Phase::Ready, true, None),
            Outcome::NoGpus => self.status.finish(Phase::NoGpus, false, None),
            Outcome::Failed(reason) => {
                let ready = self.ensure_not_ready();
                self.status.finish(Phase::Failed, ready, Some(reason.clone()));
            }
        }
        outcome
    }

    fn run(&self) -> Outcome {
        // 1. Discovery.
        let found = match discover(self.deps.bus.as_ref()) {
            Ok(f) => f,
            Err(e) => return Outcome::Failed(format!("PCI discovery: {}", chain(&e))),
        };
        *self.devices.lock().unwrap_or_else(PoisonError::into_inner) = Some(device_set(&found));
        if found.gpus.is_empty() {
            tracing::info!("no NVIDIA GPU found");
            return Outcome::NoGpus;
        }
        let bdfs: Vec<PciAddress> = found.gpus.iter().map(|g| g.address).collect();
        let n = bdfs.len();
        self.status.discovered(&bdfs);
        let bound = self.config.waits.bound(n);
        if let Some(expected) = self.config.expect_gpus.filter(|e| *e != n) {
            return self
                .fail_all(FailureReason::UnexpectedGpuCount, format!("found {n} GPUs, ccgpu.expect_gpus={expected}"));
        }
        if !found.nvswitches.is_empty() {
            let list: Vec<String> = found.nvswitches.iter().map(|s| s.address.to_string()).collect();
            return self.fail_all(
                FailureReason::NvSwitchUnsupported,
                format!(
                    "NVSwitches {} present: their evidence is not collected, so the fabric cannot be attested",
                    list.join(", ")
                ),
            );
        }

        // 2. Driver.
        let nvidia_params: Vec<String> = if n == 1 { vec!["NVreg_NvLinkDisable=1".to_owned()] } else { Vec::new() };
        for (module, params) in [("nvidia", nvidia_params), ("nvidia-uvm", Vec::new())] {
            let t = Instant::now();
            if let Err(e) = self.deps.system.modprobe(module, &params, bound) {
                return self.fail_all(FailureReason::ModuleLoad, format!("modprobe {module}: {}", chain(&e)));
            }
            tracing::info!(module, params = ?params, took_us = crate::state::micros(t.elapsed()), "module loaded");
        }
        self.wait_for_binding(&bdfs, bound);
        if self.status.live().is_empty() {
            return self.fail_all(FailureReason::DriverNotBound, "no GPU bound to the nvidia driver".into());
        }

        // 3. nvidia-persistenced (an init such as NVRC may have started it already: a second instance
        // would fail on the daemon's PID-file lock).
        if matches!(self.deps.system.persistenced_alive(), Ok(true)) {
            tracing::info!("nvidia-persistenced is already running");
        } else if let Err(e) = self.deps.system.start_persistenced(self.config.uvm_persistence, bound) {
            return self.fail_all(FailureReason::Persistenced, chain(&e));
        }
        self.persistenced_started.store(true, Ordering::SeqCst);
        for bdf in self.status.live() {
            self.status.advance(bdf, GpuState::PersistencedUp);
        }

        // 4. NVML: identity and modes.
        let gpus = match self.deps.gpu_backend.open() {
            Ok(g) => g,
            Err(e) => return self.fail_all(FailureReason::NvmlUnavailable, chain(&e)),
        };
        let _ = self.gpus.set(Arc::clone(&gpus));
        // Nothing may have released the GPUs before they are verified (e.g. NVRC's `nvrc.smi.srs=1`).
        if matches!(gpus.ready(), Ok(true)) {
            tracing::error!("the CC ready state was set before verification; clearing it");
            if let Err(e) = gpus.set_ready(false) {
                return self
                    .fail_all(FailureReason::ReadyState, format!("clearing a premature ready state: {}", chain(&e)));
            }
        }
        match gpus.gpus() {
            Ok(known) => {
                for bdf in self.status.live() {
                    if !known.contains(&bdf) {
                        self.status.fail(bdf, FailureReason::UnknownToNvml, format!("NVML does not list {bdf}"));
                    }
                }
            }
            Err(e) => return self.fail_all(FailureReason::GpuQuery, chain(&e)),
        }
        for bdf in self.status.live() {
            self.check_gpu(gpus.as_ref(), bdf);
        }

        // 5. Evidence.
        let nonce = match evidence::fresh_nonce() {
            Ok(n) => n,
            Err(e) => return self.fail_all(FailureReason::Nonce, e.to_string()),
        };
        let snapshot = self.status.snapshot();
        let mut collected = Vec::new();
        let mut targets = Vec::new();
        for g in snapshot.gpus.iter().filter(|g| g.state != GpuState::Failed) {
            targets.push((g.bdf, g.uuid.clone()));
            let span = tracing::info_span!("gpu", bdf = %g.bdf, gpu_uuid = g.uuid.as_deref().unwrap_or(""));
            let _enter = span.enter();
            match evidence::collect_gpu_evidence(
                gpus.as_ref(),
                self.deps.rims.as_ref(),
                g.bdf,
                g.uuid.as_deref(),
                &nonce,
            ) {
                Ok(e) => {
                    self.status.advance(g.bdf, GpuState::EvidenceCollected);
                    collected.push((g.bdf, e));
                }
                Err(e) => self.status.fail(g.bdf, FailureReason::Evidence, chain(&e)),
            }
        }
        let _ = self.targets.set(targets);
        if collected.is_empty() {
            return self.finish_failed(None, Some(&nonce));
        }
        let in_bundle: Vec<PciAddress> = collected.iter().map(|(b, _)| *b).collect();
        let bundle = match evidence::bundle_evidence(
            nonce,
            collected.into_iter().map(|(_, e)| e).collect(),
            self.deps.tee.as_ref(),
        ) {
            Ok(b) => b,
            Err(e) => {
                self.fail_all(FailureReason::CpuEvidence, chain(&e));
                return self.finish_failed(None, Some(&nonce));
            }
        };
        tracing::info!(
            gpus = bundle.gpus.len(), cpu_evidence = bundle.cpu.is_some(), nonce = %hex::encode(nonce),
            "evidence bundle assembled"
        );

        // 6. Verification.
        let decision = match self.deps.verifier.appraise(&bundle) {
            Ok(d) => d,
            Err(e) => {
                self.fail_all(FailureReason::RelyingParty, chain(&e));
                return self.finish_failed(None, Some(&nonce));
            }
        };
        self.apply(&decision, &in_bundle);
        self.store(&decision);

        // 7. The gate.
        let snapshot = self.status.snapshot();
        let all_verified = snapshot.gpus.iter().all(|g| g.state == GpuState::Verified);
        if !all_verified || !decision.affirming {
            return self.finish_failed(Some(&decision), Some(&nonce));
        }
        if let Err(e) = self.deps.log.append(&decision.record) {
            return self.fail_all(FailureReason::AttestationLog, chain(&e));
        }
        if let Err(e) = gpus.set_ready(true) {
            return self.fail_all(FailureReason::ReadyState, chain(&e));
        }
        match gpus.ready() {
            Ok(true) => {}
            Ok(false) => {
                return self
                    .fail_all(FailureReason::ReadyState, "the ready state reads as not set after setting it".into());
            }
            Err(e) => return self.fail_all(FailureReason::ReadyState, chain(&e)),
        }
        for g in &snapshot.gpus {
            self.status.advance(g.bdf, GpuState::Ready);
        }
        Outcome::Ready
    }

    /// Polls until every GPU is bound to `nvidia` or `bound` passes; unbound GPUs fail.
    fn wait_for_binding(&self, bdfs: &[PciAddress], bound: Duration) {
        let deadline = Instant::now() + bound;
        let mut pending: Vec<PciAddress> = bdfs.to_vec();
        let mut pause = Duration::from_millis(1);
        loop {
            let mut still = Vec::new();
            for bdf in pending {
                match self.deps.bus.driver(bdf) {
                    Ok(Some(d)) if d.as_str() == "nvidia" => {
                        self.status.advance(bdf, GpuState::DriverLoaded);
                    }
                    Ok(_) => still.push(bdf),
                    Err(e) => self.status.fail(bdf, FailureReason::DriverNotBound, chain(&e)),
                }
            }
            pending = still;
            let now = Instant::now();
            if pending.is_empty() || now >= deadline {
                break;
            }
            thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        for bdf in pending {
            self.status.fail(
                bdf,
                FailureReason::DriverNotBound,
                format!("not bound to the nvidia driver within {bound:?}"),
            );
        }
    }

    /// Reads one GPU's identity and modes; fails it when CC is off or dev-tools is on without policy.
    fn check_gpu(&self, gpus: &dyn GpuManagement, bdf: PciAddress) {
        let info = match gpus.info(bdf) {
            Ok(i) => i,
            Err(e) => return self.status.fail(bdf, FailureReason::GpuQuery, chain(&e)),
        };
        let cc = match gpus.cc_settings(bdf) {
            Ok(c) => c,
            Err(e) => return self.status.fail(bdf, FailureReason::GpuQuery, chain(&e)),
        };
        tracing::info!(
            bdf = %bdf, gpu_uuid = %info.uuid, driver = %info.driver_version, vbios = %info.vbios_version,
            cc = cc.cc_enabled, dev_tools = cc.dev_tools, protected_pcie = cc.protected_pcie, "GPU identity and modes"
        );
        self.status.annotate(bdf, |g| {
            g.uuid = Some(info.uuid.clone());
            g.driver_version = Some(info.driver_version.clone());
            g.vbios_version = Some(info.vbios_version.clone());
            g.cc = Some(cc);
        });
        if !cc.cc_enabled {
            self.status.fail(bdf, FailureReason::CcOff, "confidential-computing mode is off");
        } else if cc.dev_tools && !self.config.policy.gpu.allow_cc_dev_tools {
            self.status.fail(
                bdf,
                FailureReason::DevTools,
                "confidential-computing dev-tools mode is on and the policy does not allow it (gpu.allow_cc_dev_tools)",
            );
        }
    }

    /// Applies a decision to the GPUs in the bundle.
    fn apply(&self, decision: &Decision, in_bundle: &[PciAddress]) {
        for (bdf, d) in in_bundle.iter().zip(&decision.gpus) {
            self.status.annotate(*bdf, |g| {
                g.verdict = Some(d.verdict.clone());
                g.failed_checks = d.failed_checks.clone();
            });
            if d.affirming {
                self.status.advance(*bdf, GpuState::Verified);
            } else {
                self.status.fail(
                    *bdf,
                    FailureReason::Verification,
                    format!("failed checks: {}", d.failed_checks.join(", ")),
                );
            }
        }
        self.status.update(|s| s.last_verdict = Some(decision.verdict.clone()));
        tracing::info!(
            source = decision.source, verdict = %decision.verdict, affirming = decision.affirming,
            failures = ?decision.failures, "appraisal"
        );
    }

    fn store(&self, decision: &Decision) {
        *self.appraisal.lock().unwrap_or_else(PoisonError::into_inner) = Some(StoredAppraisal {
            verdict: decision.verdict.clone(),
            source: decision.source.to_owned(),
            json: decision.appraisal_json.clone(),
            time: OffsetDateTime::now_utc(),
        });
    }

    /// Fails every live GPU and ends bring-up failed (writing the record).
    fn fail_all(&self, reason: FailureReason, detail: String) -> Outcome {
        self.status.fail_all(reason, &detail);
        self.finish_failed(None, None)
    }

    /// Ends a failed bring-up: verified GPUs that are not released say why, and one record goes to the log
    /// (the appraisal's, extended with the GPUs that failed before it; or a failure record).
    fn finish_failed(&self, decision: Option<&Decision>, nonce: Option<&[u8; 32]>) -> Outcome {
        self.status.fail_all(FailureReason::OtherGpuFailed, "another GPU failed; the ready state is system-wide");
        let snapshot = self.status.snapshot();
        let now = OffsetDateTime::now_utc();
        let record = match decision {
            Some(d) => {
                let mut record = d.record.clone();
                let in_record: Vec<String> = record.devices.iter().filter_map(|e| e.bdf.clone()).collect();
                if let Ok(extra) = audit::failure_record(&snapshot.gpus, &snapshot.policy_digest, nonce, now) {
                    for (i, dev) in extra.devices.into_iter().enumerate() {
                        if dev.bdf.as_ref().is_some_and(|b| !in_record.contains(b)) {
                            record.failed_checks.extend(dev.failed_checks.iter().map(|f| format!("agent-gpu-{i}:{f}")));
                            record.devices.push(dev);
                        }
                    }
                }
                record.verdict = LogVerdict::Contraindicated;
                Ok(record)
            }
            None => audit::failure_record(&snapshot.gpus, &snapshot.policy_digest, nonce, now),
        };
        match record.map_err(|e| chain(&e)).and_then(|r| self.deps.log.append(&r).map_err(|e| chain(&e))) {
            Ok(()) => {
                tracing::info!(log = %self.deps.log.path().display(), "failed bring-up recorded in the attestation log")
            }
            Err(e) => {
                tracing::error!(
                    log = %self.deps.log.path().display(), error = %e, "could not record the failed bring-up"
                )
            }
        }
        let reasons: Vec<String> = snapshot
            .gpus
            .iter()
            .filter_map(|g| g.failure.as_ref().map(|f| format!("{}: {} ({})", g.bdf, f.reason, f.detail)))
            .collect();
        Outcome::Failed(reasons.join("; "))
    }

    /// After a failure: the ready state must not be set. When it reads as set, or cannot be read, it is
    /// cleared. Returns whether it may still be set (only when clearing failed).
    fn ensure_not_ready(&self) -> bool {
        let Some(gpus) = self.gpus.get() else { return false };
        match gpus.ready() {
            Ok(false) => return false,
            Ok(true) => tracing::error!("the CC ready state is set although bring-up failed; clearing it"),
            Err(e) => {
                tracing::error!(
                    error = %chain(&e), "the CC ready state cannot be read after a failed bring-up; clearing it"
                )
            }
        }
        match gpus.set_ready(false) {
            Ok(()) => false,
            Err(e) => {
                tracing::error!(error = %chain(&e), "could not clear the CC ready state");
                true
            }
        }
    }

    /// Fresh evidence for a relying party's `nonce`: every GPU that reached evidence collection in
    /// bring-up, bound into a fresh CPU TEE report. Changes no state.
    pub fn fresh_evidence(&self, nonce: [u8; 32]) -> Result<EvidenceBundle, EvidenceUnavailable> {
        let (Some(gpus), Some(targets)) = (self.gpus.get(), self.targets.get()) else {
            return Err(EvidenceUnavailable::NotYet);
        };
        let _busy = self.evidence_lock.try_lock().map_err(|_| EvidenceUnavailable::Busy)?;
        let mut collected = Vec::new();
        for (bdf, uuid) in targets {
            collected.push(
                evidence::collect_gpu_evidence(gpus.as_ref(), self.deps.rims.as_ref(), *bdf, uuid.as_deref(), &nonce)
                    .map_err(EvidenceUnavailable::Gpu)?,
            );
        }
        evidence::bundle_evidence(nonce, collected, self.deps.tee.as_ref()).map_err(EvidenceUnavailable::Tee)
    }

    /// One supervision check of `nvidia-persistenced`: restarts it (bounded) when it died.
    pub fn check_persistenced(&self) -> Supervision {
        if !self.persistenced_started.load(Ordering::SeqCst) {
            return Supervision::NotStarted;
        }
        match self.deps.system.persistenced_alive() {
            Ok(true) => return Supervision::Alive,
            Ok(false) => tracing::error!("nvidia-persistenced is not running"),
            Err(e) => tracing::error!(error = %chain(&e), "nvidia-persistenced liveness check failed"),
        }
        let restarts = self.persistenced_restarts.fetch_add(1, Ordering::SeqCst);
        if restarts >= MAX_PERSISTENCED_RESTARTS {
            return Supervision::Down(format!("gave up after {MAX_PERSISTENCED_RESTARTS} restarts"));
        }
        let n = self.status.snapshot().gpus.len();
        match self.deps.system.start_persistenced(self.config.uvm_persistence, self.config.waits.bound(n)) {
            Ok(()) => {
                tracing::warn!(restart = restarts + 1, "nvidia-persistenced restarted");
                Supervision::Restarted
            }
            Err(e) => {
                let e = chain(&e);
                tracing::error!(restart = restarts + 1, error = %e, "nvidia-persistenced could not be restarted");
                Supervision::Down(e)
            }
        }
    }

    /// One rescan of the PCI bus after bring-up: when the set of NVIDIA devices differs from the last
    /// one seen, the ready state is cleared, the devices that appeared or disappeared fail
    /// (`device-set-changed`), every other GPU is withdrawn, and a contraindicated record is appended.
    pub fn check_devices(&self) -> DeviceCheck {
        if self.status.snapshot().phase == Phase::BringingUp {
            return DeviceCheck::NotStarted;
        }
        let mut seen = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(before) = seen.as_ref() else { return DeviceCheck::NotStarted };
        let now = match discover(self.deps.bus.as_ref()) {
            Ok(found) => device_set(&found),
            Err(e) => {
                let e = chain(&e);
                tracing::error!(error = %e, "device rescan: the PCI bus cannot be read");
                return DeviceCheck::Unreadable(e);
            }
        };
        if &now == before {
            return DeviceCheck::Unchanged;
        }
        let added: Vec<DeviceKey> = now.difference(before).copied().collect();
        let removed: Vec<DeviceKey> = before.difference(&now).copied().collect();
        *seen = Some(now);
        drop(seen);

        let mut what = Vec::new();
        if !added.is_empty() {
            what.push(format!("appeared: {}", describe(&added)));
        }
        if !removed.is_empty() {
            what.push(format!("disappeared: {}", describe(&removed)));
        }
        let reason = format!("the set of NVIDIA devices changed after bring-up ({})", what.join("; "));
        tracing::error!(
            added = %describe(&added), removed = %describe(&removed), "{reason}; withdrawing the ready state"
        );
        let may_be_ready = self.clear_ready();
        let replaced =
            |bdf: PciAddress| added.iter().any(|k| k.address == bdf) && removed.iter().any(|k| k.address == bdf);
        for k in &removed {
            let detail =
                if replaced(k.address) { "replaced after bring-up; not verified" } else { "removed after bring-up" };
            self.status.withdraw(k.address, FailureReason::DeviceSetChanged, detail);
        }
        // A GPU that appeared gets a record of its own (failed); an NVSwitch is named in the reason.
        for k in added.iter().filter(|k| k.gpu && !replaced(k.address)) {
            self.status.appeared(
                k.address,
                FailureReason::DeviceSetChanged,
                "hot-plugged after bring-up; not verified",
            );
        }
        for bdf in self.status.snapshot().gpus.iter().filter(|g| g.state != GpuState::Failed).map(|g| g.bdf) {
            self.status.withdraw(
                bdf,
                FailureReason::OtherGpuFailed,
                format!("{reason}; the ready state is system-wide"),
            );
        }
        self.status.fail_after_bringup(may_be_ready, reason);
        let snapshot = self.status.snapshot();
        let record = audit::failure_record(&snapshot.gpus, &snapshot.policy_digest, None, OffsetDateTime::now_utc());
        match record.map_err(|e| chain(&e)).and_then(|r| self.deps.log.append(&r).map_err(|e| chain(&e))) {
            Ok(()) => {
                tracing::info!(log = %self.deps.log.path().display(), "device change recorded in the attestation log")
            }
            Err(e) => {
                tracing::error!(log = %self.deps.log.path().display(), error = %e, "could not record the device change")
            }
        }
        DeviceCheck::Changed {
            added: added.iter().map(|k| k.address).collect(),
            removed: removed.iter().map(|k| k.address).collect(),
        }
    }

    /// Clears the ready state (and reads it back) after the device set changed. NVML is opened for it if
    /// bring-up never did (no GPU then). Returns whether it may still be set.
    fn clear_ready(&self) -> bool {
        let gpus = match self.gpus.get() {
            Some(g) => Arc::clone(g),
            None => match self.deps.gpu_backend.open() {
                Ok(g) => g,
                Err(e) => {
                    // Without NVML there is no driver, and without a driver no GPU accepts work.
                    tracing::warn!(error = %chain(&e), "NVML unavailable: no ready state to clear");
                    return false;
                }
            },
        };
        if let Err(e) = gpus.set_ready(false) {
            tracing::error!(error = %chain(&e), "could not clear the CC ready state");
            return true;
        }
        match gpus.ready() {
            Ok(false) => false,
            Ok(true) => {
                tracing::error!("the CC ready state still reads as set after clearing it");
                true
            }
            Err(e) => {
                tracing::error!(error = %chain(&e), "the CC ready state cannot be read after clearing it");
                true
            }
        }
    }

    /// Until `stop` is set: rescans the PCI bus every `ccgpu.rescan_s` ([`Agent::check_devices`]) and
    /// checks `nvidia-persistenced` every `persistenced_interval`.
    pub fn supervise(&self, stop: &AtomicBool, persistenced_interval: Duration) {
        let tick = Duration::from_millis(100);
        let start = Instant::now();
        let mut next_rescan = start + self.config.rescan;
        let mut next_persistenced = start + persistenced_interval;
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next_rescan {
                let _ = self.check_devices();
                next_rescan = Instant::now() + self.config.rescan;
            }
            if now >= next_persistenced {
                let _ = self.check_persistenced();
                next_persistenced = Instant::now() + persistenced_interval;
            }
            let next = next_rescan.min(next_persistenced);
            thread::sleep(next.saturating_duration_since(Instant::now()).min(tick));
        }
    }
}
