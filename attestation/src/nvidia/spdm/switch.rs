//! What an NVSwitch (LS10) report's opaque data carries where a GPU's carries other things: its VBIOS
//! version as text (type 6), its own PDI (22), its disabled ports (23), its position on the board (24),
//! its lock status (25), and the PDIs of the GPUs it connects with its port-to-GPU map (26).
//!
//! A PDI (platform device identifier) is the 8-byte identity NVIDIA gives each GPU and switch. The same
//! 8 bytes end the serial number of the device's own certificate (chain position 1), so once that chain
//! validates the PDI is NVIDIA's word, not the device's. A switch writes PDIs — its own and its GPUs' — in
//! that order; a GPU writes its switches' PDIs little-endian ([`Pdi::from_le`]).
//!
//! Trusts nothing: lengths and values are checked here, meaning is given by the appraisal.

use std::fmt;

use serde::{Serialize, Serializer};

use super::SpdmError;
use super::opaque_type::{OpaqueType, identifier, le_uint};

/// How many GPU PDIs an LS10 report lists (one HGX board's eight GPUs).
pub const SWITCH_GPU_PDIS: usize = 8;
/// Ports of an LS10 switch: the length of the port-to-GPU map after the PDIs.
const LS10_PORTS: usize = 64;
/// A port map entry for a port that leads to no GPU.
const NO_GPU: u8 = 0xff;

/// An 8-byte platform device identifier, in the byte order of the device certificate's serial number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pdi(pub [u8; 8]);

impl Pdi {
    /// A PDI written little-endian (as a GPU lists its switches).
    pub fn from_le(bytes: [u8; 8]) -> Self {
        let mut b = bytes;
        b.reverse();
        Self(b)
    }

    /// The PDI a device certificate's serial number ends with: NVIDIA's per-device certificates (chain
    /// position 1) have a 9-byte serial, one class byte (0x41 on GH100, 0x50 on LS10) and the PDI.
    pub fn from_certificate_serial(serial: &[u8]) -> Option<Self> {
        match serial {
            [_, rest @ ..] if rest.len() == 8 => rest.try_into().ok().map(Self),
            _ => None,
        }
    }

    /// All zero: an unused link.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// Lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Pdi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Pdi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pdi({})", self.hex())
    }
}

impl Serialize for Pdi {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

/// The switch-only opaque values, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SwitchOpaque {
    /// VBIOS version (type 6), as the switch writes it, e.g. `96.10.6D.00.01`.
    pub vbios_version: Option<String>,
    /// The switch's own PDI (type 22).
    pub device_pdi: Option<Pdi>,
    /// Disabled (floorswept) port groups (type 23), as received, hex.
    pub disabled_ports: Option<String>,
    /// Position of the switch on the board (type 24).
    pub position: Option<u32>,
    /// Lock status (type 25), as received (recorded; NVIDIA's verifiers do not judge it).
    pub lock_status: Option<u32>,
    /// PDIs of the GPUs the switch connects (type 26), in the order listed.
    pub gpu_pdis: Option<Vec<Pdi>>,
    /// Port-to-GPU map (type 26, after the PDIs): per port, the index into `gpu_pdis`, or 0xff for none.
    pub ports: Option<Vec<u8>>,
}

impl SwitchOpaque {
    /// Interprets `t` if a switch report gives it its own meaning; `Ok(false)` leaves it to the shared
    /// reading.
    pub(super) fn interpret(&mut self, t: OpaqueType, v: &[u8], at: usize) -> Result<bool, SpdmError> {
        let bad = |reason: String| SpdmError::OpaqueValue { data_type: t, offset: at, reason };
        match t {
            OpaqueType::VbiosVersion => {
                let s = identifier(v, ".").map_err(bad)?;
                if s.split('.').any(str::is_empty) {
                    return Err(bad(format!("VBIOS version {s:?} has an empty dot-separated component")));
                }
                self.vbios_version = Some(s.to_ascii_uppercase());
            }
            OpaqueType::SwitchPdi => {
                let b: [u8; 8] = v.try_into().map_err(|_| bad(format!("{} bytes, expected an 8-byte PDI", v.len())))?;
                self.device_pdi = Some(Pdi(b));
            }
            OpaqueType::FloorsweptPorts => {
                if v.is_empty() || v.len() > 8 {
                    return Err(bad(format!("{} bytes, expected a 1..=8 byte port mask", v.len())));
                }
                self.disabled_ports = Some(hex::encode(v));
            }
            OpaqueType::PositionId => self.position = Some(le_uint(v).map_err(bad)?),
            OpaqueType::LockSwitchStatus => self.lock_status = Some(le_uint(v).map_err(bad)?),
            OpaqueType::SwitchGpuPdis => {
                let want = SWITCH_GPU_PDIS * 8 + LS10_PORTS;
                if v.len() != want {
                    return Err(bad(format!(
                        "{} bytes, expected {SWITCH_GPU_PDIS} 8-byte PDIs and a {LS10_PORTS}-port map ({want})",
                        v.len()
                    )));
                }
                let (pdis, ports) = v.split_at(SWITCH_GPU_PDIS * 8);
                if let Some((port, &g)) =
                    ports.iter().enumerate().find(|&(_, &g)| g != NO_GPU && usize::from(g) >= SWITCH_GPU_PDIS)
                {
                    return Err(bad(format!("port {port} maps to GPU {g}, not one of the {SWITCH_GPU_PDIS} listed")));
                }
                self.gpu_pdis = Some(
                    pdis.chunks_exact(8)
                        .map(|c| {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(c);
                            Pdi(b)
                        })
                        .collect(),
                );
                self.ports = Some(ports.to_vec());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
