//! The typed result of a verification: every check with its outcome, and the verdict they imply.
//!
//! A verdict is [`Verdict::Affirming`] only when every check passed or was skipped because the policy
//! explicitly said so (e.g. OCSP off). A check that failed, or that could not run because an earlier
//! check failed, makes the verdict [`Verdict::Contraindicated`]: the verifier fails closed.

use std::fmt;

use serde::Serialize;

/// Every check a GPU verification performs, in the order it performs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The report parses as SPDM GET_MEASUREMENTS + MEASUREMENTS.
    ReportParsed,
    /// The GPU architecture is known and consistent with the evidence layout.
    Arch,
    /// The device certificate chain validates to the pinned NVIDIA device root.
    DeviceChain,
    /// Revocation status of the device chain.
    DeviceChainOcsp,
    /// The FWID in the attestation certificate equals the FWID in the report.
    Fwid,
    /// The report signature verifies with the attestation certificate's key.
    ReportSignature,
    /// The report's request nonce equals the expected nonce.
    Nonce,
    /// A driver RIM was provided.
    DriverRimPresent,
    /// The driver RIM has NVIDIA's SWID structure.
    DriverRimStructure,
    /// The driver RIM's XML signature verifies.
    DriverRimSignature,
    /// The driver RIM's signing chain validates to the pinned RIM root.
    DriverRimChain,
    /// Revocation status of the driver RIM chain.
    DriverRimOcsp,
    /// The driver RIM is for this chip and this driver version.
    DriverRimIdentity,
    /// A VBIOS RIM was provided.
    VbiosRimPresent,
    /// The VBIOS RIM has NVIDIA's SWID structure.
    VbiosRimStructure,
    /// The VBIOS RIM's XML signature verifies.
    VbiosRimSignature,
    /// The VBIOS RIM's signing chain validates to the pinned RIM root.
    VbiosRimChain,
    /// Revocation status of the VBIOS RIM chain.
    VbiosRimOcsp,
    /// The VBIOS RIM is for this chip and this VBIOS version.
    VbiosRimIdentity,
    /// No golden index is active in both RIMs.
    IndexConflict,
    /// Every active golden measurement matches the report.
    Measurements,
    /// The evidence satisfies the appraisal policy's own rules (versions, modes).
    Policy,
    /// SEV-SNP: the report is 1184 bytes of a known version (2, 3 or 5) and decodes.
    SnpReportParsed,
    /// SEV-SNP: every reserved field and bit of the report holds its required value.
    SnpReservedFields,
    /// SEV-SNP: the chain ends in the pinned AMD ARK (self-signed, valid); a supplied ARK is identical.
    SnpArk,
    /// SEV-SNP: the ASK (VCEK chain) or ASVK (VLEK chain) is signed by the ARK and valid.
    SnpAsk,
    /// SEV-SNP: the VCEK/VLEK is signed by the ASK/ASVK, valid, and a P-384 key.
    SnpVek,
    /// SEV-SNP: chain, VCEK/VLEK productName and the report's CPUID name the same product.
    SnpProduct,
    /// SEV-SNP: SIGNATURE_ALGO is ECDSA P-384/SHA-384 and KEY_INFO names the certificate's key kind.
    SnpSignatureAlgorithm,
    /// SEV-SNP: the report signature verifies with the VCEK/VLEK key over the bytes as received.
    SnpReportSignature,
    /// SEV-SNP: the VCEK/VLEK's TCB extensions equal the report's REPORTED_TCB.
    SnpVekTcb,
    /// SEV-SNP: the VCEK's hwID equals the report's CHIP_ID (skipped for a VLEK or a masked CHIP_ID).
    SnpChipId,
    /// SEV-SNP: REPORT_DATA equals the expected value (the nonce binding).
    SnpReportData,
    /// SEV-SNP: the guest policy bits (debug, migration agent, SMT) are acceptable.
    SnpGuestPolicy,
    /// SEV-SNP: the report's VMPL is the one the policy requires.
    SnpVmpl,
    /// SEV-SNP: REPORTED_TCB meets the policy's minimum for the product.
    SnpMinTcb,
    /// SEV-SNP: the launch measurement is one the policy allows.
    SnpMeasurement,
    /// SEV-SNP: HOST_DATA is the one the policy requires.
    SnpHostData,
    /// Bundle: it carries at least one GPU's evidence.
    BundleGpus,
    /// Bundle: it carries CPU TEE evidence binding the GPUs to the VM (or the policy waives it).
    BundleCpu,
    /// Bundle: it carries the nonce the verifier expected (freshness).
    BundleNonce,
}

impl Check {
    /// Stable kebab-case name (as in JSON output and `failures`).
    pub fn name(self) -> &'static str {
        use Check::*;
        match self {
            ReportParsed => "report-parsed",
            Arch => "arch",
            DeviceChain => "device-chain",
            DeviceChainOcsp => "device-chain-ocsp",
            Fwid => "fwid",
            ReportSignature => "report-signature",
            Nonce => "nonce",
            DriverRimPresent => "driver-rim-present",
            DriverRimStructure => "driver-rim-structure",
            DriverRimSignature => "driver-rim-signature",
            DriverRimChain => "driver-rim-chain",
            DriverRimOcsp => "driver-rim-ocsp",
            DriverRimIdentity => "driver-rim-identity",
            VbiosRimPresent => "vbios-rim-present",
            VbiosRimStructure => "vbios-rim-structure",
            VbiosRimSignature => "vbios-rim-signature",
            VbiosRimChain => "vbios-rim-chain",
            VbiosRimOcsp => "vbios-rim-ocsp",
            VbiosRimIdentity => "vbios-rim-identity",
            IndexConflict => "index-conflict",
            Measurements => "measurements",
            Policy => "policy",
            SnpReportParsed => "snp-report-parsed",
            SnpReservedFields => "snp-reserved-fields",
            SnpArk => "snp-ark",
            SnpAsk => "snp-ask",
            SnpVek => "snp-vek",
            SnpProduct => "snp-product",
            SnpSignatureAlgorithm => "snp-signature-algorithm",
            SnpReportSignature => "snp-report-signature",
            SnpVekTcb => "snp-vek-tcb",
            SnpChipId => "snp-chip-id",
            SnpReportData => "snp-report-data",
            SnpGuestPolicy => "snp-guest-policy",
            SnpVmpl => "snp-vmpl",
            SnpMinTcb => "snp-min-tcb",
            SnpMeasurement => "snp-measurement",
            SnpHostData => "snp-host-data",
            BundleGpus => "bundle-gpus",
            BundleCpu => "bundle-cpu",
            BundleNonce => "bundle-nonce",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// The check passed; `detail` says what was established.
    Passed {
        /// What was established.
        detail: String,
    },
    /// The check failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// The check could not run because something it depends on failed.
    NotRun {
        /// What it was waiting for.
        reason: String,
    },
    /// The policy explicitly turned the check off.
    Skipped {
        /// Which policy setting.
        reason: String,
    },
}

impl Outcome {
    /// True for a pass.
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed { .. })
    }

    /// True when this outcome prevents an affirming verdict.
    pub fn blocks(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::NotRun { .. })
    }

    /// The detail or reason text.
    pub fn text(&self) -> &str {
        match self {
            Self::Passed { detail } => detail,
            Self::Failed { reason } | Self::NotRun { reason } | Self::Skipped { reason } => reason,
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Which check.
    pub check: Check,
    /// Its outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The overall verdict (EAR trust-tier names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed.
    Affirming,
    /// At least one check failed or could not run.
    Contraindicated,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Affirming => "affirming",
            Self::Contraindicated => "contraindicated",
        })
    }
}

/// An ordered list of check results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Checks(Vec<CheckResult>);

impl Checks {
    pub(crate) fn record(&mut self, check: Check, outcome: Outcome) {
        debug_assert!(self.get(check).is_none(), "check {check} recorded twice");
        self.0.push(CheckResult { check, outcome });
    }

    pub(crate) fn pass(&mut self, check: Check, detail: impl Into<String>) {
        self.record(check, Outcome::Passed { detail: detail.into() });
    }

    pub(crate) fn fail(&mut self, check: Check, reason: impl Into<String>) {
        self.record(check, Outcome::Failed { reason: reason.into() });
    }

    pub(crate) fn not_run(&mut self, check: Check, reason: impl Into<String>) {
        self.record(check, Outcome::NotRun { reason: reason.into() });
    }

    pub(crate) fn skip(&mut self, check: Check, reason: impl Into<String>) {
        self.record(check, Outcome::Skipped { reason: reason.into() });
    }

    /// The outcome of `check`, if it was recorded.
    pub fn get(&self, check: Check) -> Option<&Outcome> {
        self.0.iter().find(|r| r.check == check).map(|r| &r.outcome)
    }

    /// True when `check` was recorded and passed.
    pub fn passed(&self, check: Check) -> bool {
        self.get(check).is_some_and(Outcome::passed)
    }

    /// Every result in order.
    pub fn iter(&self) -> impl Iterator<Item = &CheckResult> {
        self.0.iter()
    }

    /// Checks that failed or could not run, in order.
    pub fn failures(&self) -> Vec<Check> {
        self.0.iter().filter(|r| r.outcome.blocks()).map(|r| r.check).collect()
    }

    /// The verdict these outcomes imply.
    pub fn verdict(&self) -> Verdict {
        if !self.0.is_empty() && self.failures().is_empty() { Verdict::Affirming } else { Verdict::Contraindicated }
    }
}
