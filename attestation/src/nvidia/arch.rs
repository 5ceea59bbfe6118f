//! GPU architectures the verifier knows, recognised from the device certificate chain.

use std::fmt;

use serde::Serialize;

/// A GPU architecture with confidential computing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GpuArch {
    /// H100/H200/H800 (GH100).
    Hopper,
    /// B100/B200/GB200 (GB100, GB102, GB20x).
    Blackwell,
}

impl GpuArch {
    /// Architecture of a chip family name such as `GH100` or `GB100`.
    pub fn from_chip(chip: &str) -> Option<Self> {
        match chip {
            "GH100" => Some(Self::Hopper),
            c if c.starts_with("GB1") || c.starts_with("GB2") => Some(Self::Blackwell),
            _ => None,
        }
    }

    /// Number of certificates in this architecture's device chain, root included.
    pub fn device_chain_len(self) -> usize {
        5
    }
}

impl fmt::Display for GpuArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hopper => "HOPPER",
            Self::Blackwell => "BLACKWELL",
        })
    }
}

/// The chip family named by a device certificate's common name, e.g. `GH100` from `GH100 A01 GSP BROM`.
pub fn chip_from_common_name(cn: &str) -> Option<&str> {
    let chip = cn.strip_prefix("CN=").unwrap_or(cn).split(' ').next()?;
    let ok = chip.len() <= 8 && chip.len() >= 4 && chip.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    ok.then_some(chip)
}
