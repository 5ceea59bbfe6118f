//! `ccgpu-guest-agent`: GPU bring-up inside the Kata confidential VM, gated on attestation.
//!
//! Configuration comes from the kernel command line (`--cmdline`, normally `/proc/cmdline`) and the file
//! it names; the flags below only say where the OS is (paths) and, in a build with the `sim` feature
//! (tests, demo; never the production agent), whether to run the simulation. See the crate documentation
//! and `docs/operator-guest-agent.md`. The exit statuses are [`EXIT_STATUS`], shown under `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccgpu_guest_agent::{
    Agent, ApiLimits, ApiServer, AuditLog, Config, CpuTeeDevice, Deps, DirRims, HostSystem, LocalVerifier, Mode,
    NoRims, NvmlBackend, OnFailure, Outcome, RemoteVerifier, RimSource, Verifier, unix_address, vsock_address,
};
use ccgpu_pci::SysfsBus;
use clap::Parser;

/// The exit statuses, under `--help`.
const EXIT_STATUS: &str = "\
Exit status: 0 ready (or no GPU); 1 bring-up failed (with ccgpu.on_failure=exit or --once); 2 configuration \
or start-up error.";

/// GPU bring-up inside the Kata confidential VM, gated on attestation.
#[derive(Debug, Parser)]
#[command(version, about, after_help = EXIT_STATUS)]
struct Args {
    /// The kernel command line to read the `ccgpu.*` configuration from.
    #[arg(long, default_value = "/proc/cmdline")]
    cmdline: PathBuf,
    /// The sysfs root.
    #[arg(long, default_value = "/sys")]
    sysfs: PathBuf,
    /// Also serve the API on this unix socket.
    #[arg(long, value_name = "PATH")]
    unix_socket: Option<PathBuf>,
    /// Do not serve the API on vsock.
    #[arg(long)]
    no_vsock: bool,
    /// Simulate this many GPUs, the system and a SEV-SNP device; trusts only the simulation's roots.
    #[cfg(feature = "sim")]
    #[arg(long, value_name = "GPUS")]
    simulate: Option<u8>,
    /// Not offered: this build has no simulation. Present (hidden) only to refuse it with a clear error.
    #[cfg(not(feature = "sim"))]
    #[arg(long, hide = true, value_name = "GPUS")]
    simulate: Option<String>,
    /// With --simulate: write the simulation's trust anchors (`DIR/trust/`) and signed RIMs (`DIR/rims/`)
    /// before bring-up, so a relying party (`ccgpu-verifier --trust-dir DIR/trust --rims DIR/rims`) can
    /// appraise this process's simulated evidence. Test and demo builds only.
    #[cfg(feature = "sim")]
    #[arg(long, value_name = "DIR", requires = "simulate")]
    simulate_roots_out: Option<PathBuf>,
    /// Not offered: this build has no simulation. Present (hidden) only to refuse it with a clear error.
    #[cfg(not(feature = "sim"))]
    #[arg(long, hide = true, value_name = "DIR")]
    simulate_roots_out: Option<PathBuf>,
    /// Exit after bring-up and print a JSON summary (status 0 ready or no GPU, 1 failed).
    #[arg(long)]
    once: bool,
    /// Read-only survey instead of bring-up: ask NVML every question bring-up asks (and a few more) for
    /// a fresh nonce, time each call, print JSON and exit 0. Loads no module, starts nothing, never sets
    /// the ready state; needs no `ccgpu.*` configuration. For operators checking what a GPU answers.
    #[arg(long, conflicts_with = "once")]
    probe: bool,
    /// With --probe: also write each GPU's evidence here (`<bdf>/attestation-report.hex`,
    /// `<bdf>/cert-chain.pem`, `<bdf>/nonce.hex`) for `ccgpu verify gpu`.
    #[arg(long, value_name = "DIR", requires = "probe")]
    probe_evidence: Option<PathBuf>,
}

fn main() -> ExitCode {
    let start = Instant::now();
    let args = Args::parse();
    tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_current_span(false).init();
    let result = if args.probe { probe(&args).map(|()| ExitCode::SUCCESS) } else { run(args, start) };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ccgpu-guest-agent: {}", ccgpu_attestation::error_chain(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

fn real_deps(args: &Args, config: &Config) -> anyhow::Result<Deps> {
    let verifier: Arc<dyn Verifier> = match (config.mode, &config.remote) {
        (Mode::Remote, Some(r)) => Arc::new(RemoteVerifier::new(r)),
        _ => Arc::new(LocalVerifier::production(config.policy.clone())),
    };
    let rims: Arc<dyn RimSource> = match &config.rim_dir {
        Some(dir) => Arc::new(DirRims::new(dir)),
        None => Arc::new(NoRims),
    };
    Ok(Deps {
        bus: Arc::new(SysfsBus::new(&args.sysfs)),
        system: Arc::new(HostSystem::default()),
        gpu_backend: Arc::new(NvmlBackend::default()),
        tee: Arc::new(CpuTeeDevice::from_config(config)),
        rims,
        verifier,
        log: Arc::new(AuditLog::new(&config.log)),
    })
}

/// The seams, and when the agent counts as started: the simulated hardware (its PKIs: RSA-4096 key
/// generation) exists before the agent starts.
#[cfg(feature = "sim")]
fn deps(args: &Args, config: &Config, start: Instant) -> anyhow::Result<(Deps, Instant)> {
    match args.simulate {
        Some(n) => Ok((sim_deps(n, config, args.simulate_roots_out.as_deref())?, Instant::now())),
        None => Ok((real_deps(args, config)?, start)),
    }
}

#[cfg(not(feature = "sim"))]
fn deps(args: &Args, config: &Config, start: Instant) -> anyhow::Result<(Deps, Instant)> {
    if args.simulate.is_some() {
        anyhow::bail!("--simulate: this build has no simulation (it is built without the `sim` feature)");
    }
    if args.simulate_roots_out.is_some() {
        anyhow::bail!("--simulate-roots-out: this build has no simulation (it is built without the `sim` feature)");
    }
    Ok((real_deps(args, config)?, start))
}

#[cfg(feature = "sim")]
fn sim_deps(gpus: u8, config: &Config, roots_out: Option<&std::path::Path>) -> anyhow::Result<Deps> {
    use ccgpu_guest_agent::sim::{SimFleet, SimPkis, write_sim_roots};
    tracing::warn!(gpus, "SIMULATION: simulated GPUs, system and SEV-SNP; only the simulation's roots are trusted");
    let pkis = SimPkis::generate().context("simulated PKIs")?;
    if let Some(dir) = roots_out {
        write_sim_roots(&pkis, dir).context("--simulate-roots-out")?;
        tracing::warn!(dir = %dir.display(), "SIMULATION: simulated trust anchors and RIMs written");
    }
    let fleet = SimFleet::new(pkis, gpus);
    let verifier: Arc<dyn Verifier> = match (config.mode, &config.remote) {
        (Mode::Remote, Some(r)) => Arc::new(RemoteVerifier::new(r)),
        _ => Arc::new(fleet.local_verifier(config.policy.clone()).context("simulated roots")?),
    };
    Ok(fleet.deps(verifier, Arc::new(AuditLog::new(&config.log))))
}

fn start_api(agent: &Arc<Agent>, args: &Args, config: &Config) -> Option<ApiServer> {
    let unix: Vec<String> = args.unix_socket.iter().map(|p| unix_address(p)).collect();
    let mut all = unix.clone();
    if !args.no_vsock {
        all.push(vsock_address(config.vsock_port));
    }
    if all.is_empty() {
        return None;
    }
    match ApiServer::start(Arc::clone(agent), ApiLimits::default(), &all) {
        Ok(s) => Some(s),
        Err(e) if all.len() > unix.len() && !unix.is_empty() => {
            tracing::error!(error = %e, "API on vsock unavailable; serving the unix socket only");
            ApiServer::start(Arc::clone(agent), ApiLimits::default(), &unix)
                .inspect_err(|e| tracing::error!(error = %e, "API unavailable"))
                .ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "API unavailable");
            None
        }
    }
}

/// `--probe`: the read-only survey, printed as JSON.
fn probe(args: &Args) -> anyhow::Result<()> {
    use ccgpu_guest_agent::{ProbeAnswer, probe, timed};
    let mut nonce = [0u8; 32];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
    let opened = timed(|| NvmlBackend::default().open_nvml());
    let open_micros = opened.micros;
    let (survey, extras) = match opened.outcome {
        ProbeAnswer::Ok(nvml) => {
            let survey = probe(&nvml, &nonce);
            let extras: Vec<_> = survey
                .per_gpu
                .iter()
                .map(|g| serde_json::json!({ "address": g.address, "nvml": nvml.extras(g.address) }))
                .collect();
            (serde_json::to_value(&survey)?, extras)
        }
        ProbeAnswer::Error { message, nvml } => {
            (serde_json::json!({ "nvml_init_error": message, "nvml": nvml }), Vec::new())
        }
    };
    if let Some(dir) = &args.probe_evidence {
        write_probe_evidence(dir, &survey)?;
    }
    let out = serde_json::json!({
        "agent": ccgpu_guest_agent::AGENT_VERSION,
        "nvml_init_micros": open_micros,
        "survey": survey,
        "extras": extras,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Writes each GPU's report, chain and the nonce where `ccgpu verify gpu` can read them.
fn write_probe_evidence(dir: &std::path::Path, survey: &serde_json::Value) -> anyhow::Result<()> {
    let nonce = survey["nonce"].as_str().unwrap_or_default();
    for gpu in survey["per_gpu"].as_array().into_iter().flatten() {
        let name = gpu["address"].as_str().unwrap_or("unknown").replace(':', "-");
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        let write = |file: &str, text: &str| {
            let path = sub.join(file);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        write("nonce.hex", nonce)?;
        if let Some(hex) = gpu["attestation_report"]["ok"]["hex"].as_str() {
            write("attestation-report.hex", hex)?;
        }
        if let Some(pem) = gpu["certificate_chain"]["ok"]["pem"].as_str() {
            write("cert-chain.pem", pem)?;
        }
    }
    Ok(())
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run(args: Args, start: Instant) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.cmdline).context("configuration")?;
    tracing::info!(
        version = ccgpu_guest_agent::AGENT_VERSION, mode = config.mode.name(), policy = %config.policy.digest(),
        config_digest = config.config_digest.as_deref().unwrap_or(""), "starting"
    );
    let (deps, start) = deps(&args, &config, start)?;
    let on_failure = config.on_failure;
    let agent = Agent::new(config, deps, start);
    let api = start_api(&agent, &args, agent.config());
    let outcome = agent.bring_up();
    let status = agent.status().snapshot();
    if args.once {
        let summary = serde_json::json!({
            "outcome": match &outcome { Outcome::Ready => "ready", Outcome::NoGpus => "no-gpus", Outcome::Failed(_) => "failed" },
            "reason": match &outcome { Outcome::Failed(r) => r.as_str(), _ => "" },
            "gpus": status.gpus.len(),
            "bringup_us": status.bringup.map(ccgpu_guest_agent::micros),
            "peak_rss_kib": peak_rss_kib(),
        });
        println!("{summary}");
        if let Some(api) = api {
            api.shutdown();
        }
        return Ok(ExitCode::from(if matches!(outcome, Outcome::Failed(_)) { 1 } else { 0 }));
    }
    if let Outcome::Failed(reason) = &outcome {
        if on_failure == OnFailure::Exit {
            tracing::error!(reason = %reason, "bring-up failed; exiting (ccgpu.on_failure=exit)");
            return Ok(ExitCode::from(1));
        }
        tracing::error!(reason = %reason, "bring-up failed; GPUs stay locked, serving the status (ccgpu.on_failure=wait)");
    }
    let stop = AtomicBool::new(false);
    agent.supervise(&stop, Duration::from_secs(5));
    drop(api);
    Ok(ExitCode::SUCCESS)
}
