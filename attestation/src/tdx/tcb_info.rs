//! Intel's TDX TCB info (version 3 JSON, `id` "TDX"), as signed by the TCB Signing certificate: the TCB
//! levels of one FMSPC (SGX and TDX components, PCESVN, status, advisories) and the TDX module identities.
//!
//! Trusts: nothing by itself; the JSON means something only once its signature verified under a TCB
//! Signing certificate that chains to Intel's root. Unknown fields are ignored (Intel adds fields); the
//! fields the appraisal reads are required and strictly typed.

use serde::Deserialize;
use time::OffsetDateTime;

use super::collateral::{CollateralError, hex_array, parse_time};
use super::tcb_status::TcbStatus;

/// Levels read from one TCB info (Intel's have ≤ 20).
const MAX_LEVELS: usize = 256;

/// A TDX TCB info, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbInfo {
    /// `issueDate`.
    pub issue_date: OffsetDateTime,
    /// `nextUpdate`.
    pub next_update: OffsetDateTime,
    /// `fmspc`.
    pub fmspc: [u8; 6],
    /// `pceId`.
    pub pce_id: [u8; 2],
    /// `tcbEvaluationDataNumber`.
    pub evaluation_number: u32,
    /// `tdxModule`.
    pub tdx_module: ModuleIdentity,
    /// `tdxModuleIdentities` (may be empty).
    pub module_identities: Vec<ModuleIdentityEntry>,
    /// `tcbLevels`, in the collateral's order (highest first).
    pub levels: Vec<TcbLevel>,
}

/// The expected signer and attributes of the TDX module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleIdentity {
    /// MRSIGNERSEAM.
    pub mrsigner: [u8; 48],
    /// SEAMATTRIBUTES.
    pub attributes: [u8; 8],
    /// Mask for SEAMATTRIBUTES.
    pub attributes_mask: [u8; 8],
}

/// One entry of `tdxModuleIdentities` (`TDX_01`, `TDX_03`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleIdentityEntry {
    /// `id`.
    pub id: String,
    /// Signer and attributes.
    pub identity: ModuleIdentity,
    /// (`isvsvn`, status, advisories), highest first.
    pub levels: Vec<(u8, TcbStatus, Vec<String>)>,
}

/// One platform TCB level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbLevel {
    /// SGX TCB components.
    pub sgx: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// TDX TCB components.
    pub tdx: [u8; 16],
    /// `tcbStatus`.
    pub status: TcbStatus,
    /// `advisoryIDs`.
    pub advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    tdx_module: Option<RawModule>,
    #[serde(default)]
    tdx_module_identities: Vec<RawModuleEntry>,
    tcb_levels: Vec<RawLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawModule {
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawModuleEntry {
    id: String,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    tcb_levels: Vec<RawModuleLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawModuleLevel {
    tcb: RawIsvSvn,
    tcb_status: TcbStatus,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct RawIsvSvn {
    pub(super) isvsvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLevel {
    tcb: RawTcb,
    tcb_status: TcbStatus,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawTcb {
    sgxtcbcomponents: Vec<RawSvn>,
    pcesvn: u16,
    tdxtcbcomponents: Vec<RawSvn>,
}

#[derive(Deserialize)]
struct RawSvn {
    svn: u8,
}

impl TcbInfo {
    /// Parses the signed `tcbInfo` JSON; refuses anything but a version 3 TDX TCB info.
    pub fn parse(json: &str) -> Result<Self, CollateralError> {
        let bad = |m: String| CollateralError::Field { document: "TCB info", reason: m };
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| CollateralError::Json { document: "TCB info", reason: e.to_string() })?;
        if raw.id != "TDX" || raw.version != 3 {
            return Err(bad(format!(
                "id {:?} version {}: only TDX TCB info version 3 is accepted",
                raw.id, raw.version
            )));
        }
        if raw.tcb_type != 0 {
            return Err(bad(format!(
                "tcbType {}: only type 0 (component-wise SVN comparison) is defined",
                raw.tcb_type
            )));
        }
        if raw.tcb_levels.is_empty() || raw.tcb_levels.len() > MAX_LEVELS {
            return Err(bad(format!("{} TCB levels", raw.tcb_levels.len())));
        }
        let module = raw.tdx_module.ok_or_else(|| bad("no tdxModule".into()))?;
        let mut levels = Vec::with_capacity(raw.tcb_levels.len());
        for (i, l) in raw.tcb_levels.into_iter().enumerate() {
            let comps = |c: Vec<RawSvn>, what: &str| -> Result<[u8; 16], CollateralError> {
                let v: Vec<u8> = c.into_iter().map(|s| s.svn).collect();
                v.try_into()
                    .map_err(|v: Vec<u8>| bad(format!("tcbLevels[{i}] has {} {what} components, not 16", v.len())))
            };
            levels.push(TcbLevel {
                sgx: comps(l.tcb.sgxtcbcomponents, "SGX")?,
                pce_svn: l.tcb.pcesvn,
                tdx: comps(l.tcb.tdxtcbcomponents, "TDX")?,
                status: l.tcb_status,
                advisory_ids: l.advisory_ids,
            });
        }
        if raw.tdx_module_identities.len() > MAX_LEVELS {
            return Err(bad("too many tdxModuleIdentities".into()));
        }
        let mut module_identities = Vec::new();
        for e in raw.tdx_module_identities {
            if e.tcb_levels.len() > MAX_LEVELS {
                return Err(bad(format!("{}: too many TCB levels", e.id)));
            }
            let mut lv = Vec::new();
            for l in e.tcb_levels {
                let svn = u8::try_from(l.tcb.isvsvn)
                    .map_err(|_| bad(format!("{}: isvsvn {} over 255", e.id, l.tcb.isvsvn)))?;
                lv.push((svn, l.tcb_status, l.advisory_ids));
            }
            module_identities.push(ModuleIdentityEntry {
                identity: module_identity(&e.mrsigner, &e.attributes, &e.attributes_mask, "tdxModuleIdentities")?,
                id: e.id,
                levels: lv,
            });
        }
        Ok(Self {
            issue_date: parse_time("TCB info", "issueDate", &raw.issue_date)?,
            next_update: parse_time("TCB info", "nextUpdate", &raw.next_update)?,
            fmspc: hex_array("TCB info", "fmspc", &raw.fmspc)?,
            pce_id: hex_array("TCB info", "pceId", &raw.pce_id)?,
            evaluation_number: raw.tcb_evaluation_data_number,
            tdx_module: module_identity(&module.mrsigner, &module.attributes, &module.attributes_mask, "tdxModule")?,
            module_identities,
            levels,
        })
    }
}

fn module_identity(
    mrsigner: &str,
    attributes: &str,
    mask: &str,
    what: &'static str,
) -> Result<ModuleIdentity, CollateralError> {
    Ok(ModuleIdentity {
        mrsigner: hex_array("TCB info", what, mrsigner)?,
        attributes: hex_array("TCB info", what, attributes)?,
        attributes_mask: hex_array("TCB info", what, mask)?,
    })
}
