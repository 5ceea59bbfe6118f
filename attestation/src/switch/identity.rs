//! Who the switch says it is: its model from the device chain, its PDI from its device certificate (its
//! own word in the report is checked against it), its VBIOS version, position, lock status and the GPUs
//! it connects from the report. Nothing here is trustworthy unless the verdict is affirming.

use serde::Serialize;

use crate::nvidia::spdm::{AttestationReport, Pdi};
use crate::x509::{CertChain, parse_one};

/// The chip family NVIDIA's LS10 device certificates name (`LS_10 A01 FSP BROM`).
pub(super) const LS10: &str = "LS10";

/// Who the switch says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SwitchIdentity {
    /// Common name of chain certificate 1 (NVIDIA's `hwmodel`), e.g. `LS_10 A01 FSP BROM`.
    pub hwmodel: Option<String>,
    /// Chip family, `LS10`.
    pub chip: Option<String>,
    /// Attestation certificate serial, decimal (NVIDIA's `ueid`), once the chain validated.
    pub ueid: Option<String>,
    /// The PDI of the device certificate (authoritative once the chain validated).
    pub pdi: Option<Pdi>,
    /// The PDI the report states.
    pub reported_pdi: Option<Pdi>,
    /// VBIOS version from the report, e.g. `96.10.6D.00.01`.
    pub vbios_version: Option<String>,
    /// Position on the board.
    pub position: Option<u32>,
    /// Lock status as reported.
    pub lock_status: Option<u32>,
    /// PDIs of the GPUs the switch says it connects.
    pub gpu_pdis: Option<Vec<Pdi>>,
    /// Disabled ports mask, hex.
    pub disabled_ports: Option<String>,
}

impl SwitchIdentity {
    /// What the report (when it parsed) and the device chain claim.
    pub(super) fn claimed(report: Option<&AttestationReport>, chain: &CertChain) -> Self {
        let mut identity = Self::default();
        if let Some(s) = report.and_then(|r| r.opaque().switch.as_ref()) {
            identity.reported_pdi = s.device_pdi;
            identity.vbios_version = s.vbios_version.clone();
            identity.position = s.position;
            identity.lock_status = s.lock_status;
            identity.gpu_pdis = s.gpu_pdis.clone();
            identity.disabled_ports = s.disabled_ports.clone();
        }
        identity.hwmodel = device_common_name(chain);
        identity.chip = identity.hwmodel.as_deref().and_then(chip_of);
        identity.pdi = device_pdi(chain);
        identity
    }
}

/// The chip a device certificate's common name names, for NVSwitches: `LS_10 …` is `LS10`.
fn chip_of(cn: &str) -> Option<String> {
    let first = cn.split(' ').next()?;
    (first == "LS_10").then(|| LS10.to_owned())
}

/// Common name of chain certificate 1, the per-device certificate.
fn device_common_name(chain: &CertChain) -> Option<String> {
    let cert = parse_one(chain.ders().get(1)?).ok()?;
    Some(cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned())
}

/// The PDI a device chain's per-device certificate (position 1) carries at the end of its serial number,
/// for a GPU or a switch. Read without validating the chain: authoritative only once it has validated.
pub fn device_pdi(chain: &CertChain) -> Option<Pdi> {
    let cert = parse_one(chain.ders().get(1)?).ok()?;
    Pdi::from_certificate_serial(cert.raw_serial())
}
