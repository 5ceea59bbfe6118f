//! The agent's configuration, read only from measured sources: the kernel command line (`ccgpu.*`
//! parameters) and a configuration file whose path it names.
//!
//! The kernel command line is measured with the kernel (SEV-SNP measured direct boot hashes it into the
//! launch measurement), so a relying party that checks the measurement knows every parameter. The file is
//! trusted in one of two ways, which the operator states on the command line:
//!
//! - **pinned**: `ccgpu.config_sha384=HEX`; any other content — an initdata document swapped by the host,
//!   say — is refused before anything is read from it. The file may be anywhere.
//! - **on the measured root file system**: `ccgpu.config_trust=rootfs`, and the file (symbolic links
//!   resolved) lies under one of [`ROOTFS_CONFIG_DIRS`] (`/etc/ccgpu/`, `/usr/share/ccgpu/`), which belong
//!   to the dm-verity-protected image. A file elsewhere is refused, whatever the parameter says.
//!
//! A file named with neither is refused ([`ConfigError::Unpinned`]): without them, the host could point
//! `ccgpu.config` at a file it controls and replace the policy. Nothing else configures the agent: no
//! environment variable, no API call, nothing from the host. A `ccgpu.*` parameter this agent does not
//! know, a key given twice, and a key given in both places with different values are errors, so a typo or
//! a conflict can never silently leave a rule out.
//!
//! # Kernel command line
//!
//! | parameter | meaning | default |
//! |---|---|---|
//! | `ccgpu.config=PATH` | the configuration file (TOML) | none |
//! | `ccgpu.config_sha384=HEX` | required SHA-384 of that file | not pinned |
//! | `ccgpu.config_trust=rootfs` | trust an unpinned file because it is on the measured root file system | none |
//! | `ccgpu.mode=local\|remote` | verify here, or ask the relying party of `[remote]` | `local` |
//! | `ccgpu.on_failure=wait\|exit` | after a failed bring-up: keep serving the API, or exit with status 1 | `wait` |
//! | `ccgpu.vsock_port=N` | vsock port of the ttrpc API (1024 is the Kata agent's and is refused) | `11024` |
//! | `ccgpu.expect_gpus=N` | exact number of GPUs that must be found | any |
//! | `ccgpu.sev_guest=PATH` | the SEV-SNP guest device; absent = no CPU TEE report | `/dev/sev-guest` |
//! | `ccgpu.snp_vmpl=N` | VMPL to request the SNP report for | `0` |
//! | `ccgpu.log=PATH` | the attestation log (JSON Lines, hash-chained) | `/run/ccgpu/attestation.log` |
//! | `ccgpu.rim_dir=PATH` | directory of RIMs named by RIM id | none (no RIMs) |
//! | `ccgpu.uvm_persistence=on\|off` | `--uvm-persistence-mode` for nvidia-persistenced | `on` |
//! | `ccgpu.wait_base_s=N` | base of every bounded wait, seconds | `30` |
//! | `ccgpu.wait_per_gpu_s=N` | added per GPU to every bounded wait, seconds | `30` |
//! | `ccgpu.rescan_s=N` | after bring-up, look for NVIDIA devices added or removed every N seconds (1–300) | `10` |
//!
//! Booleans accept `on/off`, `true/false`, `yes/no`, `1/0`.
//!
//! # Configuration file
//!
//! TOML with the same keys as the command line without the `ccgpu.` prefix (`mode`, `on_failure`,
//! `vsock_port`, `expect_gpus`, `sev_guest`, `snp_vmpl`, `log`, `rim_dir`, `uvm_persistence`, `wait_base_s`,
//! `wait_per_gpu_s`, `rescan_s`), plus:
//!
//! ```toml
//! [policy]              # the appraisal policy (ccgpu-attestation's Policy: [policy.gpu], [policy.ocsp], …)
//! [policy.gpu]
//! min_driver_version = "550.90"
//!
//! [remote]              # required when mode = "remote"
//! url = "http://relying-party.example:8080/v1/attest"
//! public_key_pem = """-----BEGIN PUBLIC KEY-----
//! …P-384 SubjectPublicKeyInfo of the key that signs the relying party's EAR…
//! -----END PUBLIC KEY-----"""
//! timeout_s = 30        # default 30
//! ```
//!
//! Unknown keys are refused.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ccgpu_attestation::policy::{Policy, PolicyError};
use serde::Deserialize;
use thiserror::Error;

/// Largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 1024 * 1024;
/// Largest kernel command line read (the kernel's own limit is a few KiB).
const MAX_CMDLINE: u64 = 64 * 1024;
/// The Kata agent's vsock port, which this agent never takes.
pub const KATA_AGENT_VSOCK_PORT: u32 = 1024;
/// Default vsock port of the ttrpc API.
pub const DEFAULT_VSOCK_PORT: u32 = 11024;
/// Directories of the measured root file system an unpinned configuration file may come from, with
/// `ccgpu.config_trust=rootfs`.
pub const ROOTFS_CONFIG_DIRS: [&str; 2] = ["/etc/ccgpu/", "/usr/share/ccgpu/"];
/// Default interval of the device rescan after bring-up.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(10);
/// Longest rescan interval accepted: a hot-plugged device is noticed within this bound.
pub const MAX_RESCAN_S: u64 = 300;

/// A configuration that cannot be used. Each names the parameter or file involved.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The command line or configuration file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Larger than allowed.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A `ccgpu.*` parameter this agent does not know.
    #[error("unknown kernel parameter {0:?}")]
    UnknownParameter(String),
    /// A parameter or key given twice, or on the command line and in the file with different values.
    #[error("{key} is given twice ({first:?} and {second:?})")]
    Conflict {
        /// The key.
        key: String,
        /// The first value.
        first: String,
        /// The other value.
        second: String,
    },
    /// A value that does not parse.
    #[error("{key}={value:?}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The file's digest is not the one pinned on the command line.
    #[error("{path} has SHA-384 {found}, but ccgpu.config_sha384 pins {pinned}")]
    DigestMismatch {
        /// The file.
        path: PathBuf,
        /// What the command line pins.
        pinned: String,
        /// What the file hashes to.
        found: String,
    },
    /// `ccgpu.config_sha384` or `ccgpu.config_trust` without `ccgpu.config`.
    #[error("ccgpu.{0} is set but ccgpu.config is not")]
    PinWithoutFile(&'static str),
    /// A configuration file that is neither pinned by digest nor declared on the measured root file system.
    #[error(
        "{0} is not pinned: set ccgpu.config_sha384=<its SHA-384>, or ccgpu.config_trust=rootfs with the file \
         under one of {dirs}",
        dirs = ROOTFS_CONFIG_DIRS.join(", ")
    )]
    Unpinned(PathBuf),
    /// `ccgpu.config_trust=rootfs` for a file outside the measured root file system's directories.
    #[error(
        "{path} (resolved: {resolved}) is not under one of {dirs}, so ccgpu.config_trust=rootfs does not apply",
        path = path.display(),
        resolved = resolved.display(),
        dirs = ROOTFS_CONFIG_DIRS.join(", ")
    )]
    NotOnRootfs {
        /// The file as named.
        path: PathBuf,
        /// The file with symbolic links resolved.
        resolved: PathBuf,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// The embedded policy is invalid.
    #[error("{path}: [policy]")]
    Policy {
        /// The file.
        path: PathBuf,
        /// The policy error.
        #[source]
        source: PolicyError,
    },
    /// Remote mode without a `[remote]` section.
    #[error("mode is remote but the configuration has no [remote] section")]
    RemoteMissing,
    /// The relying party's public key is not a P-384 public key in PEM.
    #[error("[remote] public_key_pem: {0}")]
    RemoteKey(String),
}

fn invalid(key: &str, value: &str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), value: value.to_owned(), reason: reason.to_string() }
}

/// Where verification happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Appraise with `ccgpu-attestation` inside the guest.
    #[default]
    Local,
    /// Send the bundle to the relying party and accept its signed verdict.
    Remote,
}

impl Mode {
    /// `local` or `remote`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Self::Local),
            "remote" => Ok(Self::Remote),
            _ => Err("expected local or remote".into()),
        }
    }
}

/// What the process does after a failed bring-up. Either way no GPU is released: failing closed is not
/// an option here, it is the only behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Keep running and serving the API, so an operator can ask why (the GPUs stay locked).
    #[default]
    Wait,
    /// Exit with status 1 (for an init that powers the VM off when the agent fails).
    Exit,
}

impl FromStr for OnFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "wait" => Ok(Self::Wait),
            "exit" => Ok(Self::Exit),
            _ => Err("expected wait or exit".into()),
        }
    }
}

/// Bounds of every wait: `base + per_gpu × GPUs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// Fixed part.
    pub base: Duration,
    /// Added per GPU.
    pub per_gpu: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Self { base: Duration::from_secs(30), per_gpu: Duration::from_secs(30) }
    }
}

impl Waits {
    /// The bound for `gpus` GPUs.
    pub fn bound(&self, gpus: usize) -> Duration {
        let n = u32::try_from(gpus).unwrap_or(u32::MAX);
        self.base.saturating_add(self.per_gpu.saturating_mul(n))
    }
}

/// The relying party of remote mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// Where the bundle is POSTed.
    pub url: String,
    /// PEM of the P-384 public key that signs the relying party's EAR JWTs.
    pub public_key_pem: String,
    /// Timeout of the whole exchange.
    pub timeout: Duration,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where verification happens.
    pub mode: Mode,
    /// What to do after a failed bring-up.
    pub on_failure: OnFailure,
    /// vsock port of the ttrpc API.
    pub vsock_port: u32,
    /// Exact number of GPUs required, if set.
    pub expect_gpus: Option<usize>,
    /// The SEV-SNP guest device.
    pub sev_guest: PathBuf,
    /// VMPL the SNP report is requested for.
    pub snp_vmpl: u32,
    /// The attestation log.
    pub log: PathBuf,
    /// Directory of RIMs, if any.
    pub rim_dir: Option<PathBuf>,
    /// nvidia-persistenced `--uvm-persistence-mode`.
    pub uvm_persistence: bool,
    /// Wait bounds.
    pub waits: Waits,
    /// Interval of the device rescan after bring-up.
    pub rescan: Duration,
    /// The appraisal policy.
    pub policy: Policy,
    /// The relying party (remote mode).
    pub remote: Option<RemoteConfig>,
    /// SHA-384 of the configuration file, hex, when there is one.
    pub config_digest: Option<String>,
    /// The configuration file, when there is one.
    pub config_path: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Local,
            on_failure: OnFailure::Wait,
            vsock_port: DEFAULT_VSOCK_PORT,
            expect_gpus: None,
            sev_guest: PathBuf::from("/dev/sev-guest"),
            snp_vmpl: 0,
            log: PathBuf::from("/run/ccgpu/attestation.log"),
            rim_dir: None,
            uvm_persistence: true,
            waits: Waits::default(),
            rescan: DEFAULT_RESCAN,
            policy: Policy::default(),
            remote: None,
            config_digest: None,
            config_path: None,
        }
    }
}

/// The keys that may appear on the command line (after `ccgpu.`) and in the file.
const SHARED_KEYS: [&str; 12] = [
    "mode",
    "on_failure",
    "vsock_port",
    "expect_gpus",
    "sev_guest",
    "snp_vmpl",
    "log",
    "rim_dir",
    "uvm_persistence",
    "wait_base_s",
    "wait_per_gpu_s",
    "rescan_s",
];
/// Keys only the command line carries.
const CMDLINE_ONLY: [&str; 3] = ["config", "config_sha384", "config_trust"];

/// The file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    mode: Option<String>,
    on_failure: Option<String>,
    vsock_port: Option<u32>,
    expect_gpus: Option<u32>,
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

/// Splits a kernel command line into words the way the kernel does: whitespace separates, and double
/// quotes group (`ccgpu.log="/run/a b"`; the quotes are removed).
pub fn split_cmdline(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(current);
    }
    words
}

/// The `ccgpu.*` parameters of a command line, by key without the prefix. Unknown keys and keys given
/// twice are errors; a key without `=` is a boolean `on`.
pub fn cmdline_params(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for word in split_cmdline(text) {
        let Some(rest) = word.strip_prefix("ccgpu.") else { continue };
        let (key, value) = match rest.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (rest.to_owned(), "on".to_owned()),
        };
        if !SHARED_KEYS.contains(&key.as_str()) && !CMDLINE_ONLY.contains(&key.as_str()) {
            return Err(ConfigError::UnknownParameter(format!("ccgpu.{key}")));
        }
        if let Some(first) = out.get(&key) {
            return Err(ConfigError::Conflict { key: format!("ccgpu.{key}"), first: first.clone(), second: value });
        }
        out.insert(key, value);
    }
    Ok(out)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(invalid(key, v, "expected on/off, true/false, yes/no or 1/0")),
    }
}

fn parse_num<T: FromStr>(key: &str, v: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    v.parse().map_err(|e| invalid(key, v, e))
}

fn parse_path(key: &str, v: &str) -> Result<PathBuf, ConfigError> {
    if v.is_empty() || !v.starts_with('/') {
        return Err(invalid(key, v, "expected an absolute path"));
    }
    Ok(PathBuf::from(v))
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ConfigError> {
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

impl Config {
    /// Reads the kernel command line at `cmdline` (normally `/proc/cmdline`) and the file it names.
    pub fn load(cmdline: &Path) -> Result<Self, ConfigError> {
        let bytes = read_bounded(cmdline, MAX_CMDLINE)?;
        Self::from_cmdline(&String::from_utf8_lossy(&bytes))
    }

    /// The configuration from command-line text (the file it names is read).
    pub fn from_cmdline(text: &str) -> Result<Self, ConfigError> {
        let dirs: Vec<&Path> = ROOTFS_CONFIG_DIRS.iter().map(Path::new).collect();
        Self::from_cmdline_with_rootfs(text, &dirs)
    }

    /// [`Config::from_cmdline`], with `rootfs_dirs` as the measured root file system's configuration
    /// directories (tests; the agent always uses [`ROOTFS_CONFIG_DIRS`]).
    pub fn from_cmdline_with_rootfs(text: &str, rootfs_dirs: &[&Path]) -> Result<Self, ConfigError> {
        let mut params = cmdline_params(text)?;
        let pin = params.remove("config_sha384");
        let trust = params.remove("config_trust");
        let file = match params.remove("config") {
            None if pin.is_some() => return Err(ConfigError::PinWithoutFile("config_sha384")),
            None if trust.is_some() => return Err(ConfigError::PinWithoutFile("config_trust")),
            None => None,
            Some(path) => Some(parse_path("ccgpu.config", &path)?),
        };
        let on_rootfs = match trust.as_deref() {
            None => false,
            Some("rootfs") => true,
            Some(other) => return Err(invalid("ccgpu.config_trust", other, "expected rootfs")),
        };
        let mut config = Config::default();
        let mut file_config = FileConfig::default();
        if let Some(path) = &file {
            if on_rootfs {
                check_on_rootfs(path, rootfs_dirs)?;
            } else if pin.is_none() {
                return Err(ConfigError::Unpinned(path.clone()));
            }
            let bytes = read_bounded(path, MAX_CONFIG_FILE)?;
            let digest = hex::encode(ccgpu_attestation::crypto::sha384(&bytes));
            if let Some(pinned) = &pin
                && !pinned.eq_ignore_ascii_case(&digest)
            {
                return Err(ConfigError::DigestMismatch { path: path.clone(), pinned: pinned.clone(), found: digest });
            }
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| ConfigError::File { path: path.clone(), reason: format!("not UTF-8: {e}") })?;
            file_config =
                toml::from_str(text).map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
            config.config_digest = Some(digest);
            config.config_path = Some(path.clone());
        }

        let mut merged: BTreeMap<&'static str, String> = file_config.shared();
        for (key, value) in params {
            let Some(key) = SHARED_KEYS.iter().copied().find(|k| *k == key) else {
                return Err(ConfigError::UnknownParameter(format!("ccgpu.{key}")));
            };
            match merged.get(key) {
                Some(first) if *first != value => {
                    return Err(ConfigError::Conflict { key: key.to_owned(), first: first.clone(), second: value });
                }
                _ => {
                    merged.insert(key, value);
                }
            }
        }
        for (key, v) in &merged {
            let k = *key;
            match k {
                "mode" => config.mode = v.parse().map_err(|e: String| invalid(k, v, e))?,
                "on_failure" => config.on_failure = v.parse().map_err(|e: String| invalid(k, v, e))?,
                "vsock_port" => {
                    let port: u32 = parse_num(k, v)?;
                    if port == KATA_AGENT_VSOCK_PORT {
                        return Err(invalid(k, v, "port 1024 is the Kata agent's"));
                    }
                    config.vsock_port = port;
                }
                "expect_gpus" => config.expect_gpus = Some(parse_num(k, v)?),
                "sev_guest" => config.sev_guest = parse_path(k, v)?,
                "snp_vmpl" => {
                    let vmpl: u32 = parse_num(k, v)?;
                    if vmpl > 3 {
                        return Err(invalid(k, v, "VMPL is 0 to 3"));
                    }
                    config.snp_vmpl = vmpl;
                }
                "log" => config.log = parse_path(k, v)?,
                "rim_dir" => config.rim_dir = Some(parse_path(k, v)?),
                "uvm_persistence" => config.uvm_persistence = parse_bool(k, v)?,
                "wait_base_s" => config.waits.base = Duration::from_secs(parse_num(k, v)?),
                "wait_per_gpu_s" => config.waits.per_gpu = Duration::from_secs(parse_num(k, v)?),
                "rescan_s" => {
                    let secs: u64 = parse_num(k, v)?;
                    if !(1..=MAX_RESCAN_S).contains(&secs) {
                        return Err(invalid(k, v, format!("expected 1 to {MAX_RESCAN_S} seconds")));
                    }
                    config.rescan = Duration::from_secs(secs);
                }
                _ => return Err(ConfigError::UnknownParameter(format!("ccgpu.{k}"))),
            }
        }

        if let Some(policy) = file_config.policy {
            let path = file.clone().unwrap_or_default();
            let text = toml::to_string(&policy)
                .map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
            config.policy = Policy::parse(&text).map_err(|source| ConfigError::Policy { path, source })?;
        }
        if let Some(r) = file_config.remote {
            // Plain HTTP: the verdict is signed and bound to our nonce, and the bundle holds no secrets.
            if !r.url.starts_with("http://") {
                return Err(invalid("remote.url", &r.url, "expected an http:// URL"));
            }
            crate::verify::remote::decoding_key(&r.public_key_pem).map_err(ConfigError::RemoteKey)?;
            config.remote = Some(RemoteConfig {
                url: r.url,
                public_key_pem: r.public_key_pem,
                timeout: Duration::from_secs(r.timeout_s.unwrap_or(30)),
            });
        }
        if config.mode == Mode::Remote && config.remote.is_none() {
            return Err(ConfigError::RemoteMissing);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(
            split_cmdline("console=ttyS0  ccgpu.log=\"/run/a b\" quiet\n"),
            vec!["console=ttyS0", "ccgpu.log=/run/a b", "quiet"]
        );
    }

    #[test]
    fn defaults_without_parameters() {
        let c = Config::from_cmdline("console=ttyS0 quiet").expect("config");
        assert_eq!(c.mode, Mode::Local);
        assert_eq!(c.on_failure, OnFailure::Wait);
        assert_eq!(c.vsock_port, DEFAULT_VSOCK_PORT);
        assert_eq!(c.waits.bound(8), Duration::from_secs(30 + 8 * 30));
        assert_eq!(c.policy, Policy::default());
    }

    #[test]
    fn parameters_are_read() {
        let c = Config::from_cmdline(
            "ccgpu.on_failure=exit ccgpu.vsock_port=2000 ccgpu.expect_gpus=8 ccgpu.uvm_persistence=off \
             ccgpu.wait_base_s=5 ccgpu.wait_per_gpu_s=1 ccgpu.log=/tmp/x.log ccgpu.snp_vmpl=2",
        )
        .expect("config");
        assert_eq!(c.on_failure, OnFailure::Exit);
        assert_eq!(c.vsock_port, 2000);
        assert_eq!(c.expect_gpus, Some(8));
        assert!(!c.uvm_persistence);
        assert_eq!(c.waits.bound(2), Duration::from_secs(7));
        assert_eq!(c.log, PathBuf::from("/tmp/x.log"));
        assert_eq!(c.snp_vmpl, 2);
    }

    #[test]
    fn unknown_duplicate_and_bad_values_are_refused() {
        assert!(matches!(Config::from_cmdline("ccgpu.skip_checks=1"), Err(ConfigError::UnknownParameter(_))));
        assert!(matches!(
            Config::from_cmdline("ccgpu.mode=local ccgpu.mode=remote"),
            Err(ConfigError::Conflict { .. })
        ));
        assert!(matches!(Config::from_cmdline("ccgpu.vsock_port=1024"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(Config::from_cmdline("ccgpu.mode=lenient"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(Config::from_cmdline("ccgpu.log=relative"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(Config::from_cmdline("ccgpu.mode=remote"), Err(ConfigError::RemoteMissing)));
        assert!(matches!(Config::from_cmdline("ccgpu.config_sha384=00"), Err(ConfigError::PinWithoutFile(_))));
        assert!(matches!(Config::from_cmdline("ccgpu.config_trust=rootfs"), Err(ConfigError::PinWithoutFile(_))));
        assert!(matches!(Config::from_cmdline("ccgpu.rescan_s=0"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(Config::from_cmdline("ccgpu.rescan_s=301"), Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn the_file_is_read_pinned_and_merged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.toml");
        fs::write(
            &path,
            "expect_gpus = 2\non_failure = \"exit\"\n[policy.gpu]\nallow_cc_dev_tools = false\nmin_driver_version = \"550.90\"\n",
        )
        .expect("write");
        let digest = hex::encode(ccgpu_attestation::crypto::sha384(&fs::read(&path).expect("read")));
        let line = format!("ccgpu.config={} ccgpu.config_sha384={digest} ccgpu.expect_gpus=2", path.display());
        let c = Config::from_cmdline(&line).expect("config");
        assert_eq!(c.expect_gpus, Some(2));
        assert_eq!(c.on_failure, OnFailure::Exit);
        assert_eq!(c.policy.gpu.min_driver_version.as_deref(), Some("550.90"));
        assert_eq!(c.config_digest.as_deref(), Some(digest.as_str()));

        let wrong = format!("ccgpu.config={} ccgpu.config_sha384={}", path.display(), "0".repeat(96));
        assert!(matches!(Config::from_cmdline(&wrong), Err(ConfigError::DigestMismatch { .. })));
        let conflict = format!("ccgpu.config={} ccgpu.config_sha384={digest} ccgpu.expect_gpus=3", path.display());
        assert!(matches!(Config::from_cmdline(&conflict), Err(ConfigError::Conflict { .. })));

        let pinned = |text: &str| {
            fs::write(&path, text).expect("write");
            let digest = hex::encode(ccgpu_attestation::crypto::sha384(text.as_bytes()));
            Config::from_cmdline(&format!("ccgpu.config={} ccgpu.config_sha384={digest}", path.display()))
        };
        assert!(matches!(pinned("[policy.gpu]\nallow_everything = true\n"), Err(ConfigError::Policy { .. })));
        assert!(matches!(pinned("skip_verification = true\n"), Err(ConfigError::File { .. })));
    }

    /// A directory standing for the measured root file system's `/etc/ccgpu/`, and one outside it.
    fn rootfs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = fs::canonicalize(dir.path()).expect("canonical");
        let (etc, run) = (base.join("etc/ccgpu"), base.join("run/initdata"));
        fs::create_dir_all(&etc).expect("etc");
        fs::create_dir_all(&run).expect("run");
        (dir, etc, run)
    }

    #[test]
    fn an_unpinned_file_is_refused_unless_on_the_measured_rootfs() {
        let (_dir, etc, run) = rootfs();
        let text = "expect_gpus = 2\n";
        let on_rootfs = etc.join("agent.toml");
        let from_host = run.join("agent.toml");
        fs::write(&on_rootfs, text).expect("write");
        fs::write(&from_host, text).expect("write");
        let load = |line: String| Config::from_cmdline_with_rootfs(&line, &[etc.as_path()]);

        // Neither pinned nor declared: refused, wherever it is.
        for path in [&on_rootfs, &from_host] {
            let e = load(format!("ccgpu.config={}", path.display())).expect_err("unpinned");
            assert!(matches!(e, ConfigError::Unpinned(_)), "{e}");
            assert!(e.to_string().contains("ccgpu.config_sha384") && e.to_string().contains("/etc/ccgpu/"), "{e}");
        }
        // The production directories are the measured image's.
        let e = Config::from_cmdline(&format!("ccgpu.config={} ccgpu.config_trust=rootfs", on_rootfs.display()))
            .expect_err("not under /etc/ccgpu/");
        assert!(matches!(e, ConfigError::NotOnRootfs { .. }), "{e}");

        // Declared on the root file system, and there: read.
        let c = load(format!("ccgpu.config={} ccgpu.config_trust=rootfs", on_rootfs.display())).expect("config");
        assert_eq!(c.expect_gpus, Some(2));
        assert_eq!(c.config_path.as_deref(), Some(on_rootfs.as_path()));

        // Declared, but elsewhere: refused — directly, through `..`, or through a link from the rootfs dir.
        let dotdot = etc.join("../../run/initdata/agent.toml");
        let link = etc.join("link.toml");
        std::os::unix::fs::symlink(&from_host, &link).expect("symlink");
        for path in [&from_host, &dotdot, &link] {
            let e = load(format!("ccgpu.config={} ccgpu.config_trust=rootfs", path.display())).expect_err("elsewhere");
            assert!(matches!(e, ConfigError::NotOnRootfs { .. }), "{}: {e}", path.display());
        }
        // Another trust value is not a way around it.
        let e = load(format!("ccgpu.config={} ccgpu.config_trust=initdata", from_host.display())).expect_err("value");
        assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    }

    #[test]
    fn a_pinned_file_is_read_from_anywhere_and_its_digest_decides() {
        let (_dir, etc, run) = rootfs();
        let from_host = run.join("agent.toml");
        fs::write(&from_host, "expect_gpus = 4\n").expect("write");
        let digest = hex::encode(ccgpu_attestation::crypto::sha384(b"expect_gpus = 4\n"));
        let load = |line: String| Config::from_cmdline_with_rootfs(&line, &[etc.as_path()]);
        let c = load(format!("ccgpu.config={} ccgpu.config_sha384={digest}", from_host.display())).expect("pinned");
        assert_eq!(c.expect_gpus, Some(4));
        fs::write(&from_host, "expect_gpus = 5\n").expect("the host swaps it");
        let e =
            load(format!("ccgpu.config={} ccgpu.config_sha384={digest}", from_host.display())).expect_err("swapped");
        assert!(matches!(e, ConfigError::DigestMismatch { .. }), "{e}");
        // Both stated: both must hold.
        fs::write(&from_host, "expect_gpus = 4\n").expect("write");
        let e = load(format!(
            "ccgpu.config={} ccgpu.config_sha384={digest} ccgpu.config_trust=rootfs",
            from_host.display()
        ))
        .expect_err("pinned, but not on the rootfs as declared");
        assert!(matches!(e, ConfigError::NotOnRootfs { .. }), "{e}");
    }

    #[test]
    fn the_rescan_interval_is_read() {
        assert_eq!(Config::from_cmdline("").expect("config").rescan, DEFAULT_RESCAN);
        assert_eq!(Config::from_cmdline("ccgpu.rescan_s=3").expect("config").rescan, Duration::from_secs(3));
    }
}
