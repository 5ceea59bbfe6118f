//! The vocabulary of NVIDIA's opaque data, shared by the GPU and the NVSwitch readers: which device wrote
//! a report, the numbered TLV types, and the decoders of the simplest values (identifiers, small integers).
//!
//! Trusts: nothing; every decoder bounds its input and says what is wrong with it.

use serde::Serialize;

/// Which device wrote a report: the opaque data of an NVSwitch differs from a GPU's (its types 6 and
/// 22–26 carry other things).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportLayout {
    /// A GPU (Hopper, Blackwell).
    Gpu,
    /// An NVSwitch (LS10).
    Switch,
}

/// Opaque data types, numbered as NVIDIA numbers them (names as in a GPU report; an NVSwitch report
/// reuses 22–25 for its own PDI, disabled ports, position and lock status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)] // the names are NVIDIA's
pub enum OpaqueType {
    CertIssuerName = 1,
    CertAuthorityKeyIdentifier = 2,
    DriverVersion = 3,
    GpuInfo = 4,
    Sku = 5,
    VbiosVersion = 6,
    ManufacturerId = 7,
    TamperDetection = 8,
    Smc = 9,
    Vpr = 10,
    Nvdec0Status = 11,
    Msrscnt = 12,
    Cprinfo = 13,
    BoardId = 14,
    ChipSku = 15,
    ChipSkuMod = 16,
    Project = 17,
    ProjectSku = 18,
    ProjectSkuMod = 19,
    Fwid = 20,
    ProtectedPcieStatus = 21,
    SwitchPdi = 22,
    FloorsweptPorts = 23,
    PositionId = 24,
    LockSwitchStatus = 25,
    /// NVSwitch reports only: the PDIs of the GPUs the switch connects, then its port-to-GPU map.
    SwitchGpuPdis = 26,
    GpuLinkConn = 32,
    SysEnableStatus = 33,
    OpaqueDataVersion = 34,
    ChipInfo = 35,
    FeatureFlag = 36,
}

impl OpaqueType {
    /// The type for a wire id in a report of `layout`, if NVIDIA documents it for that device: a GPU
    /// report knows 1–25 and 32–36, an NVSwitch (LS10) report 1–26.
    pub fn from_id_in(id: u16, layout: ReportLayout) -> Option<Self> {
        match (layout, id) {
            (ReportLayout::Gpu, 26) | (ReportLayout::Switch, 32..) => None,
            (ReportLayout::Switch, 26) => Some(Self::SwitchGpuPdis),
            _ => Self::from_id(id),
        }
    }

    /// The type for a wire id in a GPU report, if NVIDIA documents it.
    pub fn from_id(id: u16) -> Option<Self> {
        use OpaqueType::*;
        Some(match id {
            1 => CertIssuerName,
            2 => CertAuthorityKeyIdentifier,
            3 => DriverVersion,
            4 => GpuInfo,
            5 => Sku,
            6 => VbiosVersion,
            7 => ManufacturerId,
            8 => TamperDetection,
            9 => Smc,
            10 => Vpr,
            11 => Nvdec0Status,
            12 => Msrscnt,
            13 => Cprinfo,
            14 => BoardId,
            15 => ChipSku,
            16 => ChipSkuMod,
            17 => Project,
            18 => ProjectSku,
            19 => ProjectSkuMod,
            20 => Fwid,
            21 => ProtectedPcieStatus,
            22 => SwitchPdi,
            23 => FloorsweptPorts,
            24 => PositionId,
            25 => LockSwitchStatus,
            32 => GpuLinkConn,
            33 => SysEnableStatus,
            34 => OpaqueDataVersion,
            35 => ChipInfo,
            36 => FeatureFlag,
            _ => return None,
        })
    }
}

/// Longest identifier accepted from the report.
const MAX_IDENTIFIER_LEN: usize = 32;

/// An ASCII identifier with trailing NULs (and, for chip SKUs, spaces) removed: alphanumerics plus the
/// characters in `extra`, 1..=32 characters.
pub(super) fn identifier(v: &[u8], extra: &str) -> Result<String, String> {
    let end = v.iter().rposition(|&b| b != 0 && b != b' ').map_or(0, |i| i + 1);
    let s = &v[..end];
    if s.is_empty() || s.len() > MAX_IDENTIFIER_LEN {
        return Err(format!("identifier of {} characters (1..={MAX_IDENTIFIER_LEN} allowed)", s.len()));
    }
    if let Some(&c) = s.iter().find(|&&c| !(c.is_ascii_alphanumeric() || extra.as_bytes().contains(&c))) {
        return Err(format!("byte {c:#04x} is not allowed in an identifier"));
    }
    Ok(String::from_utf8_lossy(s).into_owned())
}

/// A little-endian unsigned integer of 1..=4 bytes.
pub(super) fn le_uint(v: &[u8]) -> Result<u32, String> {
    if v.is_empty() || v.len() > 4 {
        return Err(format!("{} bytes, expected a 1..=4 byte integer", v.len()));
    }
    Ok(v.iter().rev().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}
