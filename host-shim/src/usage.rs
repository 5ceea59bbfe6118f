//! Is a GPU still in use on the host? Open `/dev/nvidiaN` handles.
//!
//! Unbinding the NVIDIA driver from a GPU that a process still holds blocks in the kernel until the
//! handle is closed, so prepare checks first and fails that claim alone, naming the holders, after a
//! bounded wait. [`ProcUsage`] reads the GPU's minor number from
//! `<proc>/driver/nvidia/gpus/<bdf>/information` and finds every `<proc>/<pid>/fd/*` that is that
//! character device (compared by device number, not by path, so mount namespaces do not fool it).
//! A process that exits while we look is skipped; any other unreadable `/proc` entry is an error, because
//! "could not look" must not read as "not in use".

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use ccgpu_pci::{PciAddress, PciDevice};
use serde::Serialize;

/// The character-device major number of `/dev/nvidia*`.
pub const NVIDIA_MAJOR: u32 = 195;

/// A process holding a GPU open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Its `comm`.
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {})", self.command, self.pid)
    }
}

/// Could not tell whether a GPU is in use.
#[derive(Debug, thiserror::Error)]
#[error("checking whether {address} is in use: reading {path}")]
pub struct UsageError {
    /// The GPU.
    pub address: PciAddress,
    /// What could not be read.
    pub path: PathBuf,
    /// OS error.
    #[source]
    pub source: io::Error,
}

/// Who holds a device open.
pub trait DeviceUsage: Send + Sync + fmt::Debug {
    /// Processes holding `device` open now (empty: free).
    fn holders(&self, device: &PciDevice) -> Result<Vec<Holder>, UsageError>;
}

/// Open-handle scan over a procfs root.
#[derive(Debug, Clone)]
pub struct ProcUsage {
    proc_root: PathBuf,
    major: u32,
}

impl ProcUsage {
    /// A scanner of `proc_root` (normally `/proc`) for `/dev/nvidiaN` (major [`NVIDIA_MAJOR`]).
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self { proc_root: proc_root.into(), major: NVIDIA_MAJOR }
    }

    /// The same with another character-device major (tests point it at `/dev/null`'s).
    pub fn with_major(proc_root: impl Into<PathBuf>, major: u32) -> Self {
        Self { proc_root: proc_root.into(), major }
    }

    fn minor_of(&self, address: PciAddress) -> Result<Option<u32>, UsageError> {
        let path = self.proc_root.join("driver/nvidia/gpus").join(address.to_string()).join("information");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(UsageError { address, path, source }),
        };
        let minor = text.lines().find_map(|l| l.strip_prefix("Device Minor:")).and_then(|v| v.trim().parse().ok());
        match minor {
            Some(m) => Ok(Some(m)),
            None => Err(UsageError {
                address,
                path,
                source: io::Error::new(io::ErrorKind::InvalidData, "no \"Device Minor:\" line"),
            }),
        }
    }
}

/// Linux's `dev_t` encoding (glibc `gnu_dev_major`/`gnu_dev_minor`).
fn major_minor(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

fn vanished(e: &io::Error) -> bool {
    // ENOENT: the process or fd is gone; ESRCH: the process is exiting.
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3)
}

impl DeviceUsage for ProcUsage {
    fn holders(&self, device: &PciDevice) -> Result<Vec<Holder>, UsageError> {
        let address = device.address;
        if device.driver.as_ref().is_none_or(|d| d.as_str() != "nvidia") {
            return Ok(Vec::new());
        }
        let Some(minor) = self.minor_of(address)? else { return Ok(Vec::new()) };
        let want = (u64::from(self.major), u64::from(minor));
        let err = |path: &Path| {
            let path = path.to_owned();
            move |source| UsageError { address, path, source }
        };
        let mut holders = Vec::new();
        for entry in fs::read_dir(&self.proc_root).map_err(err(&self.proc_root))? {
            let entry = entry.map_err(err(&self.proc_root))?;
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let fd_dir = entry.path().join("fd");
            let fds = match fs::read_dir(&fd_dir) {
                Ok(fds) => fds,
                Err(e) if vanished(&e) => continue,
                Err(e) => return Err(err(&fd_dir)(e)),
            };
            let mut holds = false;
            for fd in fds {
                let fd = match fd {
                    Ok(fd) => fd,
                    Err(e) if vanished(&e) => continue,
                    Err(e) => return Err(err(&fd_dir)(e)),
                };
                let meta = match fs::metadata(fd.path()) {
                    Ok(m) => m,
                    Err(e) if vanished(&e) => continue,
                    Err(e) => return Err(err(&fd.path())(e)),
                };
                if meta.file_type().is_char_device() && major_minor(meta.rdev()) == want {
                    holds = true;
                    break;
                }
            }
            if holds {
                let command = fs::read_to_string(entry.path().join("comm")).unwrap_or_default().trim().to_owned();
                holders.push(Holder { pid, command });
            }
        }
        Ok(holders)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::test_fixtures::h100;

    fn gpu(driver: &str) -> PciDevice {
        h100("0000:3b:00.0", Some(driver))
    }

    /// A fake procfs where pid 42 holds `/dev/null` (1:3) open, standing in for `/dev/nvidia3`.
    #[test]
    fn finds_holders_by_device_number() {
        let proc = tempfile::tempdir().expect("temp dir");
        let info = proc.path().join("driver/nvidia/gpus/0000:3b:00.0");
        fs::create_dir_all(&info).expect("mkdir");
        fs::write(info.join("information"), "Model: H100\nDevice Minor: 3\n").expect("write");
        for (pid, target) in [(42, "/dev/null"), (43, "/dev/zero")] {
            let fd = proc.path().join(format!("{pid}/fd"));
            fs::create_dir_all(&fd).expect("mkdir");
            symlink(target, fd.join("7")).expect("link");
            fs::write(proc.path().join(format!("{pid}/comm")), "python3\n").expect("write");
        }
        fs::create_dir_all(proc.path().join("self")).expect("not a pid: skipped");
        let usage = ProcUsage::with_major(proc.path(), 1);
        let holders = usage.holders(&gpu("nvidia")).expect("scan");
        assert_eq!(holders, vec![Holder { pid: 42, command: "python3".into() }]);
        assert!(usage.holders(&gpu("vfio-pci")).expect("scan").is_empty(), "only the nvidia driver has users");
    }

    #[test]
    fn a_malformed_information_file_is_an_error() {
        let proc = tempfile::tempdir().expect("temp dir");
        let info = proc.path().join("driver/nvidia/gpus/0000:3b:00.0");
        fs::create_dir_all(&info).expect("mkdir");
        fs::write(info.join("information"), "garbage\n").expect("write");
        assert!(ProcUsage::new(proc.path()).holders(&gpu("nvidia")).is_err());
    }

    #[test]
    fn dev_t_decoding() {
        // makedev(195, 3) and makedev(259, 70000) in glibc's encoding.
        assert_eq!(major_minor((195 << 8) | 3), (195, 3));
        let (major, minor) = (259u64, 70000u64);
        let rdev = ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12);
        assert_eq!(major_minor(rdev), (259, 70000));
    }
}
