//! The OCSP responses the service judges a bundle's certificates by: none (`--ocsp off`), recorded
//! responses read from a directory at start, or the responders themselves through `ccgpu-fetch`'s
//! [`OcspResponder`] (one for the service's life, a fresh time budget per appraisal, responses cached on
//! disk until their nextUpdate). The bundle's own responses are never used.
//!
//! Every certificate looked up is counted in `source_requests_total{source="ocsp"}`: `hit` (a recorded
//! response or the disk cache covers it), `miss` (fetched from a responder), `error` (none obtained; the
//! appraisal then fails that certificate's revocation check).
//!
//! Trusts: nothing it finds. A response is signed: the appraisal verifies it exactly as if it came with
//! the evidence, so a lying responder or a corrupt cache can fail an appraisal, never pass one. Which
//! certificates are asked about comes from the (unverified) bundle, bounded by the budget.

use std::borrow::Cow;
use std::path::Path;

use ccgpu_attestation::{
    Anchors, EvidenceBundle, GpuEvidence, OcspQuery, OcspResponse, VerifierCache, revocation_queries,
};
use ccgpu_fetch::{OcspOrigin, OcspResponder};
use time::OffsetDateTime;

use crate::metrics::{Metrics, SourceResult};
use crate::settings::{OcspSetting, SettingsError};

/// Most recorded OCSP responses read from a directory.
const MAX_OCSP_FILES: usize = 4096;

/// Where the service's OCSP responses come from.
#[derive(Debug)]
pub(crate) enum OcspSource {
    /// Revocation not checked.
    Off,
    /// Recorded responses.
    Recorded(Vec<OcspResponse>),
    /// The responders.
    Online(OcspResponder),
}

impl OcspSource {
    /// The source `setting` names; recorded responses are read now.
    pub(crate) fn new(setting: &OcspSetting) -> Result<Self, SettingsError> {
        Ok(match setting {
            OcspSetting::Off => Self::Off,
            OcspSetting::Dir(dir) => Self::Recorded(read_ocsp_dir(dir)?),
            OcspSetting::Online { url: Some(url), timeout, cache } => {
                Self::Online(OcspResponder::forced(url, *timeout, cache.clone()))
            }
            OcspSetting::Online { url: None, timeout, cache } => {
                Self::Online(OcspResponder::new(ccgpu_fetch::DEFAULT_OCSP_URL, *timeout, cache.clone()))
            }
        })
    }

    /// The responses to judge `bundle`'s certificates by at `now`, or `None` when revocation is not
    /// checked. `cache` is the one the appraisal uses (each RIM's signing chain is inspected once).
    pub(crate) fn responses(
        &self,
        bundle: &EvidenceBundle,
        anchors: &Anchors,
        cache: &VerifierCache,
        now: OffsetDateTime,
        metrics: &Metrics,
    ) -> Option<Cow<'_, [OcspResponse]>> {
        match self {
            Self::Off => None,
            Self::Recorded(recorded) => {
                for q in queries(bundle, anchors, cache) {
                    let covered = recorded.iter().any(|r| r.responses.iter().any(|s| s.cert_id == q.cert_id));
                    metrics.source("ocsp", if covered { SourceResult::Hit } else { SourceResult::Error });
                }
                Some(Cow::Borrowed(recorded))
            }
            Self::Online(responder) => {
                let budget = responder.budget();
                let mut out = Vec::new();
                for q in queries(bundle, anchors, cache) {
                    match responder.fetch_within(&q, now, &budget) {
                        Ok(f) => {
                            let result =
                                if f.origin == OcspOrigin::Cache { SourceResult::Hit } else { SourceResult::Miss };
                            metrics.source("ocsp", result);
                            out.push(f.response);
                        }
                        Err(e) => {
                            metrics.source("ocsp", SourceResult::Error);
                            tracing::warn!(error = %e, "OCSP response not obtained");
                        }
                    }
                }
                Some(Cow::Owned(out))
            }
        }
    }
}

/// Every certificate of `bundle` whose revocation the appraisal checks, each once (GPUs share their RIM
/// signing chains).
fn queries(bundle: &EvidenceBundle, anchors: &Anchors, cache: &VerifierCache) -> Vec<OcspQuery> {
    let mut out: Vec<OcspQuery> = Vec::new();
    for g in &bundle.gpus {
        let evidence = GpuEvidence {
            report: &g.report,
            chain: &g.chain,
            driver_rim: g.driver_rim.as_deref(),
            vbios_rim: g.vbios_rim.as_deref(),
        };
        for q in revocation_queries(&evidence, anchors, cache) {
            if !out.iter().any(|o| o.cert_id == q.cert_id) {
                out.push(q);
            }
        }
    }
    out
}

fn read_ocsp_dir(dir: &Path) -> Result<Vec<OcspResponse>, SettingsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SettingsError::Read {
        what: "OCSP response directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten().take(MAX_OCSP_FILES) {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let der = std::fs::read(&path).map_err(|source| SettingsError::Read {
            what: "OCSP response",
            path: path.clone(),
            source,
        })?;
        match OcspResponse::parse(&der) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "not an OCSP response, skipped"),
        }
    }
    Ok(out)
}
