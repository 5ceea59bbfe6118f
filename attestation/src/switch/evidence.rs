//! What an NVSwitch appraisal takes: the evidence. The rest of the decision's inputs are a GPU's
//! ([`crate::GpuAppraise`]): one verifier appraises a board's GPUs and switches against one nonce, time,
//! set of anchors, policy and revocation.

use crate::x509::CertChain;

/// One NVSwitch's evidence and the RIM to appraise it against.
#[derive(Debug, Clone, Copy)]
pub struct SwitchEvidence<'a> {
    /// The attestation report as received (binary).
    pub report: &'a [u8],
    /// The device certificate chain, leaf first.
    pub chain: &'a CertChain,
    /// The switch VBIOS RIM document, if available.
    pub vbios_rim: Option<&'a [u8]>,
}
