//! Appraisal of one NVIDIA NVSwitch's (LS10) confidential-computing evidence: its SPDM attestation report
//! (the LS10 opaque layout), its device certificate chain, its VBIOS RIM and golden measurements, each
//! judged by its own check ([`SwitchCheck`]).
//!
//! [`appraise_switch`] takes the evidence bytes ([`SwitchEvidence`]) and the same context a GPU appraisal
//! takes ([`crate::GpuAppraise`]: nonce, time, anchors, policy, revocation, cache) and returns a
//! [`SwitchAppraisal`]. Nothing is read from the environment; every check runs that can, so an appraisal
//! names every problem.
//!
//! What it trusts: only the anchors it is handed — a switch chain ends at the same NVIDIA Device Identity
//! CA as a GPU's (`LS_10 … FSP FMC LF` ← `LS_10 … FSP BROM` ← `NVIDIA LS_10 Provisioner ICA 1` ←
//! `NVIDIA GH100 Identity` ← root), and its RIM at NVIDIA's RIM root. What it does not trust: every byte
//! of evidence. The switch's identity is its PDI, read from its device certificate (position 1) once the
//! chain validates; the PDI the report states must be that one.
//!
//! An LS10 report carries no FWID (opaque type 20), so the report is bound to the attestation
//! certificate by its signature alone; the `fwid` check says so when it passes that way.
//!
//! Layout, as `crate::gpu`: `evidence` (inputs), `check` (the checks, in order), `appraise` (the steps),
//! `checks` (one function per step), `identity` (who the evidence says it is), `result` (the appraisal).

mod appraise;
mod check;
mod checks;
mod evidence;
mod identity;
mod result;

pub use appraise::appraise_switch;
pub use check::SwitchCheck;
pub use evidence::SwitchEvidence;
pub use identity::{SwitchIdentity, device_pdi};
pub use result::SwitchAppraisal;
