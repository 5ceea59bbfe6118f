//! The end of the demo: the summary table (GPU, IOMMU group, CDI id, verdict, time to ready), where the
//! files are, and the whole run as one JSON document for `--json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ccgpu_attestation::{LogRecord, LogSummary};
use serde_json::{Value, json};

use super::output::{Report, human, ms, table};
use super::{DemoArgs, Tamper};

/// One GPU's line in the summary.
#[derive(Debug, Clone, Default)]
pub(super) struct GpuRow {
    pub(super) device: String,
    pub(super) host_bdf: String,
    pub(super) group: String,
    pub(super) cdi_id: String,
    pub(super) guest_bdf: String,
    pub(super) uuid: String,
    pub(super) verdict: String,
    pub(super) failed_checks: Vec<String>,
    pub(super) state: String,
    pub(super) time_to_ready: Option<Duration>,
}

/// What the guest step found.
pub(super) struct GuestResult {
    pub(super) ready: bool,
    pub(super) verdict: String,
    pub(super) rows: Vec<GuestRow>,
}

/// One GPU as the guest saw it.
pub(super) struct GuestRow {
    pub(super) uuid: String,
    pub(super) verdict: String,
    pub(super) state: String,
    pub(super) failed_checks: Vec<String>,
    pub(super) time_to_ready: Option<Duration>,
}

/// What the run produced.
pub(super) struct Finished {
    pub(super) ready: bool,
    pub(super) verdict: String,
    pub(super) failures: Vec<String>,
    pub(super) gpus: Vec<GpuRow>,
    pub(super) log: PathBuf,
    pub(super) record: LogRecord,
    pub(super) summary: LogSummary,
    pub(super) prepared: Vec<(String, PathBuf)>,
    pub(super) wall: Duration,
    pub(super) mode: &'static str,
    pub(super) work: PathBuf,
}

/// What the demo simulates (with real evidence, the GPU's NVML answers are a real recording instead).
const SIMULATED: [&str; 8] =
    ["pci-bus", "kubelet", "api-server", "scheduler", "kata-runtime", "sev-snp", "nvml", "gpu-evidence"];

/// `ccgpu.dev/gpu=claim-<uid>-<device>` with the uid cut to 8 digits (the full ids are in the prepare step).
fn abbreviate_cdi(id: &str) -> String {
    let Some((head, rest)) = id.split_once("=claim-") else { return id.to_owned() };
    match (rest.get(..8), rest.find("-gpu-")) {
        (Some(start), Some(i)) => format!("{head}=claim-{start}…{}", &rest[i..]),
        _ => id.to_owned(),
    }
}

impl Finished {
    pub(super) fn print(&self, report: &Report, args: &DemoArgs, kept: Option<&Path>) {
        if report.is_json() {
            println!("{}", self.json(report, args, kept));
            return;
        }
        report.say("");
        let rows: Vec<Vec<String>> = self
            .gpus
            .iter()
            .map(|g| {
                vec![
                    g.host_bdf.clone(),
                    g.group.clone(),
                    abbreviate_cdi(&g.cdi_id),
                    g.guest_bdf.clone(),
                    if g.failed_checks.is_empty() {
                        g.verdict.clone()
                    } else {
                        format!("{} ({})", g.verdict, g.failed_checks.join(", "))
                    },
                    g.state.clone(),
                    g.time_to_ready.map(human).unwrap_or_else(|| "—".into()),
                ]
            })
            .collect();
        report.say(table(&["GPU (host)", "group", "CDI id", "in VM", "verdict", "state", "time to ready"], &rows));
        let files_state = match kept {
            Some(dir) => format!("kept in {}", dir.display()),
            None => "removed on exit; --keep keeps them".to_owned(),
        };
        report.say(format!("files ({files_state}):"));
        report.say(format!("   attestation log        {}", self.log.display()));
        for (what, path) in &self.prepared {
            report.say(format!("   {:<22} {} (as prepared; unprepare removed the live one)", what, path.display()));
        }
        if kept.is_some() {
            report.say(format!(
                "   read it: ccgpu log show {}  ·  audit it: ccgpu log verify {}",
                self.log.display(),
                self.log.display()
            ));
        }
        report.say("");
        let steps = report.steps().len();
        if self.ready {
            report.say(format!("every GPU verified and released; {steps} steps in {} (exit 0)", human(self.wall)));
        } else {
            report.say(format!(
                "attestation {}: {}; the GPUs stayed locked and the log says why; {steps} steps in {} (exit 1)",
                self.verdict,
                self.failures.join(", "),
                human(self.wall)
            ));
        }
    }

    fn json(&self, report: &Report, args: &DemoArgs, kept: Option<&Path>) -> Value {
        let gpus: Vec<Value> = self
            .gpus
            .iter()
            .map(|g| {
                json!({"device": g.device, "host_bdf": g.host_bdf, "iommu_group": g.group, "cdi_id": g.cdi_id,
                    "guest_bdf": g.guest_bdf, "uuid": g.uuid, "verdict": g.verdict, "failed_checks": g.failed_checks,
                    "state": g.state, "time_to_ready_ms": g.time_to_ready.map(ms)})
            })
            .collect();
        json!({
            "mode": self.mode,
            "simulated": if self.mode == "simulated" { &SIMULATED[..] } else { &SIMULATED[..SIMULATED.len() - 2] },
            "recorded_gpu_evidence": self.mode != "simulated",
            "work_dir": self.work.display().to_string(),
            "tamper": args.tamper.map(|t| t.to_string()),
            "expected_failing_check": args.tamper.map(Tamper::check),
            "real_evidence": args.real_evidence.as_ref().map(|p| p.display().to_string()),
            "ready": self.ready,
            "verdict": self.verdict,
            "failures": self.failures,
            "gpus": gpus,
            "steps": report.steps_json(),
            "log": {"path": self.log.display().to_string(), "intact": true, "lines": self.summary.lines,
                "records": self.summary.records, "affirming": self.summary.verdicts.affirming,
                "contraindicated": self.summary.verdicts.contraindicated,
                "head": format!("{}:{}", self.summary.head.line, self.summary.head.hash),
                "last_record": serde_json::to_value(&self.record).unwrap_or(Value::Null)},
            "files": {"kept": kept.map(|p| p.display().to_string()),
                "prepared": self.prepared.iter().map(|(w, p)| json!({"what": w, "path": p.display().to_string()})).collect::<Vec<_>>()},
            "wall_ms": ms(self.wall),
        })
    }
}
