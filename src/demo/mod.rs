//! `ccgpu demo`: the whole pipeline on this machine, with the code that runs on a real node.
//!
//! One process wires the real components together — the kubelet plugin and node layer
//! (`ccgpu-host-shim`), the guest agent (`ccgpu-guest-agent`), the verifier and the attestation log
//! (`ccgpu-attestation`) — around SIMULATIONS of what a laptop lacks: an HGX-like PCI bus, the kubelet,
//! the API server and scheduler, the Kata runtime, the GPUs' NVML and the SEV-SNP guest device. The
//! simulated GPUs sign real SPDM structures with a simulated device PKI, so every signature, chain and
//! measurement check runs for real; the simulated roots are trusted by this command only.
//!
//! Steps ([`host`] for the node, [`guest`] for the VM): plugin serving → kubelet registration → slice
//! published → claim allocated → NodePrepareResources (IOMMU groups to vfio-pci, CDI spec) → Kata
//! cold-plug → agent bring-up (evidence, verification, attestation log, ready) → NodeUnprepareResources →
//! node back to its boot state → plugin stopped → `ccgpu log verify` on the log. `--tamper` ([`tamper`])
//! breaks one piece of evidence so the attestation fails and the GPUs stay locked; `--real-evidence`
//! ([`recorded`]) verifies a real H100 recording in the guest step.
//!
//! Nothing is written outside a fresh temporary directory, which is removed at the end unless `--keep`;
//! the API server listens on 127.0.0.1 only; no root, network, KVM or GPU is needed.
//!
//! Exit status: 0 every GPU verified and ready; 1 attestation not affirming (GPUs locked, as with
//! `--tamper`); 2 unusable input or a demo step that failed (the error says which).

mod flow;
mod guest;
mod host;
mod output;
mod recorded;
mod remote;
mod summary;
mod tamper;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use self::flow::Plan;
use self::output::Report;
use self::recorded::Recording;
pub use self::tamper::Tamper;
use crate::exit::{self, Exit};

/// `ccgpu demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// GPUs the claim asks for (1–8; the simulated node has that many). Default 2.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8), conflicts_with = "real_evidence")]
    pub gpus: Option<u8>,

    /// Tamper with one piece of evidence inside the simulated VM: the attestation fails end to end, the GPUs
    /// stay locked and the attestation log says why (exit status 1).
    #[arg(long, value_enum, value_name = "CASE", conflicts_with = "real_evidence")]
    pub tamper: Option<Tamper>,

    /// Verify REAL recorded GPU evidence in the guest step instead of a simulated GPU's: a directory laid
    /// out like ../shared/testdata/nvidia/h100-550.90.07 (attestation-report.hex, cert-chain.pem,
    /// nonce.hex, rims/, optional ocsp/). One GPU.
    #[arg(long, value_name = "DIR")]
    pub real_evidence: Option<PathBuf>,

    /// Verification time for --real-evidence (RFC 3339): recorded certificates expire.
    #[arg(long, value_name = "RFC3339", requires = "real_evidence", default_value = None)]
    pub at: Option<String>,

    /// Put the relying party in the middle: the guest agent runs in remote mode against the real
    /// `ccgpu-verifier` service on 127.0.0.1, which appraises, logs and answers with a signed EAR.
    #[arg(long, conflicts_with = "real_evidence")]
    pub remote: bool,

    /// Keep the work directory (CDI spec and checkpoint as prepared, attestation log) instead of removing it.
    #[arg(long)]
    pub keep: bool,

    /// Print one JSON document instead of the step lines.
    #[arg(long)]
    pub json: bool,
}

/// `ccgpu demo --help`, before its exit statuses.
const LONG_ABOUT: &str = "\
Run the whole ccgpu pipeline on this machine, with the code that runs on a real node.

The real kubelet plugin, node layer, guest agent, verifier and attestation log, wired together around \
SIMULATIONS of what this machine lacks: an HGX-like PCI bus with H200 GPUs, the kubelet, the API server and \
scheduler, the Kata runtime, NVML and the SEV-SNP guest device. The simulated GPUs sign real SPDM reports \
with a simulated device PKI, so every signature, certificate chain and measurement check runs for real.

Needs no root, network, KVM or GPU; writes only to a temporary directory, removed at the end (--keep keeps \
it).";

/// `ccgpu demo --help`.
pub fn long_about() -> String {
    exit::with_status_line(LONG_ABOUT, |e| match e {
        Exit::Affirming => Some("every GPU verified and ready"),
        Exit::NotAffirming => Some("attestation not affirming (the GPUs stay locked)"),
        Exit::UnusableInput => Some("unusable input or a failed demo step"),
        Exit::Warning => None,
    })
}

/// Examples under `ccgpu demo --help`.
pub const EXAMPLES: &str = "\
Examples:
  # 2 simulated GPUs, end to end:
  ccgpu demo
  # machine-readable:
  ccgpu demo --gpus 8 --json
  # attestation fails, GPUs stay locked, the log says why:
  ccgpu demo --tamper measurement
  # a real H100 recording:
  E=../shared/testdata/nvidia/h100-550.90.07
  ccgpu demo --real-evidence $E";

/// Runs the demo; returns the exit status.
pub fn run(args: &DemoArgs) -> anyhow::Result<Exit> {
    let recording = match &args.real_evidence {
        Some(dir) => Some(Recording::load(dir).with_context(|| format!("--real-evidence {}", dir.display()))?),
        None => None,
    };
    let at = match &recording {
        Some(_) => Some(recorded::verification_time(args.at.as_deref())?),
        None => None,
    };
    let work = tempfile::Builder::new().prefix("ccgpu-demo-").tempdir().context("creating the work directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut report = Report::new(args.json);
    let plan = Plan { args, recording: recording.as_ref(), at, work: work.path().to_owned() };
    let result = runtime.block_on(async {
        tokio::select! {
            r = plan.run(&mut report) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // An interrupted step may still hold a blocking thread (key generation): bounded.
    runtime.shutdown_timeout(Duration::from_secs(10));
    let kept = if args.keep {
        Some(work.keep())
    } else {
        // An error here would leave files behind: say so rather than hide it.
        work.close().context("removing the work directory")?;
        None
    };
    let outcome = result?;
    outcome.print(&report, args, kept.as_deref());
    Ok(if outcome.ready { Exit::Affirming } else { Exit::NotAffirming })
}
