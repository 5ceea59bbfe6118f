//! [`HostSystem`]: the real [`SystemOps`] — `modprobe` and `nvidia-persistenced` run as processes, every
//! path a parameter ([`HostPaths`]).
//!
//! Readiness of `nvidia-persistenced` needs no log scraping: the launcher process forks the daemon and
//! exits 0 only once the daemon has set up its devices and its RPC socket (it waits on an init pipe), and
//! non-zero when that failed. So "the launcher exited 0 within the bound, and the socket exists" is
//! "ready"; liveness afterwards is the PID file's process still existing and the socket still there.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::command::run_with_timeout;
use super::{CommandError, SystemOps};

/// Where the host's programs and runtime files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// `modprobe`.
    pub modprobe: PathBuf,
    /// `nvidia-persistenced`.
    pub persistenced: PathBuf,
    /// The daemon's runtime directory (holds `socket` and `nvidia-persistenced.pid`).
    pub persistenced_run_dir: PathBuf,
    /// The proc file system.
    pub proc_root: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            modprobe: PathBuf::from("/sbin/modprobe"),
            persistenced: PathBuf::from("/usr/bin/nvidia-persistenced"),
            persistenced_run_dir: PathBuf::from("/var/run/nvidia-persistenced"),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// The real system.
#[derive(Debug, Clone, Default)]
pub struct HostSystem {
    paths: HostPaths,
}

impl HostSystem {
    /// A system using `paths`.
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }

    fn socket(&self) -> PathBuf {
        self.paths.persistenced_run_dir.join("socket")
    }

    fn pid(&self) -> Result<Option<u32>, CommandError> {
        let path = self.paths.persistenced_run_dir.join("nvidia-persistenced.pid");
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|_| CommandError::NotReady {
                what: format!("{} holds {:?}, not a process id", path.display(), text.trim()),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CommandError::NotReady { what: format!("reading {}: {e}", path.display()) }),
        }
    }
}

impl SystemOps for HostSystem {
    fn modprobe(&self, module: &str, params: &[String], timeout: Duration) -> Result<(), CommandError> {
        let mut cmd = Command::new(&self.paths.modprobe);
        cmd.arg(module).args(params);
        run_with_timeout(&mut cmd, timeout).map(|_| ())
    }

    fn start_persistenced(&self, uvm_persistence: bool, timeout: Duration) -> Result<(), CommandError> {
        // The daemon creates its runtime directory itself; creating it first only makes the daemon keep it.
        let mut cmd = Command::new(&self.paths.persistenced);
        cmd.arg("--verbose");
        if uvm_persistence {
            cmd.arg("--uvm-persistence-mode");
        }
        run_with_timeout(&mut cmd, timeout)?;
        if !self.socket().exists() {
            return Err(CommandError::NotReady {
                what: format!("nvidia-persistenced reported success but {} does not exist", self.socket().display()),
            });
        }
        Ok(())
    }

    fn persistenced_alive(&self) -> Result<bool, CommandError> {
        let Some(pid) = self.pid()? else { return Ok(false) };
        Ok(self.paths.proc_root.join(pid.to_string()).exists() && self.socket().exists())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `nvidia-persistenced` (a shell script) and fake `modprobe`, in a temporary root.
    fn fixture(persistenced: &str) -> (tempfile::TempDir, HostSystem) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("run");
        let script = dir.path().join("nvidia-persistenced");
        fs::write(&script, format!("#!/bin/sh\nRUN={}\n{persistenced}\n", run.display())).expect("write");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        let modprobe = dir.path().join("modprobe");
        fs::write(&modprobe, "#!/bin/sh\n[ \"$1\" = nvidia ] && [ \"$2\" = NVreg_NvLinkDisable=1 ] && exit 0\necho \"modprobe: FATAL: Module $1 not found\" >&2\nexit 1\n")
            .expect("write");
        fs::set_permissions(&modprobe, fs::Permissions::from_mode(0o755)).expect("chmod");
        let sys = HostSystem::new(HostPaths {
            modprobe,
            persistenced: script,
            persistenced_run_dir: run,
            proc_root: PathBuf::from("/proc"),
        });
        (dir, sys)
    }

    #[test]
    fn modprobe_passes_parameters_and_reports_stderr() {
        let (_dir, sys) = fixture("exit 0");
        sys.modprobe("nvidia", &["NVreg_NvLinkDisable=1".into()], Duration::from_secs(30)).expect("loads");
        let err = sys.modprobe("nvidia-uvm", &[], Duration::from_secs(30)).expect_err("fails");
        assert!(err.to_string().contains("Module nvidia-uvm not found"), "{err}");
    }

    #[test]
    fn persistenced_is_ready_when_the_launcher_succeeds_and_the_socket_exists() {
        let (_dir, sys) =
            fixture("mkdir -p $RUN && touch $RUN/socket && echo $$ > $RUN/nvidia-persistenced.pid && exit 0");
        sys.start_persistenced(true, Duration::from_secs(30)).expect("ready");
        // The launcher has exited, so its PID is gone: the daemon is not alive.
        assert!(!sys.persistenced_alive().expect("liveness"));
    }

    #[test]
    fn persistenced_failures_are_reported() {
        let (_dir, sys) = fixture("echo 'Failed to query NVIDIA devices' >&2; exit 1");
        let err = sys.start_persistenced(true, Duration::from_secs(30)).expect_err("fails");
        assert!(err.to_string().contains("Failed to query NVIDIA devices"), "{err}");
        let (_dir, sys) = fixture("exit 0");
        assert_eq!(sys.start_persistenced(false, Duration::from_secs(30)).expect_err("no socket").kind(), "not-ready");
        let (_dir, sys) = fixture("exec sleep 30");
        assert_eq!(sys.start_persistenced(true, Duration::from_millis(200)).expect_err("hangs").kind(), "timeout");
    }
}
