//! Appraisal of AMD SEV-SNP evidence: an attestation report, the VCEK or VLEK that signed it, and
//! optionally the ASK/ASVK + ARK bundle that came with it, each judged by its own check ([`SnpCheck`]).
//!
//! [`appraise_snp`] takes everything the decision depends on — evidence bytes ([`SnpEvidence`]), the
//! verification time, AMD's roots, the policy and the expected REPORT_DATA ([`SnpAppraise`]) — and
//! returns an [`SnpAppraisal`] recording every check, the verdict they imply and who the guest says it is.
//! Nothing is read from the environment.
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
//!
//! Layout, the same for every appraisal kind: `evidence` (inputs), `check` (the checks, in order),
//! `appraise` (the steps), `checks` (one function per step), `identity` (who the evidence says it is),
//! `result` (the appraisal). AMD's formats, used by this appraisal alone, sit beside them: `report` (the
//! attestation report), `vek` (VCEK/VLEK and its extensions), `chain` (AMD's certificate profile), `roots`
//! (AMD's pinned roots), `product`, `tcb`, and `policy` (the SNP part of the appraisal policy).

mod appraise;
mod chain;
mod check;
mod checks;
mod crl;
mod evidence;
mod identity;
mod policy;
mod product;
pub(crate) mod report; // also read by the simulator
mod result;
mod roots;
mod tcb;
mod vek;

pub use appraise::appraise_snp;
pub use check::SnpCheck;
pub use crl::{CrlError, MAX_CRL_LEN, NotRevoked, check_not_revoked, parse_crl};
pub use evidence::{SnpAppraise, SnpEvidence, SnpRevocation};
pub use identity::SnpIdentity;
pub use policy::{HostData, Measurement, SnpPolicy};
pub use product::Product;
pub use result::SnpAppraisal;
pub use roots::{AmdRoots, Intermediate, ProductRoots, RootsError};
pub use tcb::Tcb;
pub use vek::VekKind;
