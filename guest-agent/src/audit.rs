//! Writing every bring-up's appraisal to the attestation log (`ccgpu-attestation`'s hash-chained JSON
//! Lines format, read by `ccgpu log verify` / `ccgpu log show`).
//!
//! One record per bring-up attempt: the composite appraisal (local), the relying party's verdict
//! (remote), or — when bring-up failed before anything could be appraised — a contraindicated record
//! naming each GPU and the step that failed. A record that cannot be written is a failure of bring-up:
//! no GPU is released without its record.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ccgpu_attestation::{
    AppendOptions, Appender, CompositeAppraisal, DeviceEntry, DeviceKind, EvidenceBundle, EvidenceDigests, GpuRef,
    HexBytes, LogContext, LogError, LogRecord, LogVerdict, Sha384Digest, Timestamp,
};
use time::OffsetDateTime;

use crate::state::GpuRecord;
use crate::verify::GpuDecision;

/// The attestation log, opened (and created, with its directory) on first use.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    appender: Mutex<Option<Appender>>,
}

impl AuditLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), appender: Mutex::new(None) }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record`.
    pub fn append(&self, record: &LogRecord) -> Result<(), LogError> {
        let mut guard = self.appender.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| LogError::Io {
                    op: "creating the directory of",
                    path: self.path.clone(),
                    source,
                })?;
            }
            *guard = Some(Appender::open(&self.path, AppendOptions::new(OffsetDateTime::now_utc()))?);
        }
        match guard.as_ref() {
            Some(appender) => appender.append(record).map(|_| ()),
            None => Ok(()),
        }
    }
}

fn context(now: OffsetDateTime, verifier: String) -> LogContext {
    let mut ctx = LogContext::new(now);
    ctx.verifier = verifier;
    ctx
}

fn chain_digest(g: &ccgpu_attestation::GpuBundleEvidence) -> Sha384Digest {
    Sha384Digest::of(g.chain.to_pem().as_bytes())
}

/// The record of a local composite appraisal: one device entry per GPU, one for the SNP report.
pub fn composite_record(
    appraisal: &CompositeAppraisal,
    bundle: &EvidenceBundle,
    now: OffsetDateTime,
) -> Result<LogRecord, LogError> {
    let mut devices = Vec::new();
    for (entry, evidence) in appraisal.gpus.iter().zip(&bundle.gpus) {
        let gpu =
            GpuRef { uuid: entry.uuid.clone(), bdf: entry.bdf.clone(), chain_digest: Some(chain_digest(evidence)) };
        devices.push(DeviceEntry::from_gpu(&entry.appraisal, &gpu)?);
    }
    if let (Some(cpu), Some(evidence)) = (&appraisal.cpu, &bundle.cpu) {
        devices.push(DeviceEntry {
            kind: DeviceKind::Snp,
            uuid: None,
            bdf: None,
            verdict: cpu.verdict.into(),
            failed_checks: cpu.checks.failures().iter().map(|c| c.name().to_owned()).collect(),
            warnings: cpu.warnings.clone(),
            driver_version: None,
            vbios_version: None,
            evidence: EvidenceDigests {
                report: Some(Sha384Digest::of(&evidence.report)),
                chain: Some(Sha384Digest::of(&evidence.vek)),
                driver_rim: None,
                vbios_rim: None,
            },
        });
    }
    let ctx = context(now, format!("{} in {}", ccgpu_attestation::VERIFIER, crate::AGENT_VERSION));
    let verdict = crate::verify::local_verdict(appraisal);
    let mut record = LogRecord::new(&ctx, verdict.into(), appraisal.failures(), devices);
    record.nonce = Some(HexBytes(bundle.nonce.to_vec()));
    record.policy_digest = Some(appraisal.policy_digest.parse()?);
    record.verified_at = Some(Timestamp::parse(&appraisal.verified_at)?);
    Ok(record)
}

/// The record of a relying party's verdict on `bundle`.
pub fn remote_record(
    gpus: &[GpuDecision],
    failures: &[String],
    affirming: bool,
    bundle: &EvidenceBundle,
    url: &str,
    now: OffsetDateTime,
) -> Result<LogRecord, LogError> {
    let mut devices = Vec::new();
    for (d, evidence) in gpus.iter().zip(&bundle.gpus) {
        devices.push(DeviceEntry {
            kind: DeviceKind::Gpu,
            uuid: evidence.uuid.clone(),
            bdf: evidence.bdf.clone(),
            verdict: if d.affirming { LogVerdict::Affirming } else { LogVerdict::Contraindicated },
            failed_checks: d.failed_checks.clone(),
            warnings: Vec::new(),
            driver_version: None,
            vbios_version: None,
            evidence: EvidenceDigests {
                report: Some(Sha384Digest::of(&evidence.report)),
                chain: Some(chain_digest(evidence)),
                driver_rim: evidence.driver_rim.as_deref().map(Sha384Digest::of),
                vbios_rim: evidence.vbios_rim.as_deref().map(Sha384Digest::of),
            },
        });
    }
    if let Some(cpu) = &bundle.cpu {
        devices.push(DeviceEntry {
            kind: DeviceKind::Snp,
            uuid: None,
            bdf: None,
            verdict: if affirming { LogVerdict::Affirming } else { LogVerdict::Contraindicated },
            failed_checks: failures.iter().filter_map(|f| f.strip_prefix("cpu:").map(str::to_owned)).collect(),
            warnings: Vec::new(),
            driver_version: None,
            vbios_version: None,
            evidence: EvidenceDigests {
                report: Some(Sha384Digest::of(&cpu.report)),
                chain: Some(Sha384Digest::of(&cpu.vek)),
                driver_rim: None,
                vbios_rim: None,
            },
        });
    }
    let ctx = context(now, format!("relying party {url} via {}", crate::AGENT_VERSION));
    let verdict = if affirming { LogVerdict::Affirming } else { LogVerdict::Contraindicated };
    let mut record = LogRecord::new(&ctx, verdict, failures.to_vec(), devices);
    record.nonce = Some(HexBytes(bundle.nonce.to_vec()));
    Ok(record)
}

/// The record of a bring-up that failed before (or without) an appraisal: every GPU contraindicated,
/// with the step that failed as its failing check (`agent:<reason>`).
pub fn failure_record(
    gpus: &[GpuRecord],
    policy_digest: &str,
    nonce: Option<&[u8; 32]>,
    now: OffsetDateTime,
) -> Result<LogRecord, LogError> {
    let mut failures = Vec::new();
    let mut devices = Vec::new();
    for (i, g) in gpus.iter().enumerate() {
        let failed: Vec<String> = g
            .failure
            .iter()
            .map(|f| format!("agent:{}", f.reason.name()))
            .chain(g.failed_checks.iter().cloned())
            .collect();
        failures.extend(failed.iter().map(|f| format!("gpu-{i}:{f}")));
        devices.push(DeviceEntry {
            kind: DeviceKind::Gpu,
            uuid: g.uuid.clone(),
            bdf: Some(g.bdf.to_string()),
            verdict: LogVerdict::Contraindicated,
            failed_checks: failed,
            warnings: Vec::new(),
            driver_version: g.driver_version.clone(),
            vbios_version: g.vbios_version.clone(),
            evidence: EvidenceDigests::default(),
        });
    }
    let ctx = context(now, crate::AGENT_VERSION.to_owned());
    let mut record = LogRecord::new(&ctx, LogVerdict::Contraindicated, failures, devices);
    record.nonce = nonce.map(|n| HexBytes(n.to_vec()));
    record.policy_digest = Some(policy_digest.parse()?);
    Ok(record)
}
