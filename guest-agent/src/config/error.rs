//! [`ConfigError`]: why a configuration cannot be used, naming the parameter or file involved.

use std::fmt;
use std::path::PathBuf;

use ccgpu_attestation::PolicyError;
use thiserror::Error;

use super::keys::KeyError;
use super::settings::ROOTFS_CONFIG_DIRS;

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
    #[error("[remote] public_key_pem")]
    RemoteKey(#[source] KeyError),
}

impl ConfigError {
    /// `key=value` is refused for `reason`.
    pub(super) fn invalid(key: &str, value: &str, reason: impl fmt::Display) -> Self {
        Self::Invalid { key: key.to_owned(), value: value.to_owned(), reason: reason.to_string() }
    }
}
