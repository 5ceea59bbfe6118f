//! The SPDM 1.1 GET_MEASUREMENTS request that opens every NVIDIA report: it carries the verifier's nonce.

use super::{SpdmError, field_err};
use crate::reader::Reader;

/// Length of the request: version, code, param1, param2, nonce(32), slot.
pub const REQUEST_LEN: usize = 37;

const SPDM_VERSION_1_1: u8 = 0x11;
const GET_MEASUREMENTS: u8 = 0xE0;
const SIGNATURE_REQUESTED: u8 = 0x01;
const ALL_BLOCKS: u8 = 0xFF;
const MAX_SLOT: u8 = 7;

/// The request as the GPU recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMeasurementsRequest {
    /// SPDM version byte (0x11).
    pub version: u8,
    /// Param1 (bit 0: signature requested; always set in a report we accept).
    pub param1: u8,
    /// Param2 (0xFF: all measurement blocks).
    pub param2: u8,
    /// The requester's nonce: the verifier's freshness nonce.
    pub nonce: [u8; 32],
    /// Certificate slot the response is signed with.
    pub slot: u8,
}

impl GetMeasurementsRequest {
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, SpdmError> {
        let mut r = Reader::new(bytes, 0);
        let version = r.u8("request SPDMVersion")?;
        if version != SPDM_VERSION_1_1 {
            return Err(field_err("request SPDMVersion", 0, "0x11", format!("{version:#04x}")));
        }
        let code = r.u8("request RequestResponseCode")?;
        if code != GET_MEASUREMENTS {
            return Err(field_err("request RequestResponseCode", 1, "0xe0 (GET_MEASUREMENTS)", format!("{code:#04x}")));
        }
        let param1 = r.u8("request Param1")?;
        if param1 != SIGNATURE_REQUESTED {
            return Err(field_err("request Param1", 2, "0x01 (signature requested)", format!("{param1:#04x}")));
        }
        let param2 = r.u8("request Param2")?;
        if param2 != ALL_BLOCKS {
            return Err(field_err("request Param2", 3, "0xff (all measurement blocks)", format!("{param2:#04x}")));
        }
        let nonce = r.array::<32>("request Nonce")?;
        let slot = r.u8("request SlotIDParam")?;
        if slot > MAX_SLOT {
            return Err(field_err("request SlotIDParam", 36, "0..=7", slot));
        }
        Ok(Self { version, param1, param2, nonce, slot })
    }
}
