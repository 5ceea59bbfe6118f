//! The service's attestation-log records: one per appraisal (the composite appraisal, one device entry
//! per GPU and one for the SEV-SNP report) and one per refused bundle (contraindicated, the reason as
//! its failing check, no device).
//!
//! The evidence digests are computed as the guest agent computes them for its own record (report: SHA-384
//! of the report bytes; chain: SHA-384 of the chain as PEM; RIMs: SHA-384 of the documents the appraisal
//! used), so a guest's record and the service's name the same evidence and can be matched.
//!
//! Trusts: the appraisal it is given. What the client said about itself (node, claim) is recorded as
//! the client's statement, not verified.

use ccgpu_attestation::{
    ClaimRef, CompositeAppraisal, DeviceEntry, DeviceKind, EvidenceBundle, EvidenceDigests, GpuRef, HexBytes,
    LogContext, LogError, LogRecord, LogVerdict, Sha384Digest, Timestamp,
};
use time::OffsetDateTime;

/// What the service is called in its records.
pub const VERIFIER_NAME: &str = concat!("ccgpu-verifier ", env!("CARGO_PKG_VERSION"));

/// What the client says about itself (request headers `ccgpu-node`, `ccgpu-claim-namespace`,
/// `ccgpu-claim-name`, `ccgpu-claim-uid`, `ccgpu-pod`): recorded, never verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// Node name.
    pub node: Option<String>,
    /// Claim and pod.
    pub claim: Option<ClaimRef>,
}

fn context(now: OffsetDateTime, client: &ClientContext) -> LogContext {
    let mut ctx = LogContext::new(now);
    ctx.verifier = VERIFIER_NAME.to_owned();
    ctx.node.clone_from(&client.node);
    ctx.claim.clone_from(&client.claim);
    ctx
}

/// The record of `appraisal` of `bundle` (the bundle as appraised: with the service's own RIMs).
pub fn appraisal_record(
    appraisal: &CompositeAppraisal,
    bundle: &EvidenceBundle,
    extra_failures: &[String],
    client: &ClientContext,
    now: OffsetDateTime,
) -> Result<LogRecord, LogError> {
    let mut devices = Vec::new();
    for (entry, evidence) in appraisal.gpus.iter().zip(&bundle.gpus) {
        let gpu = GpuRef {
            uuid: entry.uuid.clone(),
            bdf: entry.bdf.clone(),
            chain_digest: Some(Sha384Digest::of(evidence.chain.to_pem().as_bytes())),
        };
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
    let mut failures = appraisal.failures();
    failures.extend(extra_failures.iter().cloned());
    let verdict = if extra_failures.is_empty() { appraisal.verdict.into() } else { LogVerdict::Contraindicated };
    let mut record = LogRecord::new(&context(now, client), verdict, failures, devices);
    record.nonce = Some(HexBytes(bundle.nonce.to_vec()));
    record.policy_digest = Some(appraisal.policy_digest.parse()?);
    record.verified_at = Some(Timestamp::parse(&appraisal.verified_at)?);
    Ok(record)
}

/// The record of a request refused before appraisal: contraindicated, `bundle:<reason>` as its failing
/// check (a short code: `malformed`, `too-large`, `too-deep`), and the precise reason after it.
pub fn refused_record(
    code: &str,
    detail: &str,
    policy_digest: Option<Sha384Digest>,
    client: &ClientContext,
    now: OffsetDateTime,
) -> LogRecord {
    let shown: String = detail.chars().take(512).collect();
    let failures = vec![format!("bundle:{code}"), format!("bundle:{code}: {shown}")];
    let mut record = LogRecord::new(&context(now, client), LogVerdict::Contraindicated, failures, Vec::new());
    record.policy_digest = policy_digest;
    record
}
