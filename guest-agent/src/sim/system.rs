//! [`SimSystem`]: a simulated [`SystemOps`] that records every call and injects failures, without
//! sleeping: a "hang" is reported as the timeout it would end in, so tests never wait for it.
//!
//! Loading `nvidia` runs the `on_driver_load` hook, which binds the GPUs on the simulated bus (as the
//! kernel's probe would) — unless [`SysFault::DriverNeverBinds`].

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::system::{CommandError, SystemOps};

/// An injected system fault (persistent until cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysFault {
    /// `modprobe <module>` exits 1 with this stderr.
    ModprobeFails {
        /// The module.
        module: String,
        /// Its stderr.
        stderr: String,
    },
    /// `modprobe <module>` does not finish within its bound.
    ModprobeHangs {
        /// The module.
        module: String,
    },
    /// The module loads but no GPU binds to it.
    DriverNeverBinds,
    /// `nvidia-persistenced` exits 1 with this stderr.
    PersistencedFails(String),
    /// `nvidia-persistenced` never reports ready within its bound.
    PersistencedNeverReady,
    /// `nvidia-persistenced` dies after starting.
    PersistencedDies,
}

/// A recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysCall {
    /// `modprobe` with its parameters and bound.
    Modprobe {
        /// The module.
        module: String,
        /// Its parameters.
        params: Vec<String>,
        /// The bound it was given.
        timeout: Duration,
    },
    /// `nvidia-persistenced` start with its bound.
    Persistenced {
        /// `--uvm-persistence-mode`.
        uvm: bool,
        /// The bound it was given.
        timeout: Duration,
    },
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<SysFault>,
    calls: Vec<SysCall>,
    persistenced_running: bool,
}

/// The simulated system.
pub struct SimSystem {
    state: Mutex<State>,
    on_driver_load: Box<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for SimSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimSystem").field("state", &self.state).finish_non_exhaustive()
    }
}

impl SimSystem {
    /// A system whose `modprobe nvidia` runs `on_driver_load`.
    pub fn new(on_driver_load: impl Fn() + Send + Sync + 'static) -> Self {
        Self { state: Mutex::new(State::default()), on_driver_load: Box::new(on_driver_load) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Injects a fault.
    pub fn inject(&self, fault: SysFault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<SysCall> {
        self.lock().calls.clone()
    }
}

impl SystemOps for SimSystem {
    fn modprobe(&self, module: &str, params: &[String], timeout: Duration) -> Result<(), CommandError> {
        let command = format!("modprobe {module} {}", params.join(" ")).trim_end().to_owned();
        let bind = {
            let mut s = self.lock();
            s.calls.push(SysCall::Modprobe { module: module.to_owned(), params: params.to_vec(), timeout });
            for f in &s.faults {
                match f {
                    SysFault::ModprobeFails { module: m, stderr } if m == module => {
                        return Err(CommandError::Failed {
                            command,
                            status: "exit status: 1".into(),
                            stderr: stderr.clone(),
                        });
                    }
                    SysFault::ModprobeHangs { module: m } if m == module => {
                        return Err(CommandError::TimedOut { command, after: timeout, stderr: String::new() });
                    }
                    _ => {}
                }
            }
            module == "nvidia" && !s.faults.contains(&SysFault::DriverNeverBinds)
        };
        if bind {
            (self.on_driver_load)();
        }
        Ok(())
    }

    fn start_persistenced(&self, uvm_persistence: bool, timeout: Duration) -> Result<(), CommandError> {
        let mut s = self.lock();
        s.calls.push(SysCall::Persistenced { uvm: uvm_persistence, timeout });
        let command = "nvidia-persistenced --verbose".to_owned();
        for f in &s.faults {
            match f {
                SysFault::PersistencedFails(stderr) => {
                    return Err(CommandError::Failed {
                        command,
                        status: "exit status: 1".into(),
                        stderr: stderr.clone(),
                    });
                }
                SysFault::PersistencedNeverReady => {
                    return Err(CommandError::TimedOut { command, after: timeout, stderr: String::new() });
                }
                _ => {}
            }
        }
        s.persistenced_running = true;
        Ok(())
    }

    fn persistenced_alive(&self) -> Result<bool, CommandError> {
        let s = self.lock();
        Ok(s.persistenced_running && !s.faults.contains(&SysFault::PersistencedDies))
    }
}
