//! CDI (Container Device Interface) specs: one per claim, naming the VFIO device nodes the container
//! runtime (Kata) must hand to the VM: each device's own nodes in its `containerEdits`, and the nodes all
//! of them share (`/dev/iommu`, when configured) once, in the spec-wide `containerEdits`.
//!
//! We write our own serde types for the few fields we use instead of depending on the
//! `container-device-interface` crate: that crate brings a JSON-schema validator, the OCI runtime spec,
//! regex, YAML and clap along, where we need `cdiVersion`, `kind`, and `devices[].containerEdits.deviceNodes`.
//! The types round-trip, and names are checked against the CDI specification's rules before writing.
//! Specs are JSON (CDI accepts `.json` and `.yaml`), written atomically. Trusts nothing it reads back:
//! only file names of our exact pattern are ever removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file::{self, FileError};
use crate::checkpoint::CdiRecord;
use crate::config::CdiKind;
use crate::names::{ClaimUid, DeviceName};

/// The CDI version our specs declare: the version NVIDIA's sandbox device plugin uses for Kata
/// compatibility; it covers everything we emit (device nodes only).
pub const CDI_VERSION: &str = "0.5.0";

/// A CDI spec file (the subset we write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// Spec version.
    pub cdi_version: String,
    /// `vendor/class`.
    pub kind: String,
    /// The devices.
    pub devices: Vec<Device>,
    /// Edits for the container whichever of the spec's devices it gets (written only when there are some).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_edits: Option<ContainerEdits>,
}

/// One CDI device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Name, unique within the kind.
    pub name: String,
    /// What the runtime adds to the container (for Kata: to the VM).
    pub container_edits: ContainerEdits,
}

/// Container edits (the subset we write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEdits {
    /// Device nodes.
    pub device_nodes: Vec<DeviceNode>,
}

/// A device node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    /// Host path of the node.
    pub path: String,
}

/// A CDI write or removal that failed, with the claim or file.
#[derive(Debug, thiserror::Error)]
pub enum CdiError {
    /// Writing or removing the spec failed.
    #[error("CDI spec of claim {claim}")]
    File {
        /// The claim.
        claim: ClaimUid,
        /// The file error.
        #[source]
        source: FileError,
    },
    /// Listing the CDI directory failed.
    #[error("listing CDI directory {path}")]
    List {
        /// The directory.
        path: PathBuf,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// A device node path is not UTF-8 (CDI specs are text).
    #[error("device node {path} of claim {claim} is not valid UTF-8")]
    NonUtf8Path {
        /// The claim.
        claim: ClaimUid,
        /// The path.
        path: PathBuf,
    },
}

/// True when `name` is a valid CDI device name: letters, digits, `-`, `_`, `.`, `:`, starting and ending
/// with a letter or digit.
pub fn valid_device_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn device_nodes(claim: &ClaimUid, paths: &[PathBuf]) -> Result<Vec<DeviceNode>, CdiError> {
    paths
        .iter()
        .map(|path| {
            let text =
                path.to_str().ok_or_else(|| CdiError::NonUtf8Path { claim: claim.clone(), path: path.clone() })?;
            Ok(DeviceNode { path: text.to_owned() })
        })
        .collect()
}

/// Writes and removes our per-claim specs in one CDI directory.
#[derive(Debug, Clone)]
pub struct CdiWriter {
    dir: PathBuf,
    kind: CdiKind,
}

impl CdiWriter {
    /// A writer for specs of `kind` in `dir` (created if missing).
    pub fn open(dir: &Path, kind: CdiKind) -> Result<Self, FileError> {
        atomic_file::ensure_dir(dir)?;
        Ok(Self { dir: dir.to_owned(), kind })
    }

    fn prefix(&self) -> String {
        format!("{}-{}_", self.kind.vendor(), self.kind.class())
    }

    /// The spec file name of a claim (fixed before any device moves, so recovery can always find it).
    pub fn file_name(&self, claim: &ClaimUid) -> String {
        format!("{}{claim}.json", self.prefix())
    }

    /// The CDI device name of `device` in `claim` (`claim-<uid>-gpu-0000-3b-00-0`).
    pub fn device_name(claim: &ClaimUid, device: DeviceName) -> String {
        format!("claim-{claim}-{device}")
    }

    /// The fully qualified CDI device id (`ccgpu.dev/gpu=claim-<uid>-gpu-0000-3b-00-0`).
    pub fn device_id(&self, claim: &ClaimUid, device: DeviceName) -> String {
        format!("{}={}", self.kind, Self::device_name(claim, device))
    }

    /// The record of a claim's spec (file name and device ids), computed without writing.
    pub fn record(&self, claim: &ClaimUid, devices: &[DeviceName]) -> CdiRecord {
        CdiRecord {
            file: self.file_name(claim),
            device_ids: devices.iter().map(|d| self.device_id(claim, *d)).collect(),
        }
    }

    /// The spec for `claim`: one device per requested device, with its nodes, and `shared` (the nodes
    /// every device needs, such as `/dev/iommu`) once, spec-wide.
    pub fn spec(
        &self,
        claim: &ClaimUid,
        devices: &[(DeviceName, Vec<PathBuf>)],
        shared: &[PathBuf],
    ) -> Result<Spec, CdiError> {
        let mut out = Vec::new();
        for (name, nodes) in devices {
            let device_nodes = device_nodes(claim, nodes)?;
            let cdi_name = Self::device_name(claim, *name);
            debug_assert!(valid_device_name(&cdi_name), "{cdi_name}");
            out.push(Device { name: cdi_name, container_edits: ContainerEdits { device_nodes } });
        }
        let container_edits =
            if shared.is_empty() { None } else { Some(ContainerEdits { device_nodes: device_nodes(claim, shared)? }) };
        Ok(Spec { cdi_version: CDI_VERSION.to_owned(), kind: self.kind.to_string(), devices: out, container_edits })
    }

    /// Writes the spec atomically.
    pub fn write(&self, claim: &ClaimUid, spec: &Spec) -> Result<(), CdiError> {
        let bytes = serde_json::to_vec_pretty(spec).unwrap_or_else(|e| unreachable!("a Spec always encodes: {e}"));
        atomic_file::write_atomic(&self.dir, &self.file_name(claim), &bytes)
            .map_err(|source| CdiError::File { claim: claim.clone(), source })
    }

    /// Removes a claim's spec (absent is fine).
    pub fn remove(&self, claim: &ClaimUid) -> Result<(), CdiError> {
        atomic_file::remove_durable(&self.dir, &self.file_name(claim))
            .map_err(|source| CdiError::File { claim: claim.clone(), source })
    }

    /// Our specs in the directory (by exact file-name pattern) and the claims they belong to; crash
    /// temp files of ours are removed first.
    pub fn list(&self) -> Result<Vec<ClaimUid>, CdiError> {
        let prefix = self.prefix();
        atomic_file::remove_temps(&self.dir, |n| n.starts_with(&prefix))
            .map_err(|e| CdiError::List { path: e.path, source: e.source })?;
        let list_err = |source| CdiError::List { path: self.dir.clone(), source };
        let mut claims = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(list_err)? {
            let name = entry.map_err(list_err)?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(uid) = name.strip_prefix(&prefix).and_then(|n| n.strip_suffix(".json"))
                && let Ok(uid) = uid.parse::<ClaimUid>()
            {
                claims.push(uid);
            }
        }
        claims.sort();
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::DeviceKind;

    #[test]
    fn spec_roundtrips_with_valid_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let w = CdiWriter::open(dir.path(), CdiKind::default()).expect("open");
        let claim: ClaimUid = "0f5ab6c2-8e0b-4a0e-9a65-6f0d2b3c4d5e".parse().expect("valid");
        let gpu = DeviceName::new(DeviceKind::Gpu, "0000:3b:00.0".parse().expect("valid"));
        let gpu2 = DeviceName::new(DeviceKind::Gpu, "0000:4b:00.0".parse().expect("valid"));
        let devices = [(gpu, vec!["/dev/vfio/devices/vfio3".into()]), (gpu2, vec!["/dev/vfio/devices/vfio4".into()])];
        let spec = w.spec(&claim, &devices, &["/dev/iommu".into()]).expect("spec");
        w.write(&claim, &spec).expect("write");
        let text = fs::read_to_string(dir.path().join(w.file_name(&claim))).expect("read");
        let back: Spec = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, spec);
        let raw: serde_json::Value = serde_json::from_str(&text).expect("parse");
        assert_eq!(raw["cdiVersion"], "0.5.0");
        assert_eq!(raw["kind"], "ccgpu.dev/gpu");
        assert_eq!(
            raw["devices"][1]["containerEdits"]["deviceNodes"],
            serde_json::json!([{"path": "/dev/vfio/devices/vfio4"}])
        );
        assert_eq!(
            raw["containerEdits"]["deviceNodes"],
            serde_json::json!([{"path": "/dev/iommu"}]),
            "once, spec-wide"
        );
        // Nothing shared: no spec-wide edits at all.
        let plain = w.spec(&claim, &devices, &[]).expect("spec");
        let raw = serde_json::to_value(&plain).expect("encode");
        assert!(raw.get("containerEdits").is_none(), "{raw}");
        assert!(valid_device_name(&back.devices[0].name));
        assert_eq!(
            w.device_id(&claim, gpu),
            "ccgpu.dev/gpu=claim-0f5ab6c2-8e0b-4a0e-9a65-6f0d2b3c4d5e-gpu-0000-3b-00-0"
        );
        assert_eq!(w.list().expect("list"), vec![claim.clone()]);
        w.remove(&claim).expect("remove");
        w.remove(&claim).expect("idempotent");
        assert!(w.list().expect("list").is_empty());
    }

    #[test]
    fn list_ignores_files_that_are_not_ours() {
        let dir = tempfile::tempdir().expect("temp dir");
        let w = CdiWriter::open(dir.path(), CdiKind::default()).expect("open");
        for other in ["nvidia.yaml", "ccgpu.dev-gpu_.json", "ccgpu.dev-gpu_a.b.json", "other-gpu_x.json"] {
            fs::write(dir.path().join(other), "{}").expect("write");
        }
        assert!(w.list().expect("list").is_empty());
    }

    #[test]
    fn cdi_name_rules() {
        for good in ["a", "claim-x-gpu-0000-3b-00-0", "a.b:c_d"] {
            assert!(valid_device_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a/b", "a b", "a=b"] {
            assert!(!valid_device_name(bad), "{bad}");
        }
    }
}
