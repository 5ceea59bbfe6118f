//! What an SEV-SNP appraisal takes: the evidence as received ([`SnpEvidence`]), everything else the
//! decision depends on ([`SnpAppraise`]: time, expected REPORT_DATA, policy, AMD's roots, cache), and the
//! VCEK/VLEK as read from the evidence before anything about it is verified.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::policy::SnpPolicy;
use super::product::Product;
use super::roots::{AmdRoots, Intermediate, ProductRoots};
use super::vek::{VekExtensionError, VekExtensions, VekKind, vek_der};
use crate::cache::VerifierCache;
use crate::x509::parse_one;

/// One guest's SEV-SNP evidence, as received.
#[derive(Debug, Clone, Copy)]
pub struct SnpEvidence<'a> {
    /// The 1184-byte attestation report.
    pub report: &'a [u8],
    /// The VCEK or VLEK certificate, DER or PEM.
    pub vek: &'a [u8],
    /// AMD's `cert_chain` (ASK or ASVK, then ARK; PEM), when the evidence carries one. Its ARK must be the
    /// pinned one; its ASK/ASVK replaces the shipped one and is verified under the pinned ARK.
    pub ask_ark: Option<&'a [u8]>,
}

impl SnpEvidence<'_> {
    /// The product and key kind of the ASK or ASVK among `roots` whose name issued the evidence's VCEK/VLEK
    /// — which of AMD's CRLs the appraisal needs. Read from the unverified certificate, before any check:
    /// it only chooses what to fetch, and the appraisal judges the chain and the CRL itself.
    pub fn crl_needed(&self, roots: &AmdRoots) -> Option<(Product, VekKind)> {
        let der = vek_der(self.vek).ok()?;
        let (product_roots, slot) = VekInput::read(Ok(&der), roots).issuer?;
        Some((product_roots.product(), VekKind::issued_by(slot)))
    }
}

/// Everything else an SNP appraisal depends on.
#[derive(Debug, Clone, Copy)]
pub struct SnpAppraise<'a> {
    /// The time at which every certificate must be valid.
    pub at: OffsetDateTime,
    /// The REPORT_DATA the guest was asked to bind (nonce or composite digest).
    pub expected_report_data: Option<&'a [u8; 64]>,
    /// Policy.
    pub policy: &'a SnpPolicy,
    /// Trust anchors.
    pub roots: &'a AmdRoots,
    /// Optional cache of verified certificate links (never changes a verdict).
    pub cache: Option<&'a VerifierCache>,
    /// How the ASK/ASVK's revocation is established.
    pub revocation: SnpRevocation<'a>,
}

/// How the revocation of the ASK/ASVK is established: AMD's ARK signs a CRL of the ASKs and ASVKs it revoked
/// (VCEKs and VLEKs are in no CRL).
#[derive(Debug, Clone, Copy)]
pub enum SnpRevocation<'a> {
    /// Not checked: recorded as skipped, or failed when `required` (policy `ocsp.require = "required"`:
    /// revocation must be established for every certificate).
    NotChecked {
        /// The policy requires revocation checking.
        required: bool,
    },
    /// Judge against this CRL (DER, as AMD's KDS serves it), at the appraisal time within `tolerance`.
    Crl {
        /// The CRL.
        der: &'a [u8],
        /// Clock-skew tolerance for thisUpdate/nextUpdate.
        tolerance: time::Duration,
    },
    /// A CRL was wanted but could not be had (why): the check fails.
    Unavailable(&'a str),
}

/// The evidence's VCEK/VLEK as read, before anything about it is verified.
pub(super) struct VekInput<'a> {
    /// The certificate, or why it is unreadable.
    pub cert: Result<X509Certificate<'a>, String>,
    /// Its AMD extensions, when the certificate parsed.
    pub extensions: Option<Result<VekExtensions, VekExtensionError>>,
    /// The product roots and the intermediate (ASK or ASVK) whose subject is its issuer, if any.
    pub issuer: Option<(&'a ProductRoots, Intermediate)>,
}

impl<'a> VekInput<'a> {
    /// Reads the certificate from its DER (or why the evidence's bytes are not one) and finds its issuer
    /// among `roots`.
    pub(super) fn read(der: Result<&'a [u8], String>, roots: &'a AmdRoots) -> Self {
        let cert = der.and_then(|d| parse_one(d).map_err(|e| format!("does not parse: {e}")));
        let extensions = cert.as_ref().ok().map(VekExtensions::read);
        let issuer = cert.as_ref().ok().and_then(|v| roots.find_issuer(v.issuer().as_raw()));
        Self { cert, extensions, issuer }
    }

    /// The AMD extensions, when they decoded.
    pub(super) fn decoded(&self) -> Option<&VekExtensions> {
        self.extensions.as_ref().and_then(|e| e.as_ref().ok())
    }

    /// The key kind the certificate's shape suggests, for when no roots anchor it: one without hwID and
    /// with a cspID is shaped like a VLEK.
    pub(super) fn shape(&self) -> Option<VekKind> {
        self.decoded().map(|e| if e.hw_id.is_none() && e.csp_id.is_some() { VekKind::Vlek } else { VekKind::Vcek })
    }
}
