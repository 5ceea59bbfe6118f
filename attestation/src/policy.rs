//! The appraisal policy: what "acceptable" means beyond the checks that are never optional.
//!
//! Signatures, chains, nonce, RIM identity and golden measurements are always enforced; the policy can
//! only make acceptance stricter, except where a field says otherwise and defaults to the strict choice.

use serde::{Deserialize, Serialize};

/// Policy for one GPU's appraisal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpuPolicy {
    /// Accept a report that carries no FWID (opaque type 20), so the attestation certificate's FWID cannot be
    /// compared with it. NVIDIA's reference verifier silently skips the comparison then; ccgpu refuses by
    /// default. Reports from drivers older than 550 lack the FWID.
    pub allow_missing_fwid: bool,
}

impl Default for GpuPolicy {
    fn default() -> Self {
        Self { allow_missing_fwid: false }
    }
}
