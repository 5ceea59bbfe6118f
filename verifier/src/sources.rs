//! The evidence the service fetches itself instead of trusting the bundle for it: RIMs (NVIDIA's RIM
//! service or a mirror through `ccgpu-fetch`'s on-disk cache, or an offline directory) and OCSP
//! responses (`ocsp_source`: recorded, or online through `ccgpu-fetch`). RIMs found are kept in memory too (bounded), so a warm
//! service reads no file per appraisal.
//!
//! Trusts: nothing it finds. A RIM or OCSP response is signed: the appraisal verifies it exactly as if
//! it came with the evidence, so a lying mirror or a corrupt cache can fail an appraisal, never pass one.
//! What this module guarantees is bounded work: `ccgpu-fetch`'s per-request timeout and budget (one
//! `RimService` for the service's life, a fresh budget per appraisal), its id checks, and a memory cache of at most [`MAX_MEMORY_RIMS`] documents.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use std::borrow::Cow;

use ccgpu_attestation::{
    Anchors, AttestationReport, CertChain, EvidenceBundle, MAX_RIM_LEN, OcspResponse, VerifierCache, implied_rim_ids,
    is_safe_rim_id, rim_file_candidates,
};
use ccgpu_fetch::{FetchBudget, RimCache, RimOrigin, RimService};
use time::OffsetDateTime;

use crate::metrics::{Metrics, SourceResult};
use crate::ocsp_source::OcspSource;
use crate::settings::{OcspSetting, RimSetting, SettingsError};

/// Most RIM documents kept in memory (a fleet has a few driver and VBIOS versions).
pub const MAX_MEMORY_RIMS: usize = 256;

/// The service's evidence sources.
#[derive(Debug)]
pub struct Sources {
    rims: RimSetting,
    online: Option<RimService>,
    memory: Mutex<HashMap<String, Vec<u8>>>,
    ocsp: OcspSource,
}

impl Sources {
    /// The sources; recorded OCSP responses are read now.
    pub fn new(rims: RimSetting, ocsp: &OcspSetting) -> Result<Self, SettingsError> {
        let ocsp = OcspSource::new(ocsp)?;
        let online = match &rims {
            RimSetting::Online { service, timeout, cache } => {
                Some(RimService::new(service, *timeout, cache.as_ref().map(RimCache::new)))
            }
            RimSetting::Dir(_) | RimSetting::Lookup(_) => None,
        };
        Ok(Self { rims, online, memory: Mutex::default(), ocsp })
    }

    /// True when revocation is checked.
    pub fn ocsp_on(&self) -> bool {
        !matches!(self.ocsp, OcspSource::Off)
    }

    /// The OCSP responses to judge `bundle`'s certificates by at `now` (recorded, or fetched within this
    /// appraisal's budget; each lookup counted in `metrics`), or `None` when revocation is not checked.
    /// Call after [`Sources::own_evidence`]: the RIMs' signing chains are the service's own.
    pub fn ocsp_responses(
        &self,
        bundle: &EvidenceBundle,
        anchors: &Anchors,
        cache: &VerifierCache,
        now: OffsetDateTime,
        metrics: &Metrics,
    ) -> Option<Cow<'_, [OcspResponse]>> {
        self.ocsp.responses(bundle, anchors, cache, now, metrics)
    }

    /// Replaces every GPU's RIMs and OCSP responses in `bundle` with the service's own: RIMs by the ids
    /// the report and chain imply (none when they imply none, or none is found: the appraisal then fails
    /// its `*-rim-present` check), and no bundled OCSP response.
    pub fn own_evidence(&self, bundle: &mut EvidenceBundle, metrics: &Metrics) {
        // A fresh budget per appraisal: it bounds the total time one appraisal spends fetching.
        let online = self.online.as_ref().map(|service| (service, service.budget()));
        for gpu in &mut bundle.gpus {
            gpu.ocsp.clear();
            let (driver, vbios) = rim_ids(&gpu.report, &gpu.chain);
            gpu.driver_rim =
                driver.as_deref().and_then(|id| self.rim(id, online.as_ref().map(|(s, b)| (*s, b)), metrics));
            gpu.vbios_rim =
                vbios.as_deref().and_then(|id| self.rim(id, online.as_ref().map(|(s, b)| (*s, b)), metrics));
        }
    }

    fn rim(&self, id: &str, online: Option<(&RimService, &FetchBudget)>, metrics: &Metrics) -> Option<Vec<u8>> {
        if let Some(doc) = self.memory.lock().unwrap_or_else(PoisonError::into_inner).get(id) {
            metrics.source("rim", SourceResult::Hit);
            return Some(doc.clone());
        }
        let found = match (&self.rims, online) {
            (_, Some((service, budget))) => match service.fetch_within(id, budget) {
                Ok(f) => Some((
                    f.document,
                    if f.origin == RimOrigin::Cache { SourceResult::Hit } else { SourceResult::Miss },
                )),
                Err(e) => {
                    tracing::warn!(rim_id = id, error = %e, "RIM not obtained");
                    None
                }
            },
            (RimSetting::Dir(dir), None) => read_rim(dir, id).map(|d| (d, SourceResult::Miss)),
            (RimSetting::Lookup(lookup), None) => (lookup.0)(id).map(|d| (d, SourceResult::Miss)),
            (RimSetting::Online { .. }, None) => None,
        };
        let Some((doc, result)) = found else {
            metrics.source("rim", SourceResult::Error);
            return None;
        };
        metrics.source("rim", result);
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if memory.len() >= MAX_MEMORY_RIMS {
            memory.clear();
        }
        memory.insert(id.to_owned(), doc.clone());
        Some(doc)
    }
}

/// The RIM with `id` from `dir` (`<id>`, `<id>.xml` or `<id>.swidtag`), at most [`MAX_RIM_LEN`] bytes.
fn read_rim(dir: &Path, id: &str) -> Option<Vec<u8>> {
    if !is_safe_rim_id(id) {
        return None;
    }
    rim_file_candidates(id).iter().find_map(|name| {
        let path = dir.join(name);
        let len = std::fs::metadata(&path).ok()?.len();
        if len > u64::try_from(MAX_RIM_LEN).unwrap_or(u64::MAX) {
            tracing::warn!(path = %path.display(), len, "RIM file over the size limit, ignored");
            return None;
        }
        std::fs::read(&path).ok()
    })
}

/// The driver and VBIOS RIM ids a GPU's report and chain imply (none when the report does not parse or
/// the chain names no known chip).
pub fn rim_ids(report: &[u8], chain: &CertChain) -> (Option<String>, Option<String>) {
    AttestationReport::parse(report)
        .ok()
        .and_then(|r| implied_rim_ids(&r, chain))
        .map_or((None, None), |ids| (ids.driver, ids.vbios))
}
