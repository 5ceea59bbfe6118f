//! Protected PCIe (PPCIe): an HGX board's eight GPUs and four NVSwitches in one confidential VM. Each
//! device is appraised on its own ([`crate::appraise_gpu`], [`crate::appraise_switch`]); then the
//! topology must be the board's: [`appraise_topology`] checks that the GPUs' and the switches' reports
//! describe one another exactly, as NVIDIA's PPCIe verifier does, and more strictly (below).
//!
//! The identities compared are PDIs. A device's own PDI is taken from its validated device certificate
//! (NVIDIA's word), never from what it reports; a GPU lists the switch PDIs of its NVLinks (opaque type
//! 22, unused links zero), a switch the PDIs of the eight GPUs it connects (type 26).
//!
//! NVIDIA's verifier checks that every GPU names the same four switch PDIs and every switch the same
//! eight GPU PDIs, and that the switches' own PDIs are the four the GPUs name; it never ties the GPU PDIs
//! the switches list to the GPUs in the VM. ccgpu also requires the switches' GPU list to be exactly the
//! PDIs of the appraised GPUs, so a GPU from another board (or a replayed one) is refused.
//!
//! What it trusts: the PDIs of devices whose chains validated (the caller passes `None` for any other,
//! which fails the check). What it does not trust: the lists the reports carry until compared.

mod appraise;
mod check;

pub use appraise::{
    DeviceLinks, HGX_GPUS, HGX_SWITCHES, PpcieAppraisal, TopologyAppraisal, appraise_ppcie, appraise_topology,
};
pub use check::TopologyCheck;
