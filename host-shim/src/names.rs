//! Names that arrive from outside — claim UIDs from the kubelet, device names from a ResourceClaim's
//! allocation — parsed into types before they can reach a path or a sysfs write.
//!
//! Trusts nothing: a claim UID becomes part of a checkpoint and a CDI file name, so it is restricted to
//! `[A-Za-z0-9_-]`, 1–64 characters (Kubernetes UIDs are 36-character UUIDs); a device name must be
//! exactly the form we publish (`gpu-0000-3b-00-0`), and its PCI address is parsed strictly.

use std::fmt;
use std::str::FromStr;

use ccgpu_pci::PciAddress;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest claim UID accepted.
pub const MAX_CLAIM_UID: usize = 64;

/// The UID of a ResourceClaim, safe to use as a file-name component.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimUid(String);

/// Why a name from outside was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not a claim UID (`[A-Za-z0-9_-]`, 1–64 characters).
    #[error("{input:?} is not a claim UID (1-{MAX_CLAIM_UID} characters of A-Z a-z 0-9 _ -)")]
    ClaimUid {
        /// The refused input, truncated.
        input: String,
    },
    /// Not a device name of ours (`gpu-`, `nvswitch-` or `ppcie-DDDD-BB-DD-F`).
    #[error("{input:?} is not a ccgpu device name (gpu-, nvswitch- or ppcie-DDDD-BB-DD-F)")]
    DeviceName {
        /// The refused input, truncated.
        input: String,
    },
}

fn truncated(s: &str) -> String {
    s.chars().take(80).collect()
}

impl ClaimUid {
    /// The UID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClaimUid {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=MAX_CLAIM_UID).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(Self(s.to_owned())) } else { Err(NameError::ClaimUid { input: truncated(s) }) }
    }
}

impl fmt::Display for ClaimUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ClaimUid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClaimUid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What kind of device we manage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A GPU (class 0x0300 or 0x0302 by default).
    Gpu,
    /// An NVSwitch (class 0x0680), passed with the GPUs for protected-PCIe multi-GPU CC.
    Nvswitch,
    /// A protected-PCIe unit: all GPUs and NVSwitches of an HGX board as one device (see
    /// `crate::ppcie`), named after its first GPU's address.
    PpcieSet,
}

impl DeviceKind {
    fn prefix(self) -> &'static str {
        match self {
            DeviceKind::Gpu => "gpu",
            DeviceKind::Nvswitch => "nvswitch",
            DeviceKind::PpcieSet => "ppcie",
        }
    }
}

/// A published device name: kind plus PCI address, stable across restarts (`gpu-0000-3b-00-0`). It is a
/// valid DNS label, as ResourceSlice device names must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceName {
    kind: DeviceKind,
    address: PciAddress,
}

impl DeviceName {
    /// The name of the device at `address`.
    pub fn new(kind: DeviceKind, address: PciAddress) -> Self {
        Self { kind, address }
    }

    /// Its kind.
    pub fn kind(self) -> DeviceKind {
        self.kind
    }

    /// Its PCI address.
    pub fn address(self) -> PciAddress {
        self.address
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.address;
        write!(f, "{}-{:04x}-{:02x}-{:02x}-{:x}", self.kind.prefix(), a.domain(), a.bus(), a.device(), a.function())
    }
}

impl FromStr for DeviceName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || NameError::DeviceName { input: truncated(s) };
        if s.len() > 32 {
            return Err(refuse());
        }
        let (kind, rest) = if let Some(rest) = s.strip_prefix("gpu-") {
            (DeviceKind::Gpu, rest)
        } else if let Some(rest) = s.strip_prefix("nvswitch-") {
            (DeviceKind::Nvswitch, rest)
        } else if let Some(rest) = s.strip_prefix("ppcie-") {
            (DeviceKind::PpcieSet, rest)
        } else {
            return Err(refuse());
        };
        let parts: Vec<&str> = rest.split('-').collect();
        let [domain, bus, device, function] = parts.as_slice() else { return Err(refuse()) };
        let address: PciAddress = format!("{domain}:{bus}:{device}.{function}").parse().map_err(|_| refuse())?;
        let name = Self { kind, address };
        // Only the canonical (lowercase) rendering is ours.
        if name.to_string() == s { Ok(name) } else { Err(refuse()) }
    }
}

impl Serialize for DeviceName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_uids_refuse_anything_path_like() {
        assert!("0f5ab6c2-8e0b-4a0e-9a65-6f0d2b3c4d5e".parse::<ClaimUid>().is_ok());
        for bad in ["", ".", "..", "../x", "a/b", "a\0b", "a b", "a.b", "é", &"a".repeat(65)] {
            assert!(bad.parse::<ClaimUid>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn device_names_roundtrip_and_are_strict() {
        let name: DeviceName = "gpu-0000-3b-00-0".parse().expect("valid");
        assert_eq!(name.address().to_string(), "0000:3b:00.0");
        assert_eq!(name.to_string(), "gpu-0000-3b-00-0");
        let sw: DeviceName = "nvswitch-0000-c5-00-0".parse().expect("valid");
        assert_eq!(sw.kind(), DeviceKind::Nvswitch);
        let unit: DeviceName = "ppcie-0000-18-00-0".parse().expect("valid");
        assert_eq!((unit.kind(), unit.to_string().as_str()), (DeviceKind::PpcieSet, "ppcie-0000-18-00-0"));
        for bad in [
            "gpu-0000-3B-00-0",
            "gpu-0000:3b:00.0",
            "gpu-0000-3b-00",
            "gpu-0000-3b-20-0",
            "gpu-../../etc",
            "cpu-0000-3b-00-0",
            "gpu-0000-3b-00-0-",
            "gpu-0000-3b-00-0\0",
            "",
            "gpu-",
        ] {
            assert!(bad.parse::<DeviceName>().is_err(), "{bad:?}");
        }
    }
}
