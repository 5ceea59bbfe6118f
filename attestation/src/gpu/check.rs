//! The GPU appraisal's checks, in the order they run. A name is stable: it appears in JSON output, the
//! attestation log, EAR `failures` and NVIDIA's claims mapping.

use crate::appraisal::checks;

checks! {
    /// Every check a GPU appraisal performs, in the order it performs them.
    pub enum GpuCheck {
        /// The report parses as SPDM GET_MEASUREMENTS + MEASUREMENTS.
        ReportParsed = "report-parsed",
        /// The GPU architecture is known and consistent with the evidence layout.
        Arch = "arch",
        /// The device certificate chain validates to the pinned NVIDIA device root.
        DeviceChain = "device-chain",
        /// Revocation status of the device chain.
        DeviceChainOcsp = "device-chain-ocsp",
        /// The FWID in the attestation certificate equals the FWID in the report.
        Fwid = "fwid",
        /// The report signature verifies with the attestation certificate's key.
        ReportSignature = "report-signature",
        /// The report's request nonce equals the expected nonce.
        Nonce = "nonce",
        /// A driver RIM was provided.
        DriverRimPresent = "driver-rim-present",
        /// The driver RIM has NVIDIA's SWID structure.
        DriverRimStructure = "driver-rim-structure",
        /// The driver RIM's XML signature verifies.
        DriverRimSignature = "driver-rim-signature",
        /// The driver RIM's signing chain validates to the pinned RIM root.
        DriverRimChain = "driver-rim-chain",
        /// Revocation status of the driver RIM chain.
        DriverRimOcsp = "driver-rim-ocsp",
        /// The driver RIM is for this chip and this driver version.
        DriverRimIdentity = "driver-rim-identity",
        /// A VBIOS RIM was provided.
        VbiosRimPresent = "vbios-rim-present",
        /// The VBIOS RIM has NVIDIA's SWID structure.
        VbiosRimStructure = "vbios-rim-structure",
        /// The VBIOS RIM's XML signature verifies.
        VbiosRimSignature = "vbios-rim-signature",
        /// The VBIOS RIM's signing chain validates to the pinned RIM root.
        VbiosRimChain = "vbios-rim-chain",
        /// Revocation status of the VBIOS RIM chain.
        VbiosRimOcsp = "vbios-rim-ocsp",
        /// The VBIOS RIM is for this chip and this VBIOS version.
        VbiosRimIdentity = "vbios-rim-identity",
        /// No golden index is active in both RIMs.
        IndexConflict = "index-conflict",
        /// Every active golden measurement matches the report.
        Measurements = "measurements",
        /// The evidence satisfies the appraisal policy's own rules (versions, accepted RIMs).
        Policy = "policy",
    }
}
