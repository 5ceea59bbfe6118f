//! The service core, without HTTP: one bundle in, one logged verdict and signed EAR out.
//!
//! The order is the contract: parse (refusals are logged too), replace the bundle's RIMs and OCSP
//! responses with the service's own, appraise with `ccgpu-attestation`, **append and fsync the record**,
//! and only then sign and return the EAR. A record that cannot be written is an error with no verdict.
//!
//! Trusts: the settings it was built with (keys, policy, anchors, sources). Nothing a client sends can
//! change them: a client can only cause its own appraisal to be appended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ccgpu_attestation::{
    AmdRoots, Anchors, BundleAppraise, BundleRevocation, EvidenceBundle, LogError, LogVerdict, Policy, Sha384Digest,
    VerifierCache, appraise_bundle,
};
use time::OffsetDateTime;

use crate::central_log::{AppraisalId, CentralLog};
use crate::challenges::{Challenges, NonceUse};
use crate::limits::{TooDeep, check_depth};
use crate::metrics::Metrics;
use crate::record::{ClientContext, VERIFIER_NAME, appraisal_record, refused_record};
use crate::settings::EarSigningKey;
use crate::sources::Sources;

/// The failing check of an appraisal whose nonce this service did not issue, with `require_challenge`.
pub const CHALLENGE_CHECK: &str = "bundle:challenge";

/// Everything the service runs with.
#[derive(Debug)]
pub struct ServiceParts {
    /// Signs EARs.
    pub ear_key: EarSigningKey,
    /// The appraisal policy.
    pub policy: Policy,
    /// NVIDIA anchors.
    pub anchors: Anchors,
    /// AMD roots.
    pub roots: AmdRoots,
    /// RIM and OCSP sources.
    pub sources: Sources,
    /// The central log.
    pub log: CentralLog,
    /// Issued challenges.
    pub challenges: Challenges,
    /// Refuse (contraindicate) bundles whose nonce is not an issued challenge.
    pub require_challenge: bool,
    /// JSON nesting limit.
    pub max_depth: usize,
}

/// The service.
#[derive(Debug)]
pub struct Service {
    parts: ServiceParts,
    policy_digest: Option<Sha384Digest>,
    cache: VerifierCache,
    metrics: Metrics,
    log_ok: AtomicBool,
}

/// The answer to one appraisal request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Appraised and logged: the signed EAR.
    Ear {
        /// ES384 compact JWS.
        token: String,
        /// The record.
        id: AppraisalId,
        /// Its verdict.
        verdict: LogVerdict,
    },
    /// Refused before appraisal, and logged (`code`: `malformed`, `too-deep`, `too-large`).
    Refused {
        /// Short code.
        code: &'static str,
        /// The precise reason.
        reason: String,
        /// The record, when it could be written.
        id: Option<AppraisalId>,
    },
    /// No verdict: the record could not be written, or the EAR not signed.
    Unavailable(String),
}

impl Service {
    /// The service over `parts`.
    pub fn new(parts: ServiceParts) -> Self {
        let policy_digest = parts.policy.digest().parse().ok();
        Self {
            parts,
            policy_digest,
            cache: VerifierCache::new(),
            metrics: Metrics::new(),
            log_ok: AtomicBool::new(true),
        }
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The log.
    pub fn log(&self) -> &CentralLog {
        &self.parts.log
    }

    /// The challenges.
    pub fn challenges(&self) -> &Challenges {
        &self.parts.challenges
    }

    /// The public EAR key, PEM.
    pub fn public_key_pem(&self) -> &str {
        self.parts.ear_key.public_pem()
    }

    /// False once an append failed (until one succeeds again): `/readyz` then fails.
    pub fn ready(&self) -> bool {
        self.log_ok.load(Ordering::Relaxed)
    }

    /// SHA-384 of the policy, hex.
    pub fn policy_digest(&self) -> String {
        self.parts.policy.digest()
    }

    /// Appraises `body` (a bundle) for `client`; blocking (file and network I/O): run it off the async
    /// executor.
    pub fn appraise(&self, body: &[u8], client: &ClientContext) -> Answer {
        let started = Instant::now();
        if let Err(TooDeep { limit, offset }) = check_depth(body, self.parts.max_depth) {
            self.metrics.rejected("too-deep");
            let reason = format!("the body nests JSON deeper than {limit} levels (at byte {offset})");
            return self.refuse("too-deep", reason, client, started);
        }
        let mut bundle = match EvidenceBundle::parse(body) {
            Ok(b) => b,
            Err(e) => return self.refuse("malformed", e.to_string(), client, started),
        };
        let now = OffsetDateTime::now_utc();
        let nonce_use = self.parts.challenges.redeem(&bundle.nonce, started);
        self.parts.sources.own_evidence(&mut bundle, &self.metrics);
        let ocsp = self.parts.sources.ocsp_responses(&bundle, &self.parts.anchors, &self.cache, now, &self.metrics);
        let extra = match &ocsp {
            Some(responses) => BundleRevocation::Responses { extra: responses, device_at: now, rim_at: now },
            None => BundleRevocation::NotChecked,
        };
        let ctx = BundleAppraise {
            expected_nonce: Some(&bundle.nonce),
            at: now,
            anchors: &self.parts.anchors,
            amd_roots: &self.parts.roots,
            policy: &self.parts.policy,
            revocation: extra,
            cache: Some(&self.cache),
        };
        let appraisal = appraise_bundle(&bundle, &ctx);
        let extra_failures = match (self.parts.require_challenge, nonce_use) {
            (true, NonceUse::Attester) => vec![CHALLENGE_CHECK.to_owned()],
            _ => Vec::new(),
        };
        let record = match appraisal_record(&appraisal, &bundle, &extra_failures, client, now) {
            Ok(r) => r,
            Err(e) => return Answer::Unavailable(format!("building the record: {e}")),
        };
        let id = match self.append(&record) {
            Ok(id) => id,
            Err(e) => return Answer::Unavailable(format!("the attestation log: {e}")),
        };
        let mut ear = appraisal.to_ear(now.unix_timestamp(), VERIFIER_NAME);
        if !extra_failures.is_empty() {
            contraindicate(&mut ear, &extra_failures);
        }
        let token = match self.parts.ear_key.sign(&ear) {
            Ok(t) => t,
            Err(e) => return Answer::Unavailable(format!("signing the EAR: {e}")),
        };
        self.metrics.appraisal(record.verdict.name(), &record.failed_checks, started.elapsed().as_secs_f64());
        Answer::Ear { token, id, verdict: record.verdict }
    }

    /// Logs and answers a request refused before appraisal.
    pub fn refuse(&self, code: &'static str, reason: String, client: &ClientContext, started: Instant) -> Answer {
        let record = refused_record(code, &reason, self.policy_digest, client, OffsetDateTime::now_utc());
        let id = self.append(&record).ok();
        self.metrics.appraisal(
            LogVerdict::Contraindicated.name(),
            &record.failed_checks[..1],
            started.elapsed().as_secs_f64(),
        );
        Answer::Refused { code, reason, id }
    }

    fn append(&self, record: &ccgpu_attestation::LogRecord) -> Result<AppraisalId, LogError> {
        match self.parts.log.append(record) {
            Ok(id) => {
                self.log_ok.store(true, Ordering::Relaxed);
                Ok(id)
            }
            Err(e) => {
                tracing::error!(error = %e, "attestation log append failed: no verdict is given");
                self.metrics.log_error();
                self.log_ok.store(false, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

/// Marks the bundle-level submodule and the whole EAR contraindicated, naming `failures`.
fn contraindicate(ear: &mut ear::Ear, failures: &[String]) {
    if let Some(b) = ear.submods.get_mut("bundle") {
        b.status = ear::TrustTier::Contraindicated;
        if let Some(ear::RawValue::Array(list)) = b.verifier_claims.get_mut("failures") {
            list.extend(failures.iter().map(|f| ear::RawValue::String(f.clone())));
        }
    }
    ear.status = Some(ear::TrustTier::Contraindicated);
}
