//! Intel's QE identity for TDX (`id` "TD_QE", version 2 JSON), as signed by the TCB Signing certificate:
//! which quoting enclave may sign TD quotes (MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES under masks)
//! and the status of each of its ISVSVNs.
//!
//! Trusts: nothing by itself; it means something only once its signature verified.

use serde::Deserialize;
use time::OffsetDateTime;

use super::collateral::{CollateralError, hex_array, parse_time};
use super::tcb_info::RawIsvSvn;
use super::tcb_status::TcbStatus;

/// A TD_QE identity, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeIdentity {
    /// `issueDate`.
    pub issue_date: OffsetDateTime,
    /// `nextUpdate`.
    pub next_update: OffsetDateTime,
    /// `miscselect` (little-endian as in the report).
    pub misc_select: u32,
    /// `miscselectMask`.
    pub misc_select_mask: u32,
    /// `attributes`.
    pub attributes: [u8; 16],
    /// `attributesMask`.
    pub attributes_mask: [u8; 16],
    /// `mrsigner`.
    pub mr_signer: [u8; 32],
    /// `isvprodid`.
    pub isv_prod_id: u16,
    /// (`isvsvn`, status, advisories), highest first.
    pub levels: Vec<(u16, TcbStatus, Vec<String>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<RawLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLevel {
    tcb: RawIsvSvn,
    tcb_status: TcbStatus,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

impl QeIdentity {
    /// Parses the signed `enclaveIdentity` JSON; refuses anything but a TD_QE identity version 2.
    pub fn parse(json: &str) -> Result<Self, CollateralError> {
        let bad = |m: String| CollateralError::Field { document: "QE identity", reason: m };
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| CollateralError::Json { document: "QE identity", reason: e.to_string() })?;
        if raw.id != "TD_QE" || raw.version != 2 {
            return Err(bad(format!(
                "id {:?} version {}: only TD_QE identity version 2 is accepted",
                raw.id, raw.version
            )));
        }
        if raw.tcb_levels.is_empty() || raw.tcb_levels.len() > 256 {
            return Err(bad(format!("{} TCB levels", raw.tcb_levels.len())));
        }
        let misc: [u8; 4] = hex_array("QE identity", "miscselect", &raw.miscselect)?;
        let misc_mask: [u8; 4] = hex_array("QE identity", "miscselectMask", &raw.miscselect_mask)?;
        Ok(Self {
            issue_date: parse_time("QE identity", "issueDate", &raw.issue_date)?,
            next_update: parse_time("QE identity", "nextUpdate", &raw.next_update)?,
            misc_select: u32::from_le_bytes(misc),
            misc_select_mask: u32::from_le_bytes(misc_mask),
            attributes: hex_array("QE identity", "attributes", &raw.attributes)?,
            attributes_mask: hex_array("QE identity", "attributesMask", &raw.attributes_mask)?,
            mr_signer: hex_array("QE identity", "mrsigner", &raw.mrsigner)?,
            isv_prod_id: raw.isvprodid,
            levels: raw.tcb_levels.into_iter().map(|l| (l.tcb.isvsvn, l.tcb_status, l.advisory_ids)).collect(),
        })
    }
}
