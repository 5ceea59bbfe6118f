//! The network edge of ccgpu's verifiers: bytes fetched from services, handed to `ccgpu-attestation`,
//! which judges them: RIMs from NVIDIA's RIM service or a mirror of it ([`RimService`]), with an on-disk
//! cache ([`RimCache`]); OCSP responses from the responders ([`OcspResponder`]), cached on disk; AMD's
//! certificate revocation lists from its Key Distribution Service ([`AmdKds`]); Intel's DCAP collateral for
//! TDX quotes from its PCS, a PCCS or a directory ([`Pccs`]).
//!
//! Trusts: nothing it fetches or finds in its cache. A RIM is a signed document: whatever this crate
//! returns is verified by the appraisal exactly like a local file (signature, chain to the pinned RIM
//! root, identity against the report), so a tampered transport, a lying mirror or a corrupted cache can
//! make an appraisal fail, never pass. What this crate does guarantee is bounded behaviour: ids checked
//! before they reach a URL or a file name, one request per id per appraisal with no retries, a per-request
//! timeout and a total budget per appraisal, and a size limit on every answer.
#![deny(missing_docs)]

mod amd_crl;
mod budget;
mod ocsp;
mod pccs;
mod rim_cache;
mod rim_service;

pub use amd_crl::{AmdKds, DEFAULT_KDS};
pub use budget::FetchBudget;
pub use ocsp::{
    ALLOWED_AIA_HOSTS, DEFAULT_OCSP_URL, FetchedOcsp, MAX_OCSP_RESPONSE, OcspFetchError, OcspOrigin, OcspResponder,
};
pub use pccs::{DEFAULT_PCS, Pccs};
pub use rim_cache::{RimCache, cache_dir};
pub use rim_service::{DEFAULT_RIM_SERVICE, DEFAULT_TIMEOUT, FetchError, FetchedRim, RimOrigin, RimService};
