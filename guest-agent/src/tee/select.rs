//! [`CpuTeeDevice`]: which CPU TEE interface the agent uses, chosen from what the guest kernel offers.
//!
//! Detection (`cpu_tee = auto`): configfs TSM when its report root exists (Linux ≥ 6.7; the TEE kind is
//! then read from each entry's `provider`, never configured), else the SEV-SNP guest device when it
//! exists, else none (and the policy decides). The measured configuration may force one interface
//! (`configfs` or `sev-guest`); nothing from the host takes part. Trusts only the guest's own file
//! system for presence; the evidence itself is judged by the verifier.

use std::path::{Path, PathBuf};

use super::ioctl::SevGuestIoctl;
use super::{ConfigfsTsm, CpuReport, CpuTee, NoTee, SevGuest, TSM_REPORT_ROOT, TeeError};
use crate::config::{Config, CpuTeeChoice};

/// The CPU TEE interface in use.
#[derive(Debug)]
pub enum CpuTeeDevice {
    /// Configfs TSM reports.
    Configfs(ConfigfsTsm),
    /// The SEV-SNP guest device.
    SevGuest(SevGuest<SevGuestIoctl>),
    /// Neither exists.
    None(NoTee),
}

impl CpuTeeDevice {
    /// The interface the configuration chooses, configfs TSM looked for at [`TSM_REPORT_ROOT`].
    pub fn from_config(config: &Config) -> Self {
        Self::select(config.cpu_tee, Path::new(TSM_REPORT_ROOT), &config.sev_guest, config.snp_vmpl)
    }

    /// The interface `choice` picks, with configfs TSM at `tsm_root` and the guest device at `sev_guest`.
    pub fn select(choice: CpuTeeChoice, tsm_root: &Path, sev_guest: &Path, vmpl: u32) -> Self {
        let configfs = || Self::Configfs(ConfigfsTsm::new(tsm_root));
        let device = |p: &Path| Self::SevGuest(SevGuest::new(PathBuf::from(p), vmpl));
        match choice {
            CpuTeeChoice::Configfs => configfs(),
            CpuTeeChoice::SevGuest => device(sev_guest),
            CpuTeeChoice::Auto if tsm_root.is_dir() => configfs(),
            CpuTeeChoice::Auto if sev_guest.exists() => device(sev_guest),
            CpuTeeChoice::Auto => Self::None(NoTee),
        }
    }

    /// `configfs`, `sev-guest` or `none`, for the log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Configfs(_) => "configfs",
            Self::SevGuest(_) => "sev-guest",
            Self::None(_) => "none",
        }
    }

    fn inner(&self) -> &dyn CpuTee {
        match self {
            Self::Configfs(t) => t,
            Self::SevGuest(t) => t,
            Self::None(t) => t,
        }
    }
}

impl CpuTee for CpuTeeDevice {
    fn present(&self) -> bool {
        self.inner().present()
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<CpuReport, TeeError> {
        self.inner().report(report_data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configfs_is_preferred_then_the_guest_device_then_none() {
        let tmp = tempfile::tempdir().expect("tmp");
        let tsm = tmp.path().join("tsm/report");
        let dev = tmp.path().join("sev-guest");
        let pick = |c| CpuTeeDevice::select(c, &tsm, &dev, 0).name();
        assert_eq!(pick(CpuTeeChoice::Auto), "none");
        assert!(!CpuTeeDevice::select(CpuTeeChoice::Auto, &tsm, &dev, 0).present());
        std::fs::write(&dev, b"").expect("device");
        assert_eq!(pick(CpuTeeChoice::Auto), "sev-guest");
        std::fs::create_dir_all(&tsm).expect("configfs");
        assert_eq!(pick(CpuTeeChoice::Auto), "configfs");
        assert!(CpuTeeDevice::select(CpuTeeChoice::Auto, &tsm, &dev, 0).present());
        assert_eq!(pick(CpuTeeChoice::SevGuest), "sev-guest");
        std::fs::remove_dir(&tsm).expect("rm");
        // Forced configfs without the interface: it is used (and reports absent), not silently replaced.
        let forced = CpuTeeDevice::select(CpuTeeChoice::Configfs, &tsm, &dev, 0);
        assert_eq!(forced.name(), "configfs");
        assert!(!forced.present());
    }

    #[test]
    fn a_fake_configfs_tree_answers_through_the_selected_interface() {
        // A plain directory tree in configfs's place, with no kernel behind it: auto-detection picks it,
        // and the entry it makes never gains `generation` or `provider` — an error naming the entry,
        // never a report (the protocol against a fake kernel is tested in tsm.rs).
        let tmp = tempfile::tempdir().expect("tmp");
        let tsm = tmp.path().join("report");
        std::fs::create_dir_all(&tsm).expect("configfs");
        let t = CpuTeeDevice::select(CpuTeeChoice::Auto, &tsm, Path::new("/nonexistent"), 0);
        assert_eq!(t.name(), "configfs");
        let e = t.report(&[0; 64]).expect_err("no kernel behind the tree");
        assert!(e.to_string().contains("configfs TSM"), "{e}");
    }
}
