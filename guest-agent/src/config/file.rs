//! The configuration file `ccgpu.config` names: trusted only as the command line says — pinned by its
//! SHA-384 (`ccgpu.config_sha384`), or declared on the measured root file system (`ccgpu.config_trust=rootfs`)
//! and found there — then read (bounded) into its TOML shape. A file that is neither is never read.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ccgpu_attestation::Policy;
use serde::Deserialize;

use super::error::ConfigError;
use super::keys::EarKey;
use super::settings::RemoteConfig;

/// Largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 1024 * 1024;
/// Timeout of the exchange with the relying party when `[remote] timeout_s` is not given.
const DEFAULT_REMOTE_TIMEOUT_S: u64 = 30;

/// The configuration file as the command line names it, and how the command line says it is trusted.
#[derive(Debug)]
pub(super) struct FileRef {
    /// `ccgpu.config`.
    pub(super) path: PathBuf,
    /// `ccgpu.config_sha384`, hex.
    pub(super) pin: Option<String>,
    /// `ccgpu.config_trust=rootfs`.
    pub(super) on_rootfs: bool,
}

/// A configuration file whose trust held, read.
#[derive(Debug)]
pub(super) struct ConfigFile {
    /// Where it is.
    pub(super) path: PathBuf,
    /// Its SHA-384, hex.
    pub(super) digest: String,
    contents: FileConfig,
}

impl FileRef {
    /// Reads the file if its trust holds: on the root file system when declared so (`rootfs_dirs`, with
    /// links resolved), its digest equal to the pin when pinned, and at least one of the two.
    pub(super) fn read(&self, rootfs_dirs: &[&Path]) -> Result<ConfigFile, ConfigError> {
        let path = &self.path;
        if self.on_rootfs {
            check_on_rootfs(path, rootfs_dirs)?;
        } else if self.pin.is_none() {
            return Err(ConfigError::Unpinned(path.clone()));
        }
        let bytes = read_bounded(path, MAX_CONFIG_FILE)?;
        let digest = hex::encode(ccgpu_attestation::sha384(&bytes));
        if let Some(pinned) = &self.pin
            && !pinned.eq_ignore_ascii_case(&digest)
        {
            return Err(ConfigError::DigestMismatch { path: path.clone(), pinned: pinned.clone(), found: digest });
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| ConfigError::File { path: path.clone(), reason: format!("not UTF-8: {e}") })?;
        let contents =
            toml::from_str(text).map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
        Ok(ConfigFile { path: path.clone(), digest, contents })
    }
}

impl ConfigFile {
    /// The settings it shares with the command line, as strings, for merging.
    pub(super) fn shared(&self) -> BTreeMap<&'static str, String> {
        self.contents.shared()
    }

    /// Its `[policy]`, if it has one.
    pub(super) fn policy(&self) -> Result<Option<Policy>, ConfigError> {
        let Some(policy) = &self.contents.policy else { return Ok(None) };
        let path = self.path.clone();
        let text =
            toml::to_string(policy).map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
        Policy::parse(&text).map(Some).map_err(|source| ConfigError::Policy { path, source })
    }

    /// Its `[remote]` relying party, if it has one: an `http://` URL and a key that parses.
    pub(super) fn remote(&self) -> Result<Option<RemoteConfig>, ConfigError> {
        let Some(r) = &self.contents.remote else { return Ok(None) };
        // Plain HTTP: the verdict is signed and bound to our nonce, and the bundle holds no secrets.
        if !r.url.starts_with("http://") {
            return Err(ConfigError::invalid("remote.url", &r.url, "expected an http:// URL"));
        }
        let key = EarKey::from_pem(&r.public_key_pem).map_err(ConfigError::RemoteKey)?;
        Ok(Some(RemoteConfig {
            url: r.url.clone(),
            key,
            timeout: Duration::from_secs(r.timeout_s.unwrap_or(DEFAULT_REMOTE_TIMEOUT_S)),
        }))
    }
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    mode: Option<String>,
    on_failure: Option<String>,
    vsock_port: Option<u32>,
    expect_gpus: Option<u32>,
    cpu_tee: Option<String>,
    sev_guest: Option<String>,
    snp_vmpl: Option<u32>,
    log: Option<String>,
    rim_dir: Option<String>,
    uvm_persistence: Option<bool>,
    wait_base_s: Option<u64>,
    wait_per_gpu_s: Option<u64>,
    rescan_s: Option<u64>,
    policy: Option<toml::Value>,
    remote: Option<FileRemote>,
}

/// The file's `[remote]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRemote {
    url: String,
    public_key_pem: String,
    timeout_s: Option<u64>,
}

impl FileConfig {
    /// The shared keys as strings, for merging with the command line.
    fn shared(&self) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.insert(k, v);
            }
        };
        put("mode", self.mode.clone());
        put("on_failure", self.on_failure.clone());
        put("vsock_port", self.vsock_port.map(|v| v.to_string()));
        put("expect_gpus", self.expect_gpus.map(|v| v.to_string()));
        put("cpu_tee", self.cpu_tee.clone());
        put("sev_guest", self.sev_guest.clone());
        put("snp_vmpl", self.snp_vmpl.map(|v| v.to_string()));
        put("log", self.log.clone());
        put("rim_dir", self.rim_dir.clone());
        put("uvm_persistence", self.uvm_persistence.map(|v| if v { "on".into() } else { "off".into() }));
        put("wait_base_s", self.wait_base_s.map(|v| v.to_string()));
        put("wait_per_gpu_s", self.wait_per_gpu_s.map(|v| v.to_string()));
        put("rescan_s", self.rescan_s.map(|v| v.to_string()));
        out
    }
}

/// The bytes of `path`, refused when larger than `limit` (checked before reading and after).
pub(super) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ConfigError> {
    let meta = fs::metadata(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    if meta.len() > limit {
        return Err(ConfigError::TooLarge { path: path.to_owned(), limit });
    }
    let bytes = fs::read(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(ConfigError::TooLarge { path: path.to_owned(), limit });
    }
    Ok(bytes)
}

/// `path`, with every symbolic link and `..` resolved, must lie under one of `dirs` (compared as given:
/// a directory that is itself a link elsewhere does not count).
fn check_on_rootfs(path: &Path, dirs: &[&Path]) -> Result<(), ConfigError> {
    let resolved = fs::canonicalize(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    if dirs.iter().any(|d| resolved.starts_with(d)) {
        Ok(())
    } else {
        Err(ConfigError::NotOnRootfs { path: path.to_owned(), resolved })
    }
}
