//! The SPDM 1.1 MEASUREMENTS response: measurement blocks, responder nonce, opaque data, signature.

use super::opaque::OpaqueData;
use super::opaque_type::ReportLayout;
use super::request::GetMeasurementsRequest;
use super::{SpdmError, field_err};
use crate::reader::Reader;

/// Length of the raw ECDSA P-384 `r‖s` signature that ends the response.
pub const SIGNATURE_LEN: usize = 96;

const MEASUREMENTS: u8 = 0x60;
const DMTF_MEASUREMENT_SPEC: u8 = 0x01;
/// Bytes of the DMTF header inside MeasurementSize: value type, value size(2).
const DMTF_HEADER_LEN: u16 = 3;

/// One measurement block (DMTF format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementBlock {
    /// SPDM index, 1-based and contiguous.
    pub index: u8,
    /// DMTFSpecMeasurementValueType (bit 7: raw bit stream rather than digest).
    pub value_type: u8,
    /// The measurement (a SHA-384 digest on every NVIDIA GPU seen).
    pub value: Vec<u8>,
}

/// The MEASUREMENTS response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementsResponse {
    /// SPDM version byte (equal to the request's).
    pub version: u8,
    /// Measurement blocks, in index order 1..=N.
    pub blocks: Vec<MeasurementBlock>,
    /// The responder's nonce (the GPU's own randomness; not checked against anything).
    pub responder_nonce: [u8; 32],
    /// NVIDIA's opaque data.
    pub opaque: OpaqueData,
    /// Raw `r‖s` signature.
    pub signature: [u8; SIGNATURE_LEN],
}

impl MeasurementsResponse {
    /// Parses the response that starts at absolute offset `base` of the report.
    pub(super) fn parse(
        bytes: &[u8],
        base: usize,
        request: &GetMeasurementsRequest,
        layout: ReportLayout,
    ) -> Result<Self, SpdmError> {
        let mut r = Reader::new(bytes, base);
        let version = r.u8("response SPDMVersion")?;
        if version != request.version {
            return Err(field_err(
                "response SPDMVersion",
                base,
                format!("{:#04x} (as requested)", request.version),
                format!("{version:#04x}"),
            ));
        }
        let code = r.u8("response RequestResponseCode")?;
        if code != MEASUREMENTS {
            return Err(field_err(
                "response RequestResponseCode",
                base + 1,
                "0x60 (MEASUREMENTS)",
                format!("{code:#04x}"),
            ));
        }
        let param1 = r.u8("response Param1")?;
        if param1 != 0 {
            return Err(field_err(
                "response Param1",
                base + 2,
                "0x00 (reserved when all blocks are requested)",
                format!("{param1:#04x}"),
            ));
        }
        let param2 = r.u8("response Param2")?;
        if param2 != request.slot {
            return Err(field_err(
                "response Param2",
                base + 3,
                format!("{:#04x} (the requested slot)", request.slot),
                format!("{param2:#04x}"),
            ));
        }
        let count_at = r.offset();
        let count = usize::from(r.u8("response NumberOfBlocks")?);
        if count == 0 {
            return Err(field_err("response NumberOfBlocks", count_at, "at least 1", 0));
        }
        let record_len = r.u24le("response MeasurementRecordLength")? as usize;
        let record_at = r.offset();
        let record = r.take("response MeasurementRecord", record_len)?;
        let blocks = parse_blocks(record, record_at, count)?;
        let responder_nonce = r.array::<32>("response Nonce")?;
        let opaque_len = usize::from(r.u16le("response OpaqueLength")?);
        let opaque_at = r.offset();
        let opaque = OpaqueData::parse(r.take("response OpaqueData", opaque_len)?, opaque_at, layout)?;
        let signature = r.array::<SIGNATURE_LEN>("response Signature")?;
        if r.remaining() != 0 {
            return Err(SpdmError::TrailingBytes { offset: r.offset(), count: r.remaining() });
        }
        Ok(Self { version, blocks, responder_nonce, opaque, signature })
    }
}

fn parse_blocks(record: &[u8], base: usize, count: usize) -> Result<Vec<MeasurementBlock>, SpdmError> {
    let mut r = Reader::new(record, base);
    let mut blocks = Vec::with_capacity(count);
    for position in 0..count {
        let offset = r.offset();
        let index = r.u8("measurement block Index")?;
        if usize::from(index) != position + 1 {
            return Err(SpdmError::NonContiguousBlock { position, offset, expected: position + 1, found: index });
        }
        let spec = r.u8("measurement block MeasurementSpecification")?;
        if spec != DMTF_MEASUREMENT_SPEC {
            return Err(field_err(
                "measurement block MeasurementSpecification",
                offset + 1,
                "0x01 (DMTF)",
                format!("{spec:#04x}"),
            ));
        }
        let measurement_size = r.u16le("measurement block MeasurementSize")?;
        let value_type = r.u8("measurement block DMTFSpecMeasurementValueType")?;
        let value_size = r.u16le("measurement block DMTFSpecMeasurementValueSize")?;
        if measurement_size != value_size.saturating_add(DMTF_HEADER_LEN) || value_size > u16::MAX - DMTF_HEADER_LEN {
            return Err(SpdmError::BlockSizeMismatch { index, offset, measurement_size, value_size });
        }
        let value = r.take("measurement block DMTFSpecMeasurementValue", usize::from(value_size))?.to_vec();
        blocks.push(MeasurementBlock { index, value_type, value });
    }
    if r.remaining() != 0 {
        let used = record.len() - r.remaining();
        return Err(SpdmError::RecordLengthMismatch { offset: base, declared: record.len(), blocks: count, used });
    }
    Ok(blocks)
}
