//! [`RemoteVerifier`]: hands the bundle to a relying party and accepts only its signed verdict.
//!
//! # The interface
//!
//! `POST <url>` with `Content-Type: application/json` and the bundle (the JSON document
//! `ccgpu verify bundle` reads) as the body. The relying party answers `200 OK` with an EAR (IETF EAT
//! Attestation Result) as a compact JWS (`application/jwt`, at most 64 KiB), signed ES384 with the key
//! whose public part is `[remote] public_key_pem` in the measured configuration — the format
//! `ccgpu-attestation`'s `CompositeAppraisal::to_ear` produces: one submodule `gpu-N` per GPU in bundle
//! order, `cpu` when the bundle has CPU evidence, `bundle` for the bundle-level checks.
//!
//! # What is accepted
//!
//! The verdict counts as affirming only if: the JWS verifies under that key with ES384 (no other
//! algorithm, no unsigned token); the EAR profile is the EAR profile; its `eat_nonce` is our nonce (so it
//! is fresh: the nonce came from our CSPRNG); it is about **the evidence we sent** (below); the overall
//! status and the status of every expected submodule are `affirming` (a `warning` is not); and the
//! submodules are exactly the expected ones — `gpu-0` … `gpu-(N-1)` for our N GPUs, `cpu` when we sent
//! CPU evidence, `bundle` — none missing, none extra. Anything else — a transport error, another status
//! code, a bad signature, a missing or extra GPU, a verdict about other evidence — is no verdict, and no
//! GPU is released. The transport is plain HTTP: the verdict's integrity comes from its signature and its
//! freshness from our nonce, and the bundle carries no secrets.
//!
//! # Which evidence the verdict is about
//!
//! The nonce alone does not tie the verdict to this VM: the host relays the bundle, and it can ask
//! another VM it runs (same image, same GPUs) for evidence on our nonce (`GetEvidence`) and forward that
//! instead; the relying party would affirm it, for our nonce. So the verdict must name the evidence it
//! appraised, and every name must be what we compute from the bundle we sent (all hex SHA-384/SHA-512,
//! in `ear_verifier_claims`, as `CompositeAppraisal::to_ear` writes them):
//!
//! | submodule | claim | must equal |
//! |---|---|---|
//! | `bundle` | `expected_report_data` | [`EvidenceBundle::expected_report_data`]: the nonce, the GPU count and every GPU's evidence digest |
//! | `gpu-N` | `evidence_sha384` | [`GpuBundleEvidence::digest`] of our N-th GPU (report and certificate chain) |
//! | `gpu-N` | `driver_rim_sha384`, `vbios_rim_sha384` | SHA-384 of the driver / VBIOS RIM we sent for that GPU (when we sent one): a relay cannot swap in another NVIDIA-signed RIM with other golden values |
//! | `cpu` | `report_sha384` | SHA-384 of our SEV-SNP report bytes |
//!
//! A verdict without these claims is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use ccgpu_attestation::{EvidenceBundle, GpuBundleEvidence};
use ear::{Ear, Nonce, TrustTier};
use jsonwebtoken::{Algorithm, DecodingKey};
use thiserror::Error;
use time::OffsetDateTime;

use super::{Decision, GpuDecision, Verifier, VerifyError};
use crate::audit;
use crate::config::{EarKey, RemoteConfig};

/// Largest response accepted.
pub const MAX_RESPONSE: u64 = 64 * 1024;

/// No usable verdict from the relying party.
#[derive(Debug, Error)]
pub enum RemoteError {
    /// The request failed (connection, timeout, …).
    #[error("POST {url}")]
    Transport {
        /// The URL.
        url: String,
        /// ureq's error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// Not `200 OK`.
    #[error("POST {url}: HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The token does not verify under the configured key, or is not an EAR.
    #[error("the relying party's EAR does not verify: {0}")]
    Signature(String),
    /// A verified EAR that does not answer this bundle.
    #[error("the relying party's EAR {0}")]
    Mismatch(String),
}

/// Remote verification.
pub struct RemoteVerifier {
    url: String,
    key: EarKey,
    agent: ureq::Agent,
}

impl std::fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteVerifier").field("url", &self.url).finish_non_exhaustive()
    }
}

impl RemoteVerifier {
    /// A verifier for the relying party of `config`.
    pub fn new(config: &RemoteConfig) -> Self {
        Self { url: config.url.clone(), key: config.key.clone(), agent: agent(config.timeout) }
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into()
}

/// The EAR in `token`, verified under `key` and checked against `bundle`: our nonce, exactly the
/// expected submodules, and each naming the evidence we sent.
pub fn verify_ear(token: &str, key: &DecodingKey, bundle: &EvidenceBundle) -> Result<Ear, RemoteError> {
    let ear = Ear::from_jwt(token.trim(), Algorithm::ES384, key).map_err(|e| RemoteError::Signature(e.to_string()))?;
    if ear.profile != ear::EAR_PROFILE {
        return Err(RemoteError::Mismatch(format!("has profile {:?}, not {:?}", ear.profile, ear::EAR_PROFILE)));
    }
    // `eat_nonce` carries the nonce's 32 raw bytes (the `ear` crate writes them base64url), as
    // `CompositeAppraisal::to_ear` produces it. No other encoding is accepted.
    let ours = Nonce::try_from(bundle.nonce.as_slice()).ok();
    match &ear.nonce {
        Some(n) if Some(n) == ours.as_ref() => {}
        Some(_) => return Err(RemoteError::Mismatch("carries another nonce".into())),
        None => return Err(RemoteError::Mismatch("carries no nonce".into())),
    }
    let expected = expected_evidence(bundle);
    for name in ear.submods.keys() {
        if !expected.iter().any(|(n, _, _)| n == name) {
            return Err(RemoteError::Mismatch(format!("has submodule {name:?}, which is not in our bundle")));
        }
    }
    for (name, claim, digest) in &expected {
        let Some(submod) = ear.submods.get(name) else {
            return Err(RemoteError::Mismatch(format!("has no submodule {name:?}")));
        };
        match submod.verifier_claims.get(*claim) {
            Some(ear::RawValue::String(s)) if s.eq_ignore_ascii_case(digest) => {}
            Some(ear::RawValue::String(s)) => {
                return Err(RemoteError::Mismatch(format!(
                    "is about other evidence: {name} {claim} is {s}, our evidence has {digest}"
                )));
            }
            Some(_) => return Err(RemoteError::Mismatch(format!("has a {name} {claim} that is not a string"))),
            None => {
                return Err(RemoteError::Mismatch(format!(
                    "does not name the evidence it appraised ({name} has no {claim})"
                )));
            }
        }
    }
    Ok(ear)
}

/// Per expected submodule: its name, the claim that names its evidence, and that evidence's digest (hex)
/// as we compute it from the bundle we sent.
fn expected_evidence(bundle: &EvidenceBundle) -> Vec<(String, &'static str, String)> {
    let mut out: Vec<(String, &'static str, String)> = bundle
        .gpus
        .iter()
        .enumerate()
        .flat_map(|(i, g)| {
            let rims = [("driver_rim_sha384", &g.driver_rim), ("vbios_rim_sha384", &g.vbios_rim)];
            std::iter::once((format!("gpu-{i}"), "evidence_sha384", hex::encode(GpuBundleEvidence::digest(g)))).chain(
                rims.into_iter().filter_map(move |(claim, rim)| {
                    Some((format!("gpu-{i}"), claim, hex::encode(ccgpu_attestation::sha384(rim.as_ref()?))))
                }),
            )
        })
        .collect();
    if let Some(cpu) = &bundle.cpu {
        out.push(("cpu".into(), "report_sha384", hex::encode(ccgpu_attestation::sha384(&cpu.report))));
    }
    out.push(("bundle".into(), "expected_report_data", hex::encode(bundle.expected_report_data())));
    out
}

fn strings_claim(a: &ear::Appraisal, claim: &str) -> Vec<String> {
    match a.verifier_claims.get(claim) {
        Some(ear::RawValue::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                ear::RawValue::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Why submodule `a` is not affirming: its failing checks, else its warnings, else its status.
fn reasons(a: &ear::Appraisal) -> Vec<String> {
    if a.status == TrustTier::Affirming {
        return Vec::new();
    }
    let mut out = strings_claim(a, "failures");
    if out.is_empty() {
        out.push(format!("relying-party-status-{}", a.status.as_str()));
        out.extend(strings_claim(a, "warnings").into_iter().map(|w| format!("warning: {w}")));
    }
    out
}

/// The decision an EAR (already verified against `bundle`) implies. CPU and bundle-level verdicts
/// concern every GPU: they are what binds the GPUs to this VM.
pub fn decide(ear: &Ear, bundle: &EvidenceBundle, url: &str) -> Result<Decision, VerifyError> {
    let mut shared = Vec::new();
    match ear.submods.get("cpu") {
        Some(cpu) => shared.extend(reasons(cpu).into_iter().map(|f| format!("cpu:{f}"))),
        None if bundle.cpu.is_some() => shared.push("cpu:missing".to_owned()),
        None => {}
    }
    match ear.submods.get("bundle") {
        Some(b) if b.status != TrustTier::Affirming => {
            // Its failures list every submodule's; its own are the `bundle:` ones.
            let own: Vec<String> =
                strings_claim(b, "failures").into_iter().filter(|f| f.starts_with("bundle:")).collect();
            if own.is_empty() {
                shared.push(format!("bundle:relying-party-status-{}", b.status.as_str()));
            }
            shared.extend(own);
        }
        Some(_) => {}
        None => shared.push("bundle:missing".to_owned()),
    }
    let mut failures = Vec::new();
    let mut gpus = Vec::new();
    for i in 0..bundle.gpus.len() {
        let name = format!("gpu-{i}");
        let a = ear.submods.get(&name);
        let tier = a.map_or(TrustTier::None, |a| a.status);
        let mut failed = a.map(reasons).unwrap_or_else(|| vec!["missing".to_owned()]);
        failures.extend(failed.iter().map(|f| format!("{name}:{f}")));
        failed.extend(shared.iter().cloned());
        gpus.push(GpuDecision {
            affirming: tier == TrustTier::Affirming && shared.is_empty(),
            verdict: tier.as_str().to_owned(),
            failed_checks: failed,
        });
    }
    failures.extend(shared.iter().cloned());
    let overall = ear.status.unwrap_or(TrustTier::None);
    let affirming = overall == TrustTier::Affirming && gpus.iter().all(|g| g.affirming);
    if !affirming && failures.is_empty() {
        failures.push(format!("relying-party-status-{}", overall.as_str()));
    }
    let claims: BTreeMap<String, serde_json::Value> = [
        ("relying_party".to_owned(), serde_json::Value::String(url.to_owned())),
        ("ear".to_owned(), serde_json::to_value(ear).unwrap_or_default()),
    ]
    .into_iter()
    .collect();
    let now = OffsetDateTime::now_utc();
    let record = audit::remote_record(&gpus, &failures, affirming, bundle, url, now).map_err(VerifyError::Record)?;
    Ok(Decision {
        affirming,
        verdict: overall.as_str().to_owned(),
        failures,
        gpus,
        source: "remote",
        appraisal_json: serde_json::to_vec(&claims).unwrap_or_default(),
        record,
    })
}

impl Verifier for RemoteVerifier {
    fn name(&self) -> &'static str {
        "remote"
    }

    fn appraise(&self, bundle: &EvidenceBundle) -> Result<Decision, VerifyError> {
        let body = bundle.to_json();
        let transport = |source| RemoteError::Transport { url: self.url.clone(), source: Box::new(source) };
        let mut response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/jwt")
            .send(&body[..])
            .map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(MAX_RESPONSE).read_to_string().map_err(transport)?;
        if status != 200 {
            let body: String = text.chars().take(200).collect();
            return Err(RemoteError::Status { url: self.url.clone(), status, body }.into());
        }
        let ear = verify_ear(&text, self.key.decoding_key(), bundle)?;
        decide(&ear, bundle, &self.url)
    }
}
