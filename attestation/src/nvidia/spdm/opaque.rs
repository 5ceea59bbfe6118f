//! NVIDIA's opaque data: the TLVs after the measurement record that name the driver, the VBIOS, the chip
//! and the firmware identity. Every type NVIDIA documents (1–25, 32–36) is understood; anything else is
//! rejected, as is a repeated type.
//!
//! Values that later become parts of RIM identifiers (driver version, project, SKU, chip) are restricted to
//! identifier characters here, so nothing from the report can turn into a path component like `../`.

use std::fmt;

use serde::Serialize;

use super::SpdmError;
use super::opaque_type::{OpaqueType, ReportLayout, identifier, le_uint};
use super::switch::{Pdi, SwitchOpaque};
use crate::reader::Reader;

/// NVDEC0 engine status. When disabled, golden index 35 is not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nvdec0Status {
    /// 0xAA
    Enabled,
    /// 0x55
    Disabled,
}

/// Multi-GPU topology mode (Blackwell and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FeatureFlag {
    /// Single GPU passthrough (0).
    #[serde(rename = "SPT")]
    SinglePassthrough,
    /// Multi-GPU passthrough (1).
    #[serde(rename = "MPT")]
    MultiPassthrough,
    /// Protected PCIe (2).
    #[serde(rename = "PPCIE")]
    ProtectedPcie,
}

/// The 8-byte VBIOS version as the GPU reports it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VbiosVersion(pub [u8; 8]);

impl VbiosVersion {
    /// The five version bytes in display order (NVIDIA: bytes 3, 2, 1, 0, then 4).
    fn parts(&self) -> [u8; 5] {
        let b = self.0;
        [b[3], b[2], b[1], b[0], b[4]]
    }

    /// Upper-case, undotted form used in VBIOS RIM ids, e.g. `96009F0001`.
    pub fn rim_id_form(&self) -> String {
        self.parts().iter().map(|b| format!("{b:02X}")).collect()
    }

    /// Upper-case dotted form, e.g. `96.00.9F.00.01` (as in RIMs and NVIDIA's claims).
    pub fn dotted_upper(&self) -> String {
        self.parts().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(".")
    }
}

impl fmt::Display for VbiosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted_upper())
    }
}

impl fmt::Debug for VbiosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VbiosVersion({self})")
    }
}

/// One TLV as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueEntry {
    /// Its type.
    pub data_type: OpaqueType,
    /// Its value bytes.
    pub value: Vec<u8>,
}

/// The parsed opaque data: every TLV in order, and the typed values the verifier uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpaqueData {
    /// Every TLV, in the order received.
    pub entries: Vec<OpaqueEntry>,
    /// Driver version (type 3), e.g. `550.90.07`.
    pub driver_version: Option<String>,
    /// VBIOS version (type 6).
    pub vbios_version: Option<VbiosVersion>,
    /// NVDEC0 status (type 11).
    pub nvdec0_status: Option<Nvdec0Status>,
    /// Measurement counters (type 12).
    pub msrscnt: Option<Vec<u32>>,
    /// Chip SKU (type 15), upper-case, e.g. `882`.
    pub chip_sku: Option<String>,
    /// Project (type 17), e.g. `1010`.
    pub project: Option<String>,
    /// Project SKU (type 18), e.g. `0200`.
    pub project_sku: Option<String>,
    /// Firmware identity (type 20): must equal the FWID in the attestation certificate.
    pub fwid: Option<[u8; 48]>,
    /// Protected-PCIe status byte (type 21).
    pub protected_pcie_status: Option<u8>,
    /// NVSwitch PDIs (type 22).
    pub switch_pdis: Option<Vec<[u8; 8]>>,
    /// Opaque data layout version (type 34; newer drivers).
    pub opaque_version: Option<u32>,
    /// Chip name (type 35; Blackwell and later), e.g. `GB100`.
    pub chip_info: Option<String>,
    /// Topology mode (type 36).
    pub feature_flag: Option<FeatureFlag>,
    /// What only an NVSwitch report carries (types 6 and 22–26 in its layout); `None` in a GPU report.
    pub switch: Option<SwitchOpaque>,
}

impl OpaqueData {
    /// The switch PDIs a GPU report names (type 22), in the byte order the switches and certificates use
    /// (the GPU writes each little-endian), all-zero entries (links not in use) left out, duplicates kept.
    pub fn connected_switch_pdis(&self) -> Option<Vec<Pdi>> {
        let list = self.switch_pdis.as_ref()?;
        Some(list.iter().map(|b| Pdi::from_le(*b)).filter(|p| !p.is_zero()).collect())
    }

    /// Parses the opaque data that starts at absolute offset `base`, as `layout` lays it out.
    pub(super) fn parse(bytes: &[u8], base: usize, layout: ReportLayout) -> Result<Self, SpdmError> {
        let mut out = Self::default();
        if layout == ReportLayout::Switch {
            out.switch = Some(SwitchOpaque::default());
        }
        let mut seen: u64 = 0;
        let mut r = Reader::new(bytes, base);
        while r.remaining() > 0 {
            let at = r.offset();
            let id = r.u16le("opaque DataType")?;
            let len = usize::from(r.u16le("opaque DataSize")?);
            let value_at = r.offset();
            let value = r.take("opaque Data", len)?;
            let data_type =
                OpaqueType::from_id_in(id, layout).ok_or(SpdmError::UnknownOpaqueType { data_type: id, offset: at })?;
            let bit = 1u64 << (data_type as u16);
            if seen & bit != 0 {
                return Err(SpdmError::DuplicateOpaqueType { data_type, offset: at });
            }
            seen |= bit;
            out.interpret(data_type, value, value_at)?;
            out.entries.push(OpaqueEntry { data_type, value: value.to_vec() });
        }
        Ok(out)
    }

    fn interpret(&mut self, t: OpaqueType, v: &[u8], at: usize) -> Result<(), SpdmError> {
        if let Some(switch) = self.switch.as_mut()
            && switch.interpret(t, v, at)?
        {
            return Ok(());
        }
        let bad = |reason: String| SpdmError::OpaqueValue { data_type: t, offset: at, reason };
        match t {
            OpaqueType::DriverVersion => self.driver_version = Some(driver_version(v).map_err(bad)?),
            OpaqueType::VbiosVersion => {
                let bytes: [u8; 8] = v.try_into().map_err(|_| bad(format!("{} bytes, expected 8", v.len())))?;
                self.vbios_version = Some(VbiosVersion(bytes));
            }
            OpaqueType::Nvdec0Status => {
                self.nvdec0_status = Some(match v {
                    [0xAA] => Nvdec0Status::Enabled,
                    [0x55] => Nvdec0Status::Disabled,
                    _ => return Err(bad(format!("expected one byte 0xaa or 0x55, found {}", hex::encode(v)))),
                });
            }
            OpaqueType::Msrscnt => {
                if !v.len().is_multiple_of(4) {
                    return Err(bad(format!("{} bytes is not a whole number of 32-bit counters", v.len())));
                }
                self.msrscnt = Some(v.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
            }
            OpaqueType::ChipSku => self.chip_sku = Some(identifier(v, "").map_err(bad)?.to_ascii_uppercase()),
            OpaqueType::Project => self.project = Some(identifier(v, "").map_err(bad)?),
            OpaqueType::ProjectSku => self.project_sku = Some(identifier(v, "").map_err(bad)?),
            OpaqueType::Fwid => {
                let fwid: [u8; 48] = v.try_into().map_err(|_| bad(format!("{} bytes, expected 48", v.len())))?;
                self.fwid = Some(fwid);
            }
            OpaqueType::ProtectedPcieStatus => {
                let [b] = v else { return Err(bad(format!("{} bytes, expected 1", v.len()))) };
                self.protected_pcie_status = Some(*b);
            }
            OpaqueType::SwitchPdi => {
                if !v.len().is_multiple_of(8) {
                    return Err(bad(format!("{} bytes is not a whole number of 8-byte PDIs", v.len())));
                }
                self.switch_pdis = Some(
                    v.chunks_exact(8)
                        .map(|c| {
                            let mut pdi = [0u8; 8];
                            pdi.copy_from_slice(c);
                            pdi
                        })
                        .collect(),
                );
            }
            OpaqueType::OpaqueDataVersion => self.opaque_version = Some(le_uint(v).map_err(bad)?),
            OpaqueType::ChipInfo => self.chip_info = Some(identifier(v, "_-").map_err(bad)?.to_ascii_uppercase()),
            OpaqueType::FeatureFlag => {
                self.feature_flag = Some(match le_uint(v).map_err(bad)? {
                    0 => FeatureFlag::SinglePassthrough,
                    1 => FeatureFlag::MultiPassthrough,
                    2 => FeatureFlag::ProtectedPcie,
                    n => return Err(bad(format!("unknown feature flag {n}"))),
                });
            }
            // Carried as received: reported, never interpreted.
            OpaqueType::CertIssuerName
            | OpaqueType::CertAuthorityKeyIdentifier
            | OpaqueType::GpuInfo
            | OpaqueType::Sku
            | OpaqueType::ManufacturerId
            | OpaqueType::TamperDetection
            | OpaqueType::Smc
            | OpaqueType::Vpr
            | OpaqueType::Cprinfo
            | OpaqueType::BoardId
            | OpaqueType::ChipSkuMod
            | OpaqueType::ProjectSkuMod
            | OpaqueType::FloorsweptPorts
            | OpaqueType::PositionId
            | OpaqueType::LockSwitchStatus
            | OpaqueType::SwitchGpuPdis
            | OpaqueType::GpuLinkConn
            | OpaqueType::SysEnableStatus => {}
        }
        Ok(())
    }
}

/// A driver version: an identifier made of dot-separated, non-empty components of alphanumerics, `-` and
/// `_` (e.g. `550.90.07`). No empty component, so no `..` and no leading or trailing dot.
fn driver_version(v: &[u8]) -> Result<String, String> {
    let s = identifier(v, ".-_")?;
    if s.split('.').any(str::is_empty) {
        return Err(format!("driver version {s:?} has an empty dot-separated component"));
    }
    Ok(s)
}
