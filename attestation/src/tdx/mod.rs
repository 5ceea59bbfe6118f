//! Appraisal of Intel TDX evidence: a TD quote (v4 or v5) with Intel's DCAP collateral, each step judged
//! by its own check ([`TdxCheck`]).
//!
//! [`appraise_tdx`] takes everything the decision depends on — the quote ([`TdxEvidence`]), the
//! verification time, Intel's root, the collateral, the policy and the expected REPORT_DATA
//! ([`TdxAppraise`]) — and returns a [`TdxAppraisal`] recording every check, the verdict they imply and
//! who the TD says it is. Nothing is read from the environment.
//!
//! What it trusts: only the Intel SGX Root CA in the [`IntelRoots`] it is handed ([`IntelRoots::intel`]
//! ships Intel's). What it does not trust: the quote, the PCK chain inside it, and every piece of
//! collateral (TCB info, QE identity, CRLs, issuer chains) — each is verified under that root, over the
//! bytes as received, at the verification time.
//!
//! What a verified quote proves: a TD with these measurements (MRTD, RTMRs), attributes and REPORTDATA
//! runs under a TDX module and on a platform whose TCB Intel rates as the status reported. What it does not
//! prove: anything about devices assigned to the TD (a GPU is bound to the TD only by the composite
//! REPORTDATA, until TDISP), or that the RTMRs were extended honestly by the TD's own software.
//!
//! Trailing bytes after the quote's signature data are accepted and ignored (see `quote`): they are
//! covered by no signature, and real quote providers pad.
//!
//! Layout, the same for every appraisal kind: `evidence`, `check`, `appraise`, `checks`, `identity`,
//! `result`. Intel's formats, used by this appraisal alone, sit beside them: `quote`, `pck` (the PCK's
//! SGX extension), `collateral`, `tcb_info`, `qe_identity`, `tcb_status`, `crl`, `roots`, and `policy`.

mod appraise;
mod check;
mod checks;
mod collateral;
mod crl;
mod evidence;
mod identity;
mod inspect;
mod pck;
mod policy;
mod qe_identity;
mod quote;
mod result;
mod roots;
mod tcb_info;
mod tcb_status;

pub use appraise::appraise_tdx;
pub use check::TdxCheck;
pub use collateral::{CollateralError, MAX_COLLATERAL_LEN, PcsResponses, TdxCollateral, crl_der, split_signed};
pub use evidence::{CollateralNeeded, PckCa, TdxAppraise, TdxEvidence};
pub use identity::{TdxIdentity, td_attribute};
pub use pck::{PckExtension, PckExtensionError};
pub use policy::{Hex, TdxPolicy};
pub use qe_identity::QeIdentity;
pub use quote::{
    BodyKind, HEADER_LEN, MAX_QUOTE_LEN, QeReport, QuoteError, TD_REPORT10_LEN, TD_REPORT15_LEN, TdReport, TdxQuote,
    body_offset, header_offset, qe_offset,
};
pub use result::TdxAppraisal;
pub use roots::{INTEL_SGX_ROOT_CA_PEM, IntelRoots};
pub use tcb_info::{ModuleIdentity, ModuleIdentityEntry, TcbInfo, TcbLevel};
pub use tcb_status::{TcbStatus, TcbVerdict};
