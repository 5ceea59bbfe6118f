//! The kernel command line: the `ccgpu.*` parameters, and the configuration file they name with how it
//! is to be trusted.
//!
//! Trusted because it is measured with the kernel (SEV-SNP measured direct boot hashes it into the launch
//! measurement). Words are split as the kernel splits them; anything not starting with `ccgpu.` belongs
//! to someone else and is ignored.

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::file::FileRef;
use super::values::{SHARED_KEYS, parse_path};

/// Largest kernel command line read (the kernel's own limit is a few KiB).
pub(super) const MAX_CMDLINE: u64 = 64 * 1024;
/// Keys only the command line carries: the file, its pin, its trust.
const CMDLINE_ONLY: [&str; 3] = ["config", "config_sha384", "config_trust"];

/// A command line, parsed.
#[derive(Debug)]
pub(super) struct Cmdline {
    /// The shared settings it gives, by key without the prefix.
    pub(super) params: BTreeMap<String, String>,
    /// The configuration file it names, if any.
    pub(super) file: Option<FileRef>,
}

impl Cmdline {
    /// The `ccgpu.*` parameters of `text`. Unknown keys, keys given twice, a pin or trust without a file
    /// and a trust other than `rootfs` are errors.
    pub(super) fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut params = cmdline_params(text)?;
        let pin = params.remove("config_sha384");
        let trust = params.remove("config_trust");
        let path = match params.remove("config") {
            None if pin.is_some() => return Err(ConfigError::PinWithoutFile("config_sha384")),
            None if trust.is_some() => return Err(ConfigError::PinWithoutFile("config_trust")),
            None => return Ok(Self { params, file: None }),
            Some(path) => parse_path("ccgpu.config", &path)?,
        };
        let on_rootfs = match trust.as_deref() {
            None => false,
            Some("rootfs") => true,
            Some(other) => return Err(ConfigError::invalid("ccgpu.config_trust", other, "expected rootfs")),
        };
        Ok(Self { params, file: Some(FileRef { path, pin, on_rootfs }) })
    }
}

/// Splits a kernel command line into words the way the kernel does: whitespace separates, and double
/// quotes group (`ccgpu.log="/run/a b"`; the quotes are removed).
fn split_cmdline(text: &str) -> Vec<String> {
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
fn cmdline_params(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
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
    fn names_the_file_and_how_it_is_trusted() {
        let c = Cmdline::parse("quiet ccgpu.config=/etc/ccgpu/a.toml ccgpu.config_trust=rootfs ccgpu.mode=local")
            .expect("parses");
        assert_eq!(c.params.keys().collect::<Vec<_>>(), ["mode"]);
        let file = c.file.expect("a file");
        assert_eq!(file.path, std::path::Path::new("/etc/ccgpu/a.toml"));
        assert!(file.on_rootfs && file.pin.is_none());
        assert!(Cmdline::parse("ccgpu.config=relative.toml").is_err());
    }
}
