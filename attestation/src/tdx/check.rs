//! The TDX appraisal's checks, in the order they run. A name is stable: it appears in JSON output, the
//! attestation log and EAR `failures`.

use crate::appraisal::checks;

checks! {
    /// Every check a TDX appraisal performs, in the order it performs them.
    pub enum TdxCheck {
        /// The quote is a v4/v5 TDX quote with an ECDSA P-256 key and QE report certification data; sizes,
        /// versions, TEE type and reserved fields are strict.
        QuoteParsed = "tdx-quote-parsed",
        /// The PCK chain in the quote (PCK, PCK CA, root) validates to the pinned Intel SGX Root CA at the
        /// verification time, and the PCK's SGX extension decodes.
        PckChain = "tdx-pck-chain",
        /// The root CA CRL (signed by the root) lists neither the PCK CA nor the TCB Signing certificate;
        /// the PCK CRL (signed by the PCK CA) does not list the PCK; both are current.
        Revocation = "tdx-revocation",
        /// The QE report is signed by the PCK key.
        QeReportSignature = "tdx-qe-report-signature",
        /// The QE report's REPORT_DATA is SHA-256(attestation key ‖ QE authentication data) ‖ 32 zero bytes.
        QeReportData = "tdx-qe-report-data",
        /// The quote signature verifies with the attestation key over header and body as received.
        QuoteSignature = "tdx-quote-signature",
        /// The TCB info's issuer chain validates to the root and its signature covers the JSON as received.
        TcbInfoSignature = "tdx-tcb-info-signature",
        /// The QE identity's issuer chain validates to the root and its signature covers the JSON.
        QeIdentitySignature = "tdx-qe-identity-signature",
        /// TCB info and QE identity are current at the verification time (issueDate ≤ t ≤ nextUpdate).
        CollateralCurrent = "tdx-collateral-current",
        /// The QE report matches the QE identity (MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES) and its
        /// ISVSVN has a TCB level.
        QeIdentity = "tdx-qe-identity",
        /// The TCB info is for the PCK's FMSPC and PCE id, and a TCB level covers the PCK's SGX components,
        /// PCESVN and the TD's TEE_TCB_SVN.
        TcbLevel = "tdx-tcb-level",
        /// MRSIGNERSEAM and SEAMATTRIBUTES are the TDX module identity's, and its ISVSVN has a level.
        ModuleIdentity = "tdx-module-identity",
        /// The merged TCB status (platform, module, QE) and its advisories are ones the policy accepts.
        TcbStatus = "tdx-tcb-status",
        /// TD attributes: DEBUG off (always), no reserved bit, SEPT_VE_DISABLE on, attributes and XFAM as pinned.
        TdAttributes = "tdx-td-attributes",
        /// MRSERVICETD (TDX 1.5) is zero unless the policy allows a service TD.
        ServiceTd = "tdx-service-td",
        /// REPORTDATA equals the expected value (the nonce / composite binding).
        ReportData = "tdx-report-data",
        /// MRTD is one the policy allows.
        Mrtd = "tdx-mrtd",
        /// RTMR0–3 equal the policy's pins.
        Rtmrs = "tdx-rtmrs",
        /// MRCONFIGID, MROWNER and MROWNERCONFIG equal the policy's pins.
        TdConfig = "tdx-td-config",
    }
}
