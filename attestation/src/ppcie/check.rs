//! The topology checks, in the order they run.

use crate::appraisal::checks;

checks! {
    /// Every check of a PPCIe board's topology.
    pub enum TopologyCheck {
        /// Exactly eight GPUs, each with an established PDI, none twice.
        GpuSet = "gpu-set",
        /// Exactly four NVSwitches, each with an established PDI, none twice.
        SwitchSet = "switch-set",
        /// Every GPU's NVLinks lead to exactly the four switches (no unknown switch, none missing).
        GpuLinks = "gpu-links",
        /// Every switch connects exactly the eight GPUs (no unknown or repeated GPU, none missing).
        SwitchLinks = "switch-links",
    }
}
