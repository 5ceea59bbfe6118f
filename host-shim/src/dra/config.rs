//! The opaque device configuration a ResourceClaim (or its DeviceClass) may carry for our driver:
//! `{"apiVersion": "gpu.ccgpu.dev/v1alpha1", "kind": "GpuConfig", "ccMode": "on"}`.
//!
//! Parsed strictly (unknown fields, a wrong kind or version are errors, so a typo never silently means
//! "no requirement"). Everything in it is a request the host checks as far as it can know; the guest
//! still decides from signed evidence.

use serde::Deserialize;

use crate::ccmode::CcMode;

/// The `apiVersion` of our opaque config.
pub const API_VERSION: &str = "gpu.ccgpu.dev/v1alpha1";
/// The `kind` of our opaque config.
pub const KIND: &str = "GpuConfig";
/// Largest opaque config accepted, in bytes of JSON.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

/// Per-request settings from the opaque config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GpuConfig {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    /// The CC mode the GPU must be in as far as the host knows (from NVML while it was on the host
    /// driver): `on`, `devtools`, `ppcie` or `off`. A GPU whose mode is unknown or different is refused.
    #[serde(default)]
    pub cc_mode: Option<CcMode>,
}

/// Why an opaque config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Too large.
    #[error("opaque config is {size} bytes, more than {MAX_CONFIG_BYTES}")]
    TooLarge {
        /// Size.
        size: usize,
    },
    /// Not our schema.
    #[error("opaque config is not a {API_VERSION} {KIND}")]
    Schema(#[source] serde_json::Error),
    /// Another version or kind.
    #[error("opaque config has apiVersion {api_version:?} kind {kind:?}, expected {API_VERSION} {KIND}")]
    WrongKind {
        /// What it said.
        api_version: String,
        /// What it said.
        kind: String,
    },
}

impl GpuConfig {
    /// Parses the `parameters` of an opaque config for our driver.
    pub fn parse(parameters: &serde_json::Value) -> Result<Self, ConfigError> {
        let size = serde_json::to_vec(parameters).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge { size });
        }
        let config = Self::deserialize(parameters).map_err(ConfigError::Schema)?;
        if config.api_version != API_VERSION || config.kind != KIND {
            return Err(ConfigError::WrongKind { api_version: config.api_version, kind: config.kind });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_strictly() {
        let ok = GpuConfig::parse(&json!({"apiVersion": API_VERSION, "kind": KIND, "ccMode": "on"})).expect("valid");
        assert_eq!(ok.cc_mode, Some(CcMode::On));
        assert_eq!(GpuConfig::parse(&json!({"apiVersion": API_VERSION, "kind": KIND})).expect("valid").cc_mode, None);
        for bad in [
            json!({"apiVersion": API_VERSION, "kind": KIND, "ccmode": "on"}),
            json!({"apiVersion": API_VERSION, "kind": KIND, "ccMode": "maybe"}),
            json!({"apiVersion": "gpu.ccgpu.dev/v2", "kind": KIND}),
            json!({"apiVersion": API_VERSION, "kind": "VfioDeviceConfig"}),
            json!({"kind": KIND}),
            json!("GpuConfig"),
            json!({"apiVersion": API_VERSION, "kind": KIND, "pad": "x".repeat(MAX_CONFIG_BYTES)}),
        ] {
            assert!(GpuConfig::parse(&bad).is_err(), "{bad}");
        }
    }
}
