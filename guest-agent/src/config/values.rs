//! The settings both sources carry — the kernel command line as `ccgpu.KEY=VALUE`, the configuration file
//! as `KEY = value` — their names, how the two are merged, and how each value parses into its [`Config`]
//! field within its bounds.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::error::ConfigError;
use super::settings::{Config, KATA_AGENT_VSOCK_PORT, MAX_RESCAN_S};

/// The keys that may appear on the command line (after `ccgpu.`) and in the file.
pub(super) const SHARED_KEYS: [&str; 13] = [
    "mode",
    "on_failure",
    "vsock_port",
    "expect_gpus",
    "cpu_tee",
    "sev_guest",
    "snp_vmpl",
    "log",
    "rim_dir",
    "uvm_persistence",
    "wait_base_s",
    "wait_per_gpu_s",
    "rescan_s",
];

/// The file's shared settings with the command line's `params` added. A key given in both places must
/// have the same value in both.
pub(super) fn merge(
    mut file: BTreeMap<&'static str, String>,
    params: BTreeMap<String, String>,
) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    for (key, value) in params {
        let Some(key) = SHARED_KEYS.iter().copied().find(|k| *k == key) else {
            return Err(ConfigError::UnknownParameter(format!("ccgpu.{key}")));
        };
        match file.get(key) {
            Some(first) if *first != value => {
                return Err(ConfigError::Conflict { key: key.to_owned(), first: first.clone(), second: value });
            }
            _ => {
                file.insert(key, value);
            }
        }
    }
    Ok(file)
}

/// Sets the field of `config` that shared key `k` names to `v`, parsed and within its bounds.
pub(super) fn apply(config: &mut Config, k: &str, v: &str) -> Result<(), ConfigError> {
    match k {
        "mode" => config.mode = v.parse().map_err(|e: String| ConfigError::invalid(k, v, e))?,
        "on_failure" => config.on_failure = v.parse().map_err(|e: String| ConfigError::invalid(k, v, e))?,
        "vsock_port" => {
            let port: u32 = parse_num(k, v)?;
            if port == KATA_AGENT_VSOCK_PORT {
                return Err(ConfigError::invalid(k, v, "port 1024 is the Kata agent's"));
            }
            config.vsock_port = port;
        }
        "expect_gpus" => config.expect_gpus = Some(parse_num(k, v)?),
        "cpu_tee" => config.cpu_tee = v.parse().map_err(|e: String| ConfigError::invalid(k, v, e))?,
        "sev_guest" => config.sev_guest = parse_path(k, v)?,
        "snp_vmpl" => {
            let vmpl: u32 = parse_num(k, v)?;
            if vmpl > 3 {
                return Err(ConfigError::invalid(k, v, "VMPL is 0 to 3"));
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
                return Err(ConfigError::invalid(k, v, format!("expected 1 to {MAX_RESCAN_S} seconds")));
            }
            config.rescan = Duration::from_secs(secs);
        }
        _ => return Err(ConfigError::UnknownParameter(format!("ccgpu.{k}"))),
    }
    Ok(())
}

/// An absolute path.
pub(super) fn parse_path(key: &str, v: &str) -> Result<PathBuf, ConfigError> {
    if v.is_empty() || !v.starts_with('/') {
        return Err(ConfigError::invalid(key, v, "expected an absolute path"));
    }
    Ok(PathBuf::from(v))
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(ConfigError::invalid(key, v, "expected on/off, true/false, yes/no or 1/0")),
    }
}

fn parse_num<T: FromStr>(key: &str, v: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    v.parse().map_err(|e| ConfigError::invalid(key, v, e))
}
