//! The NVSwitch appraisal's checks, in the order they run. A name is stable: it appears in JSON output,
//! EAR `failures` and the attestation log.

use crate::appraisal::checks;

checks! {
    /// Every check an NVSwitch appraisal performs, in the order it performs them.
    pub enum SwitchCheck {
        /// The report parses as SPDM GET_MEASUREMENTS + MEASUREMENTS with LS10 opaque data.
        ReportParsed = "report-parsed",
        /// The device certificate names an NVSwitch NVIDIA makes confidential-computing capable (LS10).
        Arch = "arch",
        /// The device certificate chain validates to the pinned NVIDIA device root.
        DeviceChain = "device-chain",
        /// Revocation status of the device chain.
        DeviceChainOcsp = "device-chain-ocsp",
        /// The PDI the report states is the one the validated device certificate carries.
        Pdi = "pdi",
        /// The report is bound to the attestation certificate (FWID, when the report carries one).
        Fwid = "fwid",
        /// The report signature verifies with the attestation certificate's key.
        ReportSignature = "report-signature",
        /// The report's request nonce equals the expected nonce.
        Nonce = "nonce",
        /// A switch VBIOS RIM was provided.
        VbiosRimPresent = "vbios-rim-present",
        /// The VBIOS RIM has NVIDIA's SWID structure.
        VbiosRimStructure = "vbios-rim-structure",
        /// The VBIOS RIM's XML signature verifies.
        VbiosRimSignature = "vbios-rim-signature",
        /// The VBIOS RIM's signing chain validates to the pinned RIM root.
        VbiosRimChain = "vbios-rim-chain",
        /// Revocation status of the VBIOS RIM chain.
        VbiosRimOcsp = "vbios-rim-ocsp",
        /// The VBIOS RIM is a SWITCH RIM for LS10 and this VBIOS version.
        VbiosRimIdentity = "vbios-rim-identity",
        /// Every active golden measurement matches the report.
        Measurements = "measurements",
        /// The VBIOS RIM used is one the policy accepts (test RIMs, `gpu.accepted_rims`).
        VbiosRimPolicy = "vbios-rim-policy",
    }
}
