//! Appraisal of AMD SEV-SNP evidence: an attestation report, the VCEK or VLEK that signed it, and
//! optionally the ASK/ASVK + ARK bundle that came with it.
//!
//! [`appraise_snp`] takes everything the decision depends on — evidence bytes, the verification time,
//! AMD's roots, the policy and the expected REPORT_DATA — and returns an [`SnpAppraisal`] recording one
//! outcome per check ([`crate::appraisal::Check`], the `Snp…` variants), the verdict they imply and who
//! the guest says it is. Nothing is read from the environment.
//!
//! What it trusts: only the ARKs in the [`AmdRoots`] it is handed ([`AmdRoots::amd`] ships AMD's for
//! Milan, Genoa and Turin). What it does not trust: the report, the VCEK/VLEK, and any ASK/ARK bundle in
//! the evidence — a bundle's ARK must be byte-identical to the pinned one, and its ASK/ASVK is verified
//! under the pinned ARK.
//!
//! The `sev` crate provides the report types and decoding; signatures (ECDSA P-384 of the report, RSA-PSS
//! of the chain) are verified with aws-lc-rs over the bytes as received, and everything the crate leaves
//! out is checked here: certificate validity at the verification time, the VCEK/VLEK TCB, hwID and product
//! extensions against the report, the reserved fields, the signature algorithm and signing-key fields, and
//! the guest policy, VMPL, REPORT_DATA and reference values of [`SnpPolicy`].

mod appraise;
mod chain;
pub mod policy;
mod product;
pub mod report;
mod roots;
mod tcb;
mod vek;

pub use appraise::{SnpAppraisal, SnpAppraise, SnpEvidence, SnpIdentity, VekKind, appraise_snp};
pub use chain::AmdCertError;
pub use policy::{HostData, Measurement, SnpPolicy};
pub use product::Product;
pub use report::{ReportError, SnpReport};
pub use roots::{
    AmdRoots, GENOA_ARK_PEM, GENOA_ASK_PEM, GENOA_ASVK_PEM, Intermediate, MILAN_ARK_PEM, MILAN_ASK_PEM, MILAN_ASVK_PEM,
    ProductRoots, RootsError, TURIN_ARK_PEM, TURIN_ASK_PEM, TURIN_ASVK_PEM,
};
pub use tcb::Tcb;
pub use vek::{VekExtensionError, VekExtensions, VekInputError, vek_der};
