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
//! | `ccgpu.cpu_tee=auto\|configfs\|sev-guest` | the CPU TEE interface: `auto` uses configfs TSM (`/sys/kernel/config/tsm/report`, Linux ≥ 6.7; TEE kind from its `provider`) when present, else the SEV-SNP guest device | `auto` |
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
//! `vsock_port`, `expect_gpus`, `cpu_tee`, `sev_guest`, `snp_vmpl`, `log`, `rim_dir`, `uvm_persistence`, `wait_base_s`,
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
//!
//! # Where each part lives
//!
//! `cmdline.rs` parses the kernel command line, and the file it names with how it is trusted; `file.rs`
//! checks that trust and reads the file; `keys.rs` parses the relying party's key ([`EarKey`]);
//! `values.rs` merges the settings both sources carry and parses each into `settings.rs`'s [`Config`];
//! `error.rs` holds [`ConfigError`]. This module puts them together ([`Config::load`]).

mod cmdline;
mod error;
mod file;
mod keys;
mod settings;
mod values;

use std::path::Path;

use self::cmdline::{Cmdline, MAX_CMDLINE};
pub use self::error::ConfigError;
pub use self::file::MAX_CONFIG_FILE;
use self::file::{ConfigFile, read_bounded};
pub use self::keys::{EarKey, KeyError};
pub use self::settings::{
    Config, CpuTeeChoice, DEFAULT_RESCAN, DEFAULT_VSOCK_PORT, KATA_AGENT_VSOCK_PORT, MAX_RESCAN_S, Mode, OnFailure,
    ROOTFS_CONFIG_DIRS, RemoteConfig, Waits,
};

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
        let cmdline = Cmdline::parse(text)?;
        let file = cmdline.file.as_ref().map(|f| f.read(rootfs_dirs)).transpose()?;
        let shared = file.as_ref().map(ConfigFile::shared).unwrap_or_default();
        let mut config = Config::default();
        for (key, value) in &values::merge(shared, cmdline.params)? {
            values::apply(&mut config, key, value)?;
        }
        if let Some(file) = file {
            if let Some(policy) = file.policy()? {
                config.policy = policy;
            }
            config.remote = file.remote()?;
            config.config_digest = Some(file.digest);
            config.config_path = Some(file.path);
        }
        if config.mode == Mode::Remote && config.remote.is_none() {
            return Err(ConfigError::RemoteMissing);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;
    use std::time::Duration;

    use ccgpu_attestation::Policy;

    use super::*;

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
    fn the_cpu_tee_is_detected_unless_forced() {
        assert_eq!(Config::from_cmdline("quiet").expect("config").cpu_tee, CpuTeeChoice::Auto);
        for (v, want) in [("configfs", CpuTeeChoice::Configfs), ("sev-guest", CpuTeeChoice::SevGuest)] {
            let c = Config::from_cmdline(&format!("ccgpu.cpu_tee={v}")).expect("config");
            assert_eq!((c.cpu_tee, c.cpu_tee.name()), (want, v));
        }
        let e = Config::from_cmdline("ccgpu.cpu_tee=tdx").expect_err("unknown");
        assert!(e.to_string().contains("cpu_tee"), "{e}");
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
        let digest = hex::encode(ccgpu_attestation::sha384(&fs::read(&path).expect("read")));
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
            let digest = hex::encode(ccgpu_attestation::sha384(text.as_bytes()));
            Config::from_cmdline(&format!("ccgpu.config={} ccgpu.config_sha384={digest}", path.display()))
        };
        assert!(matches!(pinned("[policy.gpu]\nallow_everything = true\n"), Err(ConfigError::Policy { .. })));
        assert!(matches!(pinned("skip_verification = true\n"), Err(ConfigError::File { .. })));
        // One policy file for SEV-SNP and TDX: a [policy.tdx] table is read, not refused.
        let both =
            pinned("[policy.snp]\nallow_debug = false\n[policy.tdx]\nallow_service_td = false\n").expect("snp+tdx");
        assert_eq!(both.policy.tdx, Some(ccgpu_attestation::TdxPolicy::default()));
        assert!(matches!(pinned("[policy.tdx]\nmrtd = 1\n"), Err(ConfigError::Policy { .. })));
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
        let digest = hex::encode(ccgpu_attestation::sha384(b"expect_gpus = 4\n"));
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
