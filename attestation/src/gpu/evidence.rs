//! What a GPU appraisal takes: the evidence ([`GpuEvidence`]), everything else the decision depends on
//! ([`GpuAppraise`]: nonce, time, anchors, policy, [`Revocation`], cache), and what the evidence implies
//! before it is appraised — the RIMs to locate and the certificates whose revocation status to fetch.

use std::ops::RangeInclusive;

use time::OffsetDateTime;

use super::identity::chain_chip;
use crate::cache::VerifierCache;
use crate::nvidia::anchors::Anchors;
use crate::nvidia::arch::GpuArch;
use crate::nvidia::rim::{self, RimIds};
use crate::nvidia::spdm::AttestationReport;
use crate::ocsp::{OcspQuery, OcspResponse};
use crate::policy::Policy;
use crate::x509::{CertChain, TrustAnchor};

/// One GPU's evidence and the RIMs to appraise it against.
#[derive(Debug, Clone, Copy)]
pub struct GpuEvidence<'a> {
    /// The attestation report as received (binary).
    pub report: &'a [u8],
    /// The device certificate chain, leaf first.
    pub chain: &'a CertChain,
    /// The driver RIM document, if available.
    pub driver_rim: Option<&'a [u8]>,
    /// The VBIOS RIM document, if available.
    pub vbios_rim: Option<&'a [u8]>,
}

/// Everything else a GPU appraisal depends on.
#[derive(Debug, Clone, Copy)]
pub struct GpuAppraise<'a> {
    /// The nonce the verifier asked the GPU to sign.
    pub nonce: &'a [u8; 32],
    /// The time at which certificates must be valid.
    pub at: OffsetDateTime,
    /// Trust anchors.
    pub anchors: &'a Anchors,
    /// Policy.
    pub policy: &'a Policy,
    /// How revocation is handled.
    pub revocation: Revocation<'a>,
    /// Optional cache of verified certificate links and RIM signatures (never changes a verdict).
    pub cache: Option<&'a VerifierCache>,
}

/// How revocation is to be established for this appraisal.
#[derive(Debug, Clone, Copy)]
pub enum Revocation<'a> {
    /// OCSP explicitly turned off: revocation is recorded as not checked (refused when the policy
    /// requires OCSP).
    NotChecked,
    /// Judge these responses (recorded, or fetched by the caller), at the given times: `device_at` for the
    /// device chain, `rim_at` for the RIM chains (recorded responses are not all fresh at one instant).
    Responses {
        /// Every available response; each certificate uses the one that names it.
        responses: &'a [OcspResponse],
        /// OCSP time for the device chain.
        device_at: OffsetDateTime,
        /// OCSP time for the RIM signing chains.
        rim_at: OffsetDateTime,
    },
}

impl<'a> Revocation<'a> {
    /// The responses and the OCSP time that judge the device chain; `None` when not checked.
    pub(crate) fn for_device(self) -> Option<(&'a [OcspResponse], OffsetDateTime)> {
        match self {
            Self::Responses { responses, device_at, .. } => Some((responses, device_at)),
            Self::NotChecked => None,
        }
    }

    /// The responses and the OCSP time that judge the RIM signing chains; `None` when not checked.
    pub(crate) fn for_rims(self) -> Option<(&'a [OcspResponse], OffsetDateTime)> {
        match self {
            Self::Responses { responses, rim_at, .. } => Some((responses, rim_at)),
            Self::NotChecked => None,
        }
    }
}

/// The RIM ids a report implies, for locating RIM files before verification. The chip family is read
/// from the (not yet validated) device chain; nothing here is trusted.
pub fn implied_rim_ids(report: &AttestationReport, chain: &CertChain) -> Option<RimIds> {
    let chip = chain_chip(chain)?;
    let arch = GpuArch::from_chip(&chip)?;
    Some(RimIds::from_report(report.opaque(), &chip, arch))
}

/// Every certificate whose revocation status an appraisal of `evidence` needs — device chain positions
/// 1..n-2, each RIM signing chain's positions 0..n-2 — without duplicates (the RIM chains share their
/// upper certificates). For fetching responses at the edge before appraising; pass the cache the
/// appraisal will use, so each RIM is inspected once.
pub fn revocation_queries(evidence: &GpuEvidence<'_>, anchors: &Anchors, cache: &VerifierCache) -> Vec<OcspQuery> {
    let mut out: Vec<OcspQuery> =
        OcspQuery::for_chain(evidence.chain, &anchors.device, device_ocsp_positions(evidence.chain));
    for xml in [evidence.driver_rim, evidence.vbios_rim].into_iter().flatten() {
        let inspection = rim::inspect_cached(xml, cache);
        if let Some(chain) = inspection.signing_chain() {
            for q in OcspQuery::for_chain(chain, &anchors.rim, rim_ocsp_positions(chain, &anchors.rim)) {
                if !out.iter().any(|o| o.cert_id == q.cert_id) {
                    out.push(q);
                }
            }
        }
    }
    out
}

/// Device chain positions whose revocation is checked: 1..n-2, every certificate between the attestation
/// certificate and the root.
pub(super) fn device_ocsp_positions(chain: &CertChain) -> RangeInclusive<usize> {
    1..=chain.len().saturating_sub(2)
}

/// RIM chain positions whose revocation is checked: every certificate below the root (NVIDIA's reference
/// checks 0..2 of its 4-certificate chains); the root is the pinned anchor whether or not it is embedded.
pub(super) fn rim_ocsp_positions(chain: &CertChain, anchor: &TrustAnchor) -> RangeInclusive<usize> {
    let ends_with_anchor = chain.ders().last().is_some_and(|d| d.as_slice() == anchor.der());
    let below_root = if ends_with_anchor { chain.len().saturating_sub(1) } else { chain.len() };
    0..=below_root.saturating_sub(1)
}
