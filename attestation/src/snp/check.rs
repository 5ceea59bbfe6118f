//! The SEV-SNP appraisal's checks, in the order they run. A name is stable: it appears in JSON output,
//! the attestation log and EAR `failures`.

use crate::appraisal::checks;

checks! {
    /// Every check an SEV-SNP appraisal performs, in the order it performs them.
    pub enum SnpCheck {
        /// The report is 1184 bytes of a known version (2, 3 or 5) and decodes.
        ReportParsed = "snp-report-parsed",
        /// Every reserved field and bit of the report holds its required value.
        ReservedFields = "snp-reserved-fields",
        /// The chain ends in the pinned AMD ARK (self-signed, valid); a supplied ARK is identical.
        Ark = "snp-ark",
        /// The ASK (VCEK chain) or ASVK (VLEK chain) is signed by the ARK and valid.
        Ask = "snp-ask",
        /// The VCEK/VLEK is signed by the ASK/ASVK, valid, and a P-384 key.
        Vek = "snp-vek",
        /// The ASK/ASVK is not on the ARK's current certificate revocation list.
        AskRevocation = "snp-ask-revocation",
        /// Chain, VCEK/VLEK productName and the report's CPUID name the same product.
        Product = "snp-product",
        /// SIGNATURE_ALGO is ECDSA P-384/SHA-384 and KEY_INFO names the certificate's key kind.
        SignatureAlgorithm = "snp-signature-algorithm",
        /// The report signature verifies with the VCEK/VLEK key over the bytes as received.
        ReportSignature = "snp-report-signature",
        /// The VCEK/VLEK's TCB extensions equal the report's REPORTED_TCB.
        VekTcb = "snp-vek-tcb",
        /// The VCEK's hwID equals the report's CHIP_ID (skipped for a VLEK or a masked CHIP_ID).
        ChipId = "snp-chip-id",
        /// REPORT_DATA equals the expected value (the nonce binding).
        ReportData = "snp-report-data",
        /// The guest policy bits (debug, migration agent, SMT) are acceptable.
        GuestPolicy = "snp-guest-policy",
        /// The report's VMPL is the one the policy requires.
        Vmpl = "snp-vmpl",
        /// REPORTED_TCB meets the policy's minimum for the product.
        MinTcb = "snp-min-tcb",
        /// The launch measurement is one the policy allows.
        Measurement = "snp-measurement",
        /// HOST_DATA is the one the policy requires.
        HostData = "snp-host-data",
    }
}
