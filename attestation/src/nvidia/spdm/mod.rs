//! NVIDIA GPU and NVSwitch attestation reports: an SPDM 1.1 `GET_MEASUREMENTS` request followed by the GPU's signed
//! `MEASUREMENTS` response, parsed into types.
//!
//! Trusts nothing: the bytes come from the GPU through an untrusted host. Parsing checks every length,
//! every fixed field and every reserved value, rejects trailing bytes, and never interprets the content
//! as trustworthy — that takes the signature check in [`AttestationReport::verify_signature`] with a key
//! from a validated certificate chain. The signature is checked over the bytes exactly as received.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! report   = request(37) ‖ response
//! request  = version 0x11 ‖ code 0xE0 ‖ param1 (bit0: signature) ‖ param2 0xFF (all blocks) ‖ nonce(32) ‖ slot
//! response = version ‖ code 0x60 ‖ param1 ‖ param2 (slot) ‖ block count ‖ record length (u24) ‖ record
//!            ‖ responder nonce(32) ‖ opaque length (u16) ‖ opaque TLVs ‖ signature(96, r‖s)
//! ```

mod opaque;
mod opaque_type;
mod request;
mod response;
mod switch;

use thiserror::Error;

pub use opaque::{FeatureFlag, Nvdec0Status, OpaqueData, OpaqueEntry, VbiosVersion};
pub use opaque_type::{OpaqueType, ReportLayout};
pub use request::{GetMeasurementsRequest, REQUEST_LEN};
pub use response::{MeasurementBlock, MeasurementsResponse, SIGNATURE_LEN};
pub use switch::{Pdi, SWITCH_GPU_PDIS, SwitchOpaque};

use crate::crypto::{EcPublicKey, SignatureError};
use crate::reader::Truncated;

/// Largest report we accept; real ones are ~4.1 KB. Bounds work on attacker-sized input.
pub const MAX_REPORT_LEN: usize = 64 * 1024;

/// Why a report could not be parsed. Every variant names the field and the absolute byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpdmError {
    /// A field runs past the end of the report.
    #[error("report truncated: {0}")]
    Truncated(#[from] Truncated),
    /// A fixed field holds an unexpected value.
    #[error("{field} at byte {offset}: expected {expected}, found {found}")]
    Field {
        /// Field name.
        field: &'static str,
        /// Absolute offset of the field.
        offset: usize,
        /// What the format requires.
        expected: String,
        /// What the report holds.
        found: String,
    },
    /// Measurement block indexes must run 1, 2, 3, … without gaps or repeats.
    #[error(
        "measurement block {position} at byte {offset} has index {found}, expected {expected} (indexes must be contiguous from 1)"
    )]
    NonContiguousBlock {
        /// 0-based position of the block in the record.
        position: usize,
        /// Absolute offset of the block.
        offset: usize,
        /// Index the position requires.
        expected: usize,
        /// Index found.
        found: u8,
    },
    /// A block's MeasurementSize disagrees with its DMTF value size.
    #[error(
        "measurement block {index} at byte {offset}: MeasurementSize {measurement_size} != 3 + value size {value_size}"
    )]
    BlockSizeMismatch {
        /// Block index.
        index: u8,
        /// Absolute offset of the block.
        offset: usize,
        /// MeasurementSize field.
        measurement_size: u16,
        /// DMTFSpecMeasurementValueSize field.
        value_size: u16,
    },
    /// The blocks do not fill the declared record length exactly.
    #[error("measurement record at byte {offset}: declared {declared} bytes for {blocks} blocks, blocks use {used}")]
    RecordLengthMismatch {
        /// Absolute offset of the record.
        offset: usize,
        /// MeasurementRecordLength.
        declared: usize,
        /// NumberOfBlocks.
        blocks: usize,
        /// Bytes the blocks occupy.
        used: usize,
    },
    /// Bytes after the signature.
    #[error("{count} trailing bytes after the signature at byte {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// Number of extra bytes.
        count: usize,
    },
    /// The report exceeds `MAX_REPORT_LEN` (64 KiB).
    #[error("report is {0} bytes, more than the {MAX_REPORT_LEN}-byte limit")]
    TooLarge(usize),
    /// Opaque data TLV of a type NVIDIA does not document.
    #[error("opaque data TLV at byte {offset} has unknown type {data_type}")]
    UnknownOpaqueType {
        /// The type id.
        data_type: u16,
        /// Absolute offset of the TLV.
        offset: usize,
    },
    /// The same opaque type appears twice.
    #[error("opaque data TLV at byte {offset}: type {data_type:?} appears twice")]
    DuplicateOpaqueType {
        /// The repeated type.
        data_type: OpaqueType,
        /// Absolute offset of the second occurrence.
        offset: usize,
    },
    /// An opaque value that does not have its type's format.
    #[error("opaque data {data_type:?} at byte {offset}: {reason}")]
    OpaqueValue {
        /// The type.
        data_type: OpaqueType,
        /// Absolute offset of the value.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) fn field_err(
    field: &'static str,
    offset: usize,
    expected: impl ToString,
    found: impl ToString,
) -> SpdmError {
    SpdmError::Field { field, offset, expected: expected.to_string(), found: found.to_string() }
}

/// A parsed attestation report. Holds the bytes as received so the signature is checked over exactly them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    raw: Vec<u8>,
    request: GetMeasurementsRequest,
    response: MeasurementsResponse,
}

impl AttestationReport {
    /// Parses a GPU report (request ‖ response). Rejects anything that is not exactly one well-formed
    /// report.
    pub fn parse(bytes: &[u8]) -> Result<Self, SpdmError> {
        Self::parse_as(bytes, ReportLayout::Gpu)
    }

    /// Parses an NVSwitch (LS10) report: the same SPDM framing, the switch's opaque layout
    /// ([`SwitchOpaque`] in [`OpaqueData::switch`]).
    pub fn parse_switch(bytes: &[u8]) -> Result<Self, SpdmError> {
        Self::parse_as(bytes, ReportLayout::Switch)
    }

    /// Parses a report of the given device's layout.
    pub fn parse_as(bytes: &[u8], layout: ReportLayout) -> Result<Self, SpdmError> {
        if bytes.len() > MAX_REPORT_LEN {
            return Err(SpdmError::TooLarge(bytes.len()));
        }
        let request = GetMeasurementsRequest::parse(bytes)?;
        let response = MeasurementsResponse::parse(&bytes[REQUEST_LEN..], REQUEST_LEN, &request, layout)?;
        Ok(Self { raw: bytes.to_vec(), request, response })
    }

    /// The report exactly as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The signed bytes: everything before the 96-byte signature.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.raw[..self.raw.len() - SIGNATURE_LEN]
    }

    /// The GET_MEASUREMENTS request (carries the verifier's nonce).
    pub fn request(&self) -> &GetMeasurementsRequest {
        &self.request
    }

    /// The MEASUREMENTS response.
    pub fn response(&self) -> &MeasurementsResponse {
        &self.response
    }

    /// The opaque data of the response.
    pub fn opaque(&self) -> &OpaqueData {
        &self.response.opaque
    }

    /// Runtime measurement for golden index `i` (the block with SPDM index `i + 1`).
    pub fn measurement(&self, golden_index: usize) -> Option<&[u8]> {
        self.response.blocks.get(golden_index).map(|b| b.value.as_slice())
    }

    /// Checks the ECDSA P-384/SHA-384 `r‖s` signature over [`Self::signed_bytes`] with `key` (the key
    /// of the attestation certificate, chain position 0).
    pub fn verify_signature(&self, key: &EcPublicKey) -> Result<(), SignatureError> {
        key.verify_p384_fixed(self.signed_bytes(), &self.response.signature)
    }
}

#[cfg(test)]
mod switch_tests;
#[cfg(test)]
mod tests;
