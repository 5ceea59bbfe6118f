//! The bundle's own checks, in the order they run (each GPU and the CPU report bring their own). A name
//! is stable: it appears in JSON output, the attestation log and EAR `failures`.

use crate::appraisal::checks;

checks! {
    /// Every bundle-level check, in the order a bundle appraisal performs them.
    pub enum BundleCheck {
        /// It carries at least one GPU's evidence, each GPU once, all in one topology mode.
        Gpus = "bundle-gpus",
        /// It carries the nonce the verifier expected (freshness).
        Nonce = "bundle-nonce",
        /// Protected PCIe: the bundle carries the board's full NVSwitch set and the GPUs' and switches'
        /// reports describe one another exactly (recorded only for a PPCIe bundle or one with switches).
        Topology = "bundle-topology",
        /// It carries CPU TEE evidence binding the GPUs to the VM (or the policy waives it).
        Cpu = "bundle-cpu",
    }
}
