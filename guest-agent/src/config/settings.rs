//! The effective configuration, [`Config`]: every setting with its type, default and bounds, whichever
//! source (kernel command line or configuration file) set it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ccgpu_attestation::Policy;
use serde::Deserialize;

use super::keys::EarKey;

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

/// Which CPU TEE interface the agent asks for its report. `auto` (the default) detects it: configfs TSM
/// when the kernel offers `/sys/kernel/config/tsm/report` (Linux ≥ 6.7; the TEE kind is read from the
/// entry's `provider`), else the SEV-SNP guest device. Forcing one is for a kernel whose configfs TSM
/// misbehaves, or a test; it is measured like every other setting, and nothing from the host selects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuTeeChoice {
    /// Configfs TSM when present, else the SEV-SNP guest device.
    #[default]
    Auto,
    /// Configfs TSM only.
    Configfs,
    /// The SEV-SNP guest device (`sev_guest`) only.
    SevGuest,
}

impl CpuTeeChoice {
    /// `auto`, `configfs` or `sev-guest`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Configfs => "configfs",
            Self::SevGuest => "sev-guest",
        }
    }
}

impl FromStr for CpuTeeChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "configfs" => Ok(Self::Configfs),
            "sev-guest" => Ok(Self::SevGuest),
            _ => Err("expected auto, configfs or sev-guest".into()),
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
    /// The P-384 public key that signs the relying party's EAR JWTs.
    pub key: EarKey,
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
    /// Which CPU TEE interface to use (detected by default).
    pub cpu_tee: CpuTeeChoice,
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
            cpu_tee: CpuTeeChoice::Auto,
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
