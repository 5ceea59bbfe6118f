//! Who the TD says it is: the TD report's fields, the platform the PCK certifies, and the TCB status the
//! collateral assigns. Nothing here is trustworthy unless the verdict is affirming.

use serde::Serialize;

use super::pck::PckExtension;
use super::quote::{BodyKind, TdxQuote};
use super::tcb_status::TcbVerdict;

/// TDATTRIBUTES bits.
pub mod td_attribute {
    /// DEBUG (bit 0): the TD runs in debug mode; the host can read and write its state.
    pub const DEBUG: u64 = 1;
    /// Reserved TUD bits 7:1.
    pub const TUD_RESERVED: u64 = 0xfe;
    /// Reserved SEC bits 27:8.
    pub const SEC_RESERVED: u64 = 0x0fff_ff00;
    /// SEPT_VE_DISABLE (bit 28).
    pub const SEPT_VE_DISABLE: u64 = 1 << 28;
    /// Reserved SEC bit 29.
    pub const SEC_RESERVED_29: u64 = 1 << 29;
    /// Reserved OTHER bits 62:32.
    pub const OTHER_RESERVED: u64 = 0x7fff_ffff_0000_0000;
}

/// Who the TD says it is (trustworthy only if the verdict is affirming).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TdxIdentity {
    /// Quote version (4 or 5).
    pub quote_version: Option<u16>,
    /// TD report body version.
    pub body: Option<BodyKind>,
    /// FMSPC from the PCK certificate, hex.
    pub fmspc: Option<String>,
    /// PCK CPUSVN components, hex.
    pub cpu_svn: Option<String>,
    /// PCK PCESVN.
    pub pce_svn: Option<u16>,
    /// TEE_TCB_SVN, hex.
    pub tee_tcb_svn: Option<String>,
    /// MRSEAM, hex.
    pub mr_seam: Option<String>,
    /// MRSIGNERSEAM, hex.
    pub mr_signer_seam: Option<String>,
    /// TDATTRIBUTES (little-endian u64).
    pub td_attributes: Option<u64>,
    /// DEBUG bit.
    pub debug: Option<bool>,
    /// SEPT_VE_DISABLE bit.
    pub sept_ve_disable: Option<bool>,
    /// XFAM.
    pub xfam: Option<u64>,
    /// MRTD, hex.
    pub mrtd: Option<String>,
    /// MRCONFIGID, hex.
    pub mr_config_id: Option<String>,
    /// MROWNER, hex.
    pub mr_owner: Option<String>,
    /// MROWNERCONFIG, hex.
    pub mr_owner_config: Option<String>,
    /// RTMR0–3, hex.
    pub rtmr: Vec<String>,
    /// REPORTDATA, hex.
    pub report_data: Option<String>,
    /// MRSERVICETD (TD report 1.5), hex.
    pub mr_service_td: Option<String>,
    /// The merged TCB status and advisories (platform, module, QE), when every piece matched.
    pub tcb: Option<TcbVerdict>,
    /// The TCB info's evaluation data number.
    pub tcb_evaluation_number: Option<u32>,
    /// Unsigned bytes after the quote's signature data (accepted, not read).
    pub trailing_bytes: Option<usize>,
}

impl TdxIdentity {
    /// What the quote claims.
    pub(super) fn read_quote(&mut self, q: &TdxQuote<'_>) {
        let b = &q.body;
        self.quote_version = Some(q.version);
        self.body = Some(b.kind);
        self.tee_tcb_svn = Some(hex::encode(b.tee_tcb_svn));
        self.mr_seam = Some(hex::encode(b.mr_seam));
        self.mr_signer_seam = Some(hex::encode(b.mr_signer_seam));
        self.td_attributes = Some(b.td_attributes);
        self.debug = Some(b.td_attributes & td_attribute::DEBUG != 0);
        self.sept_ve_disable = Some(b.td_attributes & td_attribute::SEPT_VE_DISABLE != 0);
        self.xfam = Some(b.xfam);
        self.mrtd = Some(hex::encode(b.mr_td));
        self.mr_config_id = Some(hex::encode(b.mr_config_id));
        self.mr_owner = Some(hex::encode(b.mr_owner));
        self.mr_owner_config = Some(hex::encode(b.mr_owner_config));
        self.rtmr = b.rtmr.iter().map(hex::encode).collect();
        self.report_data = Some(hex::encode(b.report_data));
        self.mr_service_td = b.mr_service_td.map(hex::encode);
        self.trailing_bytes = Some(q.trailing);
    }

    /// What the PCK certificate claims about the platform.
    pub(super) fn read_pck(&mut self, e: &PckExtension) {
        self.fmspc = Some(hex::encode(e.fmspc));
        self.cpu_svn = Some(hex::encode(e.cpu_svn_components));
        self.pce_svn = Some(e.pce_svn);
    }
}
