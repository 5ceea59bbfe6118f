//! RIM identifiers implied by a report, and the file names a RIM directory may use for them.
//!
//! NVIDIA's RIM service names RIMs `NV_GPU_DRIVER_GH100_<driver>` (Hopper),
//! `NV_GPU_CC_DRIVER_<chip>_<driver>` (Blackwell and later) and
//! `NV_GPU_VBIOS_<project>_<project SKU>_<chip SKU>_<VBIOS>`. Every component comes from the report's
//! opaque data, which the SPDM parser already restricted to identifier characters, so an id is always a
//! single safe file-name component.

use serde::Serialize;

use crate::nvidia::arch::GpuArch;
use crate::nvidia::spdm::OpaqueData;

/// The driver and VBIOS RIM ids a report implies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RimIds {
    /// Driver RIM id.
    pub driver: Option<String>,
    /// VBIOS RIM id.
    pub vbios: Option<String>,
}

impl RimIds {
    /// Ids from the report's opaque data; `chip` is the chip family from the device chain (e.g. `GH100`).
    pub fn from_report(opaque: &OpaqueData, chip: &str, arch: GpuArch) -> Self {
        let driver = opaque.driver_version.as_ref().map(|ver| match arch {
            GpuArch::Hopper => format!("NV_GPU_DRIVER_{chip}_{ver}"),
            GpuArch::Blackwell => format!("NV_GPU_CC_DRIVER_{}_{ver}", opaque.chip_info.as_deref().unwrap_or(chip)),
        });
        let vbios = match (&opaque.project, &opaque.project_sku, &opaque.chip_sku, &opaque.vbios_version) {
            (Some(p), Some(ps), Some(cs), Some(v)) => Some(format!("NV_GPU_VBIOS_{p}_{ps}_{cs}_{}", v.rim_id_form())),
            _ => None,
        };
        Self { driver, vbios }
    }
}

/// File names under which a RIM with `id` may be stored.
pub fn rim_file_candidates(id: &str) -> [String; 3] {
    [id.to_owned(), format!("{id}.xml"), format!("{id}.swidtag")]
}
