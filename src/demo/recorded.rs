//! `--real-evidence DIR`: the guest step with REAL recorded evidence of an NVIDIA H100 in place of the
//! simulated GPU's — the report, its 5-certificate device chain, NVIDIA's signed RIMs and the OCSP
//! responses recorded with it (the layout of `../shared/testdata/nvidia/h100-550.90.07`).
//!
//! Recorded evidence answers the nonce it was recorded with, never a fresh one: the agent's own bring-up
//! would (rightly) refuse it as a replay. So this step runs the agent's building blocks directly with the
//! recorded nonce — the same evidence collection (RIMs found by the ids the report implies), the same
//! SEV-SNP binding (SIMULATED SNP device), the same bundle appraisal, the same log record and the same
//! ready gate — and verifies at a time when the recording's certificates were valid (`--at`, default
//! 2025-09-01). NVIDIA's production roots are the trust anchors for the GPU; only the simulated SNP report
//! is checked against the simulation's AMD roots.
//!
//! Revocation: the recorded OCSP responses are judged, but none of them is fresh at 2025-09-01 — the
//! device-chain responses were produced on 2025-08-21 and the RIM-chain ones on 2025-10-24, each valid for
//! a day — and no single instant covers all of them. Each group is therefore judged at the middle of its
//! own validity window (what `ccgpu verify gpu --ocsp DIR --ocsp-at-device T --ocsp-at-rim T` does), and
//! the demo says so. Without an `ocsp/` directory revocation is off and recorded as not checked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Instant;

use anyhow::{Context as _, ensure};
use ccgpu_attestation::{
    Anchors, AttestationReport, BundleAppraise, CertChain, CertId, OcspQuery, OcspResponse, Verdict, appraise_bundle,
};
use ccgpu_guest_agent::{
    AuditLog, CcSettings, DirRims, GpuError, GpuInfo, GpuManagement, bundle_evidence, collect_gpu_evidence,
    composite_record, local_verdict,
};
use ccgpu_pci::PciAddress;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::guest::Guest;
use super::output::{Report, short};
use super::summary::{GuestResult, GuestRow};
use crate::input;
use crate::ocsp_plan::OcspPlan;
use crate::revocation::{OcspSource, load_dir};

/// The default verification time: inside the validity of every certificate of the shared H100 sample.
pub const DEFAULT_AT: &str = "2025-09-01T00:00:00Z";

/// The recording.
#[derive(Debug)]
pub struct Recording {
    /// Where it is.
    pub dir: PathBuf,
    /// The attestation report, as the GPU returned it.
    pub report: Vec<u8>,
    /// The device certificate chain.
    pub chain: CertChain,
    /// The nonce the report was requested with.
    pub nonce: [u8; 32],
    /// The RIM directory.
    pub rims: PathBuf,
    /// Driver version and VBIOS version the report states.
    pub versions: (String, String),
}

impl Recording {
    /// Reads `dir`: `attestation-report.hex`, `cert-chain.pem`, `nonce.hex`, `rims/`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let report = input::read_hex_or_binary("attestation report", &dir.join("attestation-report.hex"))?;
        let pem = input::read_file("certificate chain", &dir.join("cert-chain.pem"))?;
        let chain = CertChain::from_pem(&pem).with_context(|| format!("{}", dir.join("cert-chain.pem").display()))?;
        let nonce_text = input::read_file("nonce", &dir.join("nonce.hex"))?;
        let nonce = input::nonce(&String::from_utf8_lossy(&nonce_text)).context("nonce.hex")?;
        let rims = dir.join("rims");
        anyhow::ensure!(rims.is_dir(), "{} is not a directory of RIMs", rims.display());
        let parsed = AttestationReport::parse(&report).context("the recorded report does not parse")?;
        let versions = (
            parsed.opaque().driver_version.clone().unwrap_or_else(|| "?".into()),
            parsed.opaque().vbios_version.map(|v| v.dotted_upper()).unwrap_or_else(|| "?".into()),
        );
        Ok(Self { dir: dir.to_owned(), report, chain, nonce, rims, versions })
    }
}

/// The verification time from `--at`.
pub fn verification_time(at: Option<&str>) -> anyhow::Result<OffsetDateTime> {
    Ok(input::verification_time(Some(at.unwrap_or(DEFAULT_AT)))?)
}

/// RFC 3339, for output.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// The middle of the window in which every response of `group` is fresh, if there is one.
fn common_window(group: &[&OcspResponse]) -> Option<OffsetDateTime> {
    let singles = group.iter().flat_map(|r| r.responses.iter());
    let from = singles.clone().map(|s| s.this_update).max()?;
    let to = singles.map(|s| s.next_update).collect::<Option<Vec<_>>>()?.into_iter().min()?;
    let middle: OffsetDateTime = from + (to - from) / 2;
    (from < to).then(|| middle.replace_nanosecond(0).unwrap_or(middle))
}

/// How the recording's revocation is judged, and the line that says so: its `ocsp/` responses, the
/// device-chain ones and the RIM-chain ones each at the middle of their own common validity window; off
/// (at `at`) when there is no `ocsp/` or no such window.
pub fn ocsp_plan(recording: &Recording, anchors: &Anchors, at: OffsetDateTime) -> anyhow::Result<(OcspPlan, String)> {
    let off = |why: String| {
        let line = format!("revocation: not checked ({why}); recorded as such in the claims and the log");
        (OcspPlan::new(OcspSource::Off, at, at), line)
    };
    let dir = recording.dir.join("ocsp");
    if !dir.is_dir() {
        return Ok(off(format!("{} has no ocsp/ directory", recording.dir.display())));
    }
    let responses = load_dir(&dir)?;
    let chain = &recording.chain;
    let device_ids: HashSet<CertId> = OcspQuery::for_chain(chain, &anchors.device, 1..=chain.len().saturating_sub(2))
        .into_iter()
        .map(|q| q.cert_id)
        .collect();
    let is_device = |r: &&OcspResponse| r.responses.iter().any(|s| device_ids.contains(&s.cert_id));
    let (device, rim): (Vec<&OcspResponse>, Vec<&OcspResponse>) = responses.iter().partition(is_device);
    let (Some(device_at), Some(rim_at)) = (common_window(&device), common_window(&rim)) else {
        return Ok(off(format!("the responses in {} have no common validity window", dir.display())));
    };
    let line = format!(
        "revocation: {} recorded OCSP responses (NVIDIA's responders' signatures checked); none is fresh at {} \
         and no instant covers all, so the {} device-chain ones are judged at {} and the {} RIM-chain \
         ones at {}",
        responses.len(),
        rfc3339(at),
        device.len(),
        rfc3339(device_at),
        rim.len(),
        rfc3339(rim_at)
    );
    Ok((OcspPlan::new(OcspSource::Dir(dir), device_at, rim_at), line))
}

/// The recorded GPU behind [`GpuManagement`]: it answers every report request with the recording (its
/// nonce, not the one asked: the appraisal is given the recorded nonce). The ready switch is simulated.
#[derive(Debug)]
pub struct RecordedGpu {
    bdf: PciAddress,
    report: Vec<u8>,
    chain: CertChain,
    versions: (String, String),
    ready: Mutex<bool>,
}

impl RecordedGpu {
    /// The recording, seen at `bdf` in the VM.
    pub fn new(recording: &Recording, bdf: PciAddress) -> Self {
        Self {
            bdf,
            report: recording.report.clone(),
            chain: recording.chain.clone(),
            versions: recording.versions.clone(),
            ready: Mutex::new(false),
        }
    }

    fn known(&self, gpu: PciAddress) -> Result<(), GpuError> {
        if gpu == self.bdf { Ok(()) } else { Err(GpuError::NotFound(gpu)) }
    }
}

impl GpuManagement for RecordedGpu {
    fn gpus(&self) -> Result<Vec<PciAddress>, GpuError> {
        Ok(vec![self.bdf])
    }

    fn info(&self, gpu: PciAddress) -> Result<GpuInfo, GpuError> {
        self.known(gpu)?;
        Ok(GpuInfo {
            uuid: String::new(),
            driver_version: self.versions.0.clone(),
            vbios_version: self.versions.1.clone(),
        })
    }

    fn cc_settings(&self, gpu: PciAddress) -> Result<CcSettings, GpuError> {
        self.known(gpu)?;
        Ok(CcSettings { cc_enabled: true, dev_tools: false, protected_pcie: false })
    }

    fn attestation_report(&self, gpu: PciAddress, _nonce: &[u8; 32]) -> Result<Vec<u8>, GpuError> {
        self.known(gpu)?;
        Ok(self.report.clone())
    }

    fn certificate_chain(&self, gpu: PciAddress) -> Result<CertChain, GpuError> {
        self.known(gpu)?;
        Ok(self.chain.clone())
    }

    fn ready(&self) -> Result<bool, GpuError> {
        Ok(*self.ready.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn set_ready(&self, ready: bool) -> Result<(), GpuError> {
        *self.ready.lock().unwrap_or_else(PoisonError::into_inner) = ready;
        Ok(())
    }
}

/// The guest step with the recording (see the module documentation).
pub(super) async fn run_recorded(
    report: &mut Report,
    guest: &Guest,
    recording: &Recording,
    at: OffsetDateTime,
) -> anyhow::Result<GuestResult> {
    let start = Instant::now();
    let bdf = *guest.addresses().first().context("the VM has no GPU")?;
    let gpu = RecordedGpu::new(recording, bdf);

    let step = report.begin("recorded-evidence", "collecting the recorded evidence");
    let mut collected = collect_gpu_evidence(&gpu, &DirRims::new(&recording.rims), bdf, None, &recording.nonce)
        .context("collecting the recorded evidence")?;
    collected.uuid = None;
    let rims_found = [collected.driver_rim.is_some(), collected.vbios_rim.is_some()];
    let bundle = bundle_evidence(recording.nonce, vec![collected], guest.fleet.snp.as_ref())
        .context("binding the evidence into the SEV-SNP report")?;
    report.finish(
        step,
        true,
        format!(
            "GPU {bdf} answers with REAL recorded evidence: H100, driver {}, VBIOS {}",
            recording.versions.0, recording.versions.1
        ),
        vec![
            format!(
                "report {} bytes, 5-certificate device chain, driver RIM {}, VBIOS RIM {} (found by the ids the report implies)",
                recording.report.len(),
                if rims_found[0] { "found" } else { "MISSING" },
                if rims_found[1] { "found" } else { "MISSING" }
            ),
            format!(
                "nonce {}: the recording's own. A live agent asks with a fresh nonce and would refuse this \
                 report as a replay; this step hands the verifier the recorded nonce",
                short(&hex::encode(recording.nonce))
            ),
            "SEV-SNP report (SIMULATED) binds the recorded nonce and the GPU evidence in REPORT_DATA".into(),
        ],
    );

    let step = report.begin("verify", "verifying the recorded evidence");
    let anchors = Anchors::nvidia();
    let (plan, revocation) = ocsp_plan(recording, &anchors, at)?;
    let responses = plan.responses(&[])?;
    let amd = guest.fleet.pkis.snp.roots().context("simulated AMD roots")?;
    let appraisal = appraise_bundle(
        &bundle,
        &BundleAppraise {
            expected_nonce: Some(&bundle.nonce),
            at,
            anchors: &anchors,
            amd_roots: &amd,
            policy: &guest.config.policy,
            revocation: plan.bundle_revocation(&responses),
            cache: None,
        },
    );
    // The guest's rule (the one the agent applies in local mode): see `local_verdict`.
    let verdict = local_verdict(&appraisal);
    let affirming = verdict == Verdict::Affirming;
    let mut details = vec![
        "GPU: NVIDIA's production device-identity and RIM roots (compiled in); CPU: the simulated AMD roots".into(),
        revocation,
    ];
    if let Some(g) = appraisal.gpus.first() {
        let checks = &g.appraisal.checks;
        let passed: Vec<String> =
            checks.iter().filter(|c| c.outcome.passed()).map(|c| c.check.name().to_owned()).collect();
        details.push(format!("GPU checks passed: {}", passed.join(", ")));
    }
    let failures = appraisal.failures();
    if !failures.is_empty() {
        details.push(format!("failed: {}", failures.join(", ")));
    }
    report.finish(
        step,
        affirming,
        format!("verified at {} (pinned inside the recording's validity): {verdict}", rfc3339(at)),
        details,
    );

    let step = report.begin("ready", "recording the appraisal and opening the gate");
    let mut record =
        composite_record(&appraisal, &bundle, OffsetDateTime::now_utc()).context("building the log record")?;
    if !affirming {
        record.verdict = ccgpu_attestation::LogVerdict::Contraindicated;
    }
    AuditLog::new(guest.log()).append(&record).context("appending to the attestation log")?;
    if affirming {
        gpu.set_ready(true)?;
        ensure!(gpu.ready()?, "the ready state reads as not set after setting it");
    }
    let ttr = start.elapsed();
    report.finish(
        step,
        affirming,
        if affirming {
            "appraisal appended to the attestation log, then the CC ready state set (SIMULATED switch) and read back"
        } else {
            "appraisal appended to the attestation log; the GPU stays locked (ready state never set)"
        },
        vec![],
    );
    let g = appraisal.gpus.first();
    let failed =
        g.map(|g| g.appraisal.checks.failures().iter().map(|c| c.name().to_owned()).collect()).unwrap_or_default();
    let row = GuestRow {
        uuid: g.and_then(|g| g.appraisal.identity.ueid.clone()).map(|u| format!("UEID {u}")).unwrap_or_default(),
        verdict: g.map(|g| g.appraisal.verdict.to_string()).unwrap_or_default(),
        state: if affirming { "ready".to_owned() } else { "locked (verification)".to_owned() },
        failed_checks: failed,
        time_to_ready: affirming.then_some(ttr),
    };
    Ok(GuestResult { ready: affirming, verdict: verdict.to_string(), rows: vec![row] })
}
