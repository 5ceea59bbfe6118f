//! What a TDX appraisal takes: the quote as received ([`TdxEvidence`]) and everything else the decision
//! depends on ([`TdxAppraise`]: time, expected REPORT_DATA, policy, Intel's root, the collateral, cache).

use time::OffsetDateTime;

use super::collateral::TdxCollateral;
use super::policy::TdxPolicy;
use super::roots::IntelRoots;
use crate::cache::VerifierCache;

/// One TD's evidence, as received.
#[derive(Debug, Clone, Copy)]
pub struct TdxEvidence<'a> {
    /// The quote (v4 or v5), trailing padding included.
    pub quote: &'a [u8],
}

/// Everything else a TDX appraisal depends on.
#[derive(Debug, Clone, Copy)]
pub struct TdxAppraise<'a> {
    /// The time at which every certificate, CRL and collateral document must be valid.
    pub at: OffsetDateTime,
    /// The REPORT_DATA the TD was asked to bind (nonce or composite digest).
    pub expected_report_data: Option<&'a [u8; 64]>,
    /// Policy.
    pub policy: &'a TdxPolicy,
    /// Trust anchor.
    pub roots: &'a IntelRoots,
    /// The DCAP collateral, or why there is none (every check that needs it fails).
    pub collateral: Result<&'a TdxCollateral, &'a str>,
    /// Optional cache of verified certificate links (never changes a verdict).
    pub cache: Option<&'a VerifierCache>,
}

/// Which PCK CA issued the quote's PCK (which PCK CRL applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PckCa {
    /// Intel SGX PCK Platform CA (multi-package platforms; every TDX host seen so far).
    Platform,
    /// Intel SGX PCK Processor CA.
    Processor,
}

impl PckCa {
    /// The PCS `ca` parameter: `platform` or `processor`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Processor => "processor",
        }
    }
}

/// What collateral a quote needs: its PCK's FMSPC and issuing CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollateralNeeded {
    /// FMSPC from the PCK certificate.
    pub fmspc: [u8; 6],
    /// The PCK CA.
    pub ca: PckCa,
}

impl TdxEvidence<'_> {
    /// The collateral the quote needs, read from its unverified PCK chain before any check: it only
    /// chooses what to fetch, and the appraisal judges the chain and the collateral itself.
    pub fn collateral_needed(&self) -> Option<CollateralNeeded> {
        let quote = super::quote::TdxQuote::parse(self.quote).ok()?;
        let chain = crate::x509::CertChain::from_pem(quote.pck_chain_pem).ok()?;
        let leaf = crate::x509::parse_one(chain.ders().first()?).ok()?;
        let ext = super::pck::PckExtension::read(&leaf).ok()?;
        let issuer = leaf.issuer().to_string();
        let ca = if issuer.contains("Platform CA") {
            PckCa::Platform
        } else if issuer.contains("Processor CA") {
            PckCa::Processor
        } else {
            return None;
        };
        Some(CollateralNeeded { fmspc: ext.fmspc, ca })
    }
}
