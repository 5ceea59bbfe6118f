//! Who the GPU says it is: its versions, board and FWID from the report, its model and architecture from
//! the device chain, its UEID from the validated attestation certificate. Nothing here is trustworthy
//! unless the verdict is affirming.

use serde::Serialize;

use crate::nvidia::arch::{GpuArch, chip_from_common_name};
use crate::nvidia::spdm::{AttestationReport, Nvdec0Status};
use crate::x509::{CertChain, parse_one};

/// Who the GPU says it is (from the report and chain; trustworthy only if the verdict is affirming).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GpuIdentity {
    /// Architecture.
    pub arch: Option<GpuArch>,
    /// Common name of chain certificate 1 (NVIDIA's `hwmodel`), e.g. `GH100 A01 GSP BROM`.
    pub hwmodel: Option<String>,
    /// Chip family, e.g. `GH100`.
    pub chip: Option<String>,
    /// Attestation certificate serial, decimal (NVIDIA's `ueid`).
    pub ueid: Option<String>,
    /// Driver version from the report.
    pub driver_version: Option<String>,
    /// VBIOS version from the report, dotted upper case.
    pub vbios_version: Option<String>,
    /// Project / project SKU / chip SKU from the report.
    pub board: Option<String>,
    /// FWID from the report, hex.
    pub fwid: Option<String>,
    /// NVDEC0 status.
    pub nvdec0: Option<Nvdec0Status>,
}

impl GpuIdentity {
    /// What the report (when it parsed) and the device chain claim; the UEID is set once the chain
    /// validated.
    pub(super) fn claimed(report: Option<&AttestationReport>, chain: &CertChain) -> Self {
        let mut identity = Self::default();
        if let Some(r) = report {
            let o = r.opaque();
            identity.driver_version = o.driver_version.clone();
            identity.vbios_version = o.vbios_version.map(|v| v.dotted_upper());
            identity.board = match (&o.project, &o.project_sku, &o.chip_sku) {
                (Some(p), Some(ps), Some(cs)) => Some(format!("{p}/{ps}/{cs}")),
                _ => None,
            };
            identity.fwid = o.fwid.map(hex::encode);
            identity.nvdec0 = o.nvdec0_status;
        }
        identity.hwmodel = chain_hwmodel(chain);
        identity.chip = chain_chip(chain);
        identity.arch = identity.chip.as_deref().and_then(GpuArch::from_chip);
        identity
    }
}

/// Common name of chain certificate 1, the per-device certificate.
fn chain_hwmodel(chain: &CertChain) -> Option<String> {
    let der = chain.ders().get(1)?;
    let cert = parse_one(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(cn)
}

/// The chip family the device certificate names.
pub(super) fn chain_chip(chain: &CertChain) -> Option<String> {
    chip_from_common_name(&chain_hwmodel(chain)?).map(str::to_owned)
}
