//! Reading command-line inputs into bytes and values, with errors that name the file or flag.

use std::path::{Path, PathBuf};

use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Largest input file read: a bundle may be up to 8 MiB (reports are ~4 KB, RIMs ~21 KB, chains ~5 KB).
const MAX_INPUT: u64 = 8 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum InputError {
    #[error("cannot read {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {} is {size} bytes, more than the {MAX_INPUT}-byte limit", path.display())]
    TooLarge { what: &'static str, path: PathBuf, size: u64 },
    #[error("{what} {} looks like hex text but is not valid hex: {reason}", path.display())]
    BadHex { what: &'static str, path: PathBuf, reason: String },
    #[error("--nonce must be 64 hex digits (32 bytes): {0}")]
    Nonce(String),
    #[error("--at must be an RFC 3339 time such as 2025-09-01T00:00:00Z: {0}")]
    Time(String),
}

/// Reads a whole file, bounded.
pub fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, InputError> {
    let meta = std::fs::metadata(path).map_err(|source| InputError::Read { what, path: path.to_owned(), source })?;
    if meta.len() > MAX_INPUT {
        return Err(InputError::TooLarge { what, path: path.to_owned(), size: meta.len() });
    }
    std::fs::read(path).map_err(|source| InputError::Read { what, path: path.to_owned(), source })
}

/// Bytes from a file holding either hex text (whitespace allowed) or raw binary.
pub fn read_hex_or_binary(what: &'static str, path: &Path) -> Result<Vec<u8>, InputError> {
    let bytes = read_file(what, path)?;
    let looks_hex = !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace());
    if !looks_hex {
        return Ok(bytes);
    }
    let text: Vec<u8> = bytes.into_iter().filter(|b| !b.is_ascii_whitespace()).collect();
    hex::decode(text).map_err(|e| InputError::BadHex { what, path: path.to_owned(), reason: e.to_string() })
}

/// A 32-byte nonce from 64 hex digits.
pub fn nonce(hex_text: &str) -> Result<[u8; 32], InputError> {
    let bytes = hex::decode(hex_text.trim()).map_err(|e| InputError::Nonce(e.to_string()))?;
    let n = bytes.len();
    bytes.try_into().map_err(|_| InputError::Nonce(format!("got {n} bytes")))
}

/// The verification time: `--at`, else the current time.
pub fn verification_time(at: Option<&str>) -> Result<OffsetDateTime, InputError> {
    match at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|e| InputError::Time(format!("{s:?}: {e}"))),
        None => Ok(OffsetDateTime::now_utc()),
    }
}

/// The policy from `--policy`, or the built-in default.
pub fn policy(path: Option<&Path>) -> anyhow::Result<ccgpu_attestation::Policy> {
    use anyhow::Context as _;
    match path {
        None => Ok(ccgpu_attestation::Policy::default()),
        Some(p) => {
            let bytes = read_file("policy", p)?;
            let text = String::from_utf8(bytes).with_context(|| format!("policy {} is not UTF-8", p.display()))?;
            ccgpu_attestation::Policy::parse(&text).with_context(|| format!("policy {}", p.display()))
        }
    }
}

/// A `--*-cache DIR|off` flag: that directory, none for `off`, else the user's cache directory for `what`
/// ([`ccgpu_fetch::cache_dir`]).
pub fn cache_flag(flag: Option<&str>, what: &str) -> Option<PathBuf> {
    match flag {
        Some("off") => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => ccgpu_fetch::cache_dir(what),
    }
}
