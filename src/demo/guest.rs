//! The guest half of the demo: what Kata does with the CDI ids (SIMULATED: resolve them in the CDI spec
//! and cold-plug the device nodes into a confidential VM), and the real guest agent
//! (`ccgpu-guest-agent`) bringing the passed-through GPUs up inside a SIMULATED guest — simulated PCI bus,
//! `modprobe`/`nvidia-persistenced`, NVML (GPUs that sign real SPDM reports with a simulated device PKI)
//! and SEV-SNP guest device (a simulated AMD PKI). The agent's configuration comes from a kernel command
//! line, as in a real VM; its verifier trusts the simulation's roots only, as in its `--simulate` mode.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use ccgpu_guest_agent::sim::{SimFleet, SimPkis};
use ccgpu_guest_agent::{
    Agent, AgentStatus, AuditLog, Config, GpuState, Mode, Outcome, Phase, RemoteVerifier, Verifier,
};
use ccgpu_host_shim::CdiSpec as Spec;
use ccgpu_host_shim::sim::PreparedDevice;
use ccgpu_pci::PciAddress;

use super::output::{Report, human};
use super::summary::{GuestResult, GuestRow};
use super::tamper::Tamper;

/// What the (simulated) Kata runtime plugged into the VM for one CDI device.
#[derive(Debug, Clone)]
pub struct Plugged {
    /// The CDI device id the kubelet passed on.
    pub cdi_id: String,
    /// The device nodes the spec names for it: `/dev/vfio/devices/vfioN` (and `/dev/iommu` only where the
    /// plugin runs with `--cdi-iommu-device`, named once for the whole spec).
    pub nodes: Vec<String>,
}

/// Resolves the claim's CDI ids in the spec the plugin wrote, as the container runtime does.
pub fn resolve_cdi(spec_path: &Path, devices: &[PreparedDevice]) -> anyhow::Result<Vec<Plugged>> {
    let text = std::fs::read(spec_path).with_context(|| format!("reading CDI spec {}", spec_path.display()))?;
    let spec: Spec = serde_json::from_slice(&text).with_context(|| format!("CDI spec {}", spec_path.display()))?;
    let mut out = Vec::new();
    for d in devices {
        for id in &d.cdi_device_ids {
            let Some((kind, name)) = id.split_once('=') else { bail!("CDI id {id:?} has no '='") };
            if kind != spec.kind {
                bail!("CDI id {id} is of kind {kind}, the spec is {}", spec.kind);
            }
            let Some(device) = spec.devices.iter().find(|x| x.name == name) else {
                bail!("CDI id {id} is not in {}", spec_path.display())
            };
            let nodes = device.container_edits.device_nodes.iter().map(|n| n.path.clone()).collect();
            out.push(Plugged { cdi_id: id.clone(), nodes });
        }
    }
    Ok(out)
}

/// The simulated confidential VM and the agent configured for it.
#[derive(Debug)]
pub struct Guest {
    /// The simulated guest hardware.
    pub fleet: SimFleet,
    /// The kernel command line the agent's configuration came from.
    pub cmdline: String,
    /// The agent's configuration.
    pub config: Config,
}

impl Guest {
    /// A VM with `gpus` GPUs plugged in (guest addresses `0000:02:00.0`, `0000:03:00.0`, …) whose agent
    /// writes its attestation log under `dir`. With `remote` (the relying party's appraisal URL and its
    /// public EAR key), the agent is configured for remote mode through a configuration file pinned by its
    /// SHA-384 on the command line, as a real VM's would be.
    pub fn boot(pkis: SimPkis, gpus: u8, dir: &Path, remote: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let log = dir.join("attestation.log");
        let log = log.to_str().context("the work directory path is not UTF-8")?;
        if log.contains(char::is_whitespace) {
            bail!("the work directory path contains whitespace; set TMPDIR to a path without");
        }
        let mode = match remote {
            None => "ccgpu.mode=local".to_owned(),
            Some((url, public_pem)) => {
                let text = format!(
                    "mode = \"remote\"\n\n[remote]\nurl = \"{url}\"\npublic_key_pem = \"\"\"\n{public_pem}\"\"\"\ntimeout_s = 30\n"
                );
                let path = dir.join("agent.toml");
                std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
                let digest = hex::encode(ccgpu_attestation::sha384(text.as_bytes()));
                format!("ccgpu.config={} ccgpu.config_sha384={digest}", path.display())
            }
        };
        // Bounded waits, small because the simulation never waits: a real VM would keep the defaults.
        let cmdline = format!(
            "console=hvc0 {mode} ccgpu.expect_gpus={gpus} ccgpu.log={log} ccgpu.wait_base_s=5 \
             ccgpu.wait_per_gpu_s=1"
        );
        let config = Config::from_cmdline(&cmdline).context("the guest agent's configuration")?;
        Ok(Self { fleet: SimFleet::new(pkis, gpus), cmdline, config })
    }

    /// The GPUs' addresses inside the VM.
    pub fn addresses(&self) -> &[PciAddress] {
        &self.fleet.addresses
    }

    /// The attestation log.
    pub fn log(&self) -> &Path {
        &self.config.log
    }

    /// The agent, over this simulation, with the local verifier trusting only the simulation's roots;
    /// `tamper` injected first.
    pub fn agent(&self, tamper: Option<Tamper>) -> anyhow::Result<Arc<Agent>> {
        let verifier: Arc<dyn Verifier> = match (&self.config.mode, &self.config.remote) {
            (Mode::Remote, Some(remote)) => Arc::new(RemoteVerifier::new(remote)),
            _ => Arc::new(self.fleet.local_verifier(self.config.policy.clone()).context("simulated roots")?),
        };
        let mut deps = self.fleet.deps(verifier, Arc::new(AuditLog::new(self.log())));
        if let Some(t) = tamper {
            let target = *self.addresses().last().context("the VM has no GPU")?;
            t.inject(&self.fleet, &mut deps, target).map_err(anyhow::Error::msg).context("injecting the fault")?;
        }
        Ok(Agent::new(self.config.clone(), deps, Instant::now()))
    }
}

/// What one bring-up did.
#[derive(Debug, Clone)]
pub struct BringUp {
    /// How it ended.
    pub outcome: Outcome,
    /// The agent's status after it.
    pub status: AgentStatus,
}

/// Runs the agent's bring-up on a blocking thread.
pub async fn bring_up(agent: Arc<Agent>) -> anyhow::Result<BringUp> {
    tokio::task::spawn_blocking(move || {
        let outcome = agent.bring_up();
        BringUp { outcome, status: agent.status().snapshot() }
    })
    .await
    .context("the guest agent's thread")
}

/// When the last GPU that reached `state` did (agent-relative); `None` when none did.
pub fn reached(status: &AgentStatus, state: GpuState) -> Option<Duration> {
    status.gpus.iter().filter_map(|g| g.timings.iter().find(|(s, _)| *s == state).map(|(_, t)| *t)).max()
}

/// The guest step with simulated GPUs: the agent's whole bring-up, `tamper` injected first.
pub(super) async fn run_simulated(
    report: &mut Report,
    guest: &Guest,
    tamper: Option<Tamper>,
) -> anyhow::Result<GuestResult> {
    let agent = guest.agent(tamper)?;
    let step = report.begin("bring-up", "guest agent bringing the GPUs up");
    let done = bring_up(agent.clone()).await?;
    let s = &done.status;
    let at = |state| reached(s, state).map(|t| format!("+{:<9}", human(t))).unwrap_or_else(|| "  —       ".into());
    let n = s.gpus.len();
    let mut details = vec![
        format!("{} modprobe nvidia, nvidia-uvm; GPUs bound to nvidia (SIMULATED system)", at(GpuState::DriverLoaded)),
        format!("{} nvidia-persistenced up", at(GpuState::PersistencedUp)),
        format!(
            "{} evidence: fresh nonce, {n} SPDM reports + certificate chains from NVML (SIMULATED GPUs) and RIMs, \
             bound into the SEV-SNP report (SIMULATED)",
            at(GpuState::EvidenceCollected)
        ),
        match &guest.config.remote {
            Some(r) if guest.config.mode == Mode::Remote => format!(
                "{} bundle POSTed to ccgpu-verifier ({}): appraised, logged there, answered with a signed EAR the \
                 agent checked (key, nonce, evidence digests): {}",
                at(GpuState::Verified),
                r.url,
                s.last_verdict.as_deref().unwrap_or("no verdict")
            ),
            _ => format!(
                "{} appraised in the VM by ccgpu-attestation (same code as `ccgpu verify bundle`): {}",
                at(GpuState::Verified),
                s.last_verdict.as_deref().unwrap_or("no verdict")
            ),
        },
    ];
    let ready = matches!(done.outcome, Outcome::Ready) && s.phase == Phase::Ready && s.ready;
    let locked = !guest.fleet.gpus.is_ready() && !guest.fleet.gpus.set_ready_calls().contains(&true);
    if ready {
        details.push(format!(
            "{} appraisal appended to the attestation log, then the CC ready state set and read back",
            at(GpuState::Ready)
        ));
    } else {
        for g in &s.gpus {
            if let Some(f) = &g.failure {
                details.push(format!("{}: {} — {}", g.bdf, f.reason.name(), f.detail));
            }
        }
        details.push(format!(
            "CC ready state {} (CUDA refuses work with error 802 until it is set)",
            if locked { "never set: every GPU stays locked" } else { "WAS SET" }
        ));
    }
    let title = if ready {
        format!("guest agent: {n}/{n} GPUs verified and ready (CC ready state set)")
    } else {
        "guest agent: attestation FAILED, every GPU stays locked".to_owned()
    };
    report.finish(step, ready, title, details);
    if let Some(t) = tamper {
        ensure!(!ready && locked, "tampering with {t} was not caught: the GPUs were released");
    }
    let rows = s
        .gpus
        .iter()
        .map(|g| {
            let state = match (&g.failure, g.state) {
                (_, GpuState::Ready) => "ready".to_owned(),
                (Some(f), _) => format!("locked ({})", f.reason.name()),
                (None, _) => "locked".to_owned(),
            };
            GuestRow {
                uuid: g.uuid.clone().unwrap_or_default(),
                verdict: g.verdict.clone().unwrap_or_else(|| "—".into()),
                state,
                failed_checks: g.failed_checks.clone(),
                time_to_ready: g.timings.iter().find(|(st, _)| *st == GpuState::Ready).map(|(_, t)| *t),
            }
        })
        .collect();
    Ok(GuestResult { ready, verdict: s.last_verdict.clone().unwrap_or_else(|| "none".into()), rows })
}
