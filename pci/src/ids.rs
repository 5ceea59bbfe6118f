//! The ids ccgpu recognises NVIDIA devices by, in one place, and small validated newtypes of the PCI
//! world: driver names, IOMMU group numbers and class codes.
//!
//! A driver name is read from sysfs (a symlink's file name) or given by an operator, and is joined onto
//! `/sys/bus/pci/drivers/<name>`: it is validated here so that it can never be `..` or contain a `/`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// NVIDIA's PCI vendor id.
pub const NVIDIA_VENDOR: u16 = 0x10de;
/// Class `0x0302` (3D controller): NVIDIA's data-center GPUs.
pub const CLASS_3D_CONTROLLER: u16 = 0x0302;
/// Class `0x0300` (VGA-compatible controller): GPUs with a display engine.
pub const CLASS_VGA: u16 = 0x0300;
/// Base class `0x03` (display controller): every GPU class.
pub const BASE_CLASS_DISPLAY: u8 = 0x03;
/// Class `0x0680` (other bridge): NVIDIA's NVSwitches.
pub const CLASS_NVSWITCH: u16 = 0x0680;
/// Class `0x0604` (PCI-to-PCI bridge): in IOMMU groups, never handed to vfio-pci.
pub const CLASS_PCI_BRIDGE: u16 = 0x0604;

/// Longest driver name accepted (the kernel has no hard limit; real names are short).
const MAX_DRIVER_NAME: usize = 64;

/// The name of a kernel PCI driver (`vfio-pci`, `nvidia`, `snd_hda_intel`, `e1000e`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriverName(String);

/// Why a string is not a driver name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a driver name (1-{MAX_DRIVER_NAME} of A-Z a-z 0-9 _ - ., not starting with '.')")]
pub struct DriverNameError {
    /// The refused input, truncated to a bounded length.
    pub input: String,
}

impl DriverName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `vfio-pci`, the driver every prepared function is moved to.
    pub fn vfio_pci() -> Self {
        Self("vfio-pci".to_owned())
    }

    /// True for `vfio-pci` and its vendor variants (`nvgrace-gpu-vfio-pci`, …): drivers that leave an
    /// IOMMU group viable for VFIO.
    pub fn is_vfio(&self) -> bool {
        self.0 == "vfio-pci" || self.0.ends_with("-vfio-pci") || self.0.ends_with("_vfio_pci")
    }
}

impl FromStr for DriverName {
    type Err = DriverNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= MAX_DRIVER_NAME
            && !s.starts_with('.')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DriverNameError { input: s.chars().take(MAX_DRIVER_NAME + 8).collect() })
        }
    }
}

impl fmt::Display for DriverName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for DriverName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DriverName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An IOMMU group number (`/sys/kernel/iommu_groups/<n>`, `/dev/vfio/<n>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IommuGroup(pub u32);

impl fmt::Display for IommuGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A 24-bit PCI class code: base class, subclass, programming interface (`0x030200` = 3D controller).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClassCode(pub u32);

impl ClassCode {
    /// Base class and subclass (`0x0302`), the part device-matching rules use.
    pub fn class16(self) -> u16 {
        // The code is 24 bits wide, so the top 16 of them always fit.
        u16::try_from((self.0 >> 8) & 0xffff).unwrap_or(u16::MAX)
    }

    /// The base class (`0x03` for display controllers).
    pub fn base(self) -> u8 {
        u8::try_from((self.0 >> 16) & 0xff).unwrap_or(u8::MAX)
    }

    /// PCI-to-PCI bridges ([`CLASS_PCI_BRIDGE`]) sit in IOMMU groups but are never handed to vfio-pci.
    pub fn is_bridge(self) -> bool {
        self.class16() == CLASS_PCI_BRIDGE
    }

    /// An NVIDIA GPU has vendor [`NVIDIA_VENDOR`] and a display class ([`BASE_CLASS_DISPLAY`]).
    pub fn is_nvidia_gpu(self, vendor: u16) -> bool {
        vendor == NVIDIA_VENDOR && self.base() == BASE_CLASS_DISPLAY
    }

    /// An NVSwitch has vendor [`NVIDIA_VENDOR`] and class [`CLASS_NVSWITCH`].
    pub fn is_nvswitch(self, vendor: u16) -> bool {
        vendor == NVIDIA_VENDOR && self.class16() == CLASS_NVSWITCH
    }
}

impl fmt::Display for ClassCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#08x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_names_refuse_path_tricks() {
        for good in ["vfio-pci", "nvidia", "snd_hda_intel", "nvgrace-gpu-vfio-pci", "e1000e", "xhci_hcd.0"] {
            assert!(good.parse::<DriverName>().is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../nvidia", "a/b", "nv\0", "nvidia\n", "x y", &"a".repeat(65)] {
            assert!(bad.parse::<DriverName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn vfio_variants_are_recognised() {
        for (name, vfio) in [("vfio-pci", true), ("nvgrace-gpu-vfio-pci", true), ("nvidia", false), ("pci-stub", false)]
        {
            assert_eq!(name.parse::<DriverName>().expect("valid").is_vfio(), vfio, "{name}");
        }
    }

    #[test]
    fn class_parts() {
        assert_eq!(ClassCode(0x030200).class16(), 0x0302);
        assert!(ClassCode(0x060400).is_bridge());
        assert!(!ClassCode(0x068000).is_bridge());
        assert_eq!(ClassCode(0x030200).to_string(), "0x030200");
        assert_eq!(ClassCode(0x030200).base(), BASE_CLASS_DISPLAY);
        assert!(ClassCode(0x030200).is_nvidia_gpu(NVIDIA_VENDOR) && ClassCode(0x030000).is_nvidia_gpu(0x10de));
        assert!(!ClassCode(0x040300).is_nvidia_gpu(NVIDIA_VENDOR) && !ClassCode(0x030200).is_nvidia_gpu(0x1002));
        assert!(ClassCode(0x068000).is_nvswitch(NVIDIA_VENDOR) && !ClassCode(0x068000).is_nvswitch(0x8086));
    }
}
