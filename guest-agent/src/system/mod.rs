//! The operating-system side effects of bring-up, behind one narrow trait: loading kernel modules and
//! running `nvidia-persistenced`.
//!
//! [`SystemOps`] has a real implementation ([`HostSystem`]: `std::process` with a timeout on every
//! command, stderr captured into the error) and a simulated one (`crate::sim::SimSystem`) that injects
//! failures. Nothing here decides anything: the bring-up in [`crate::bringup`] chooses the modules, the
//! parameters and the bounds.

mod command;
mod host;

use std::fmt;
use std::time::Duration;

use thiserror::Error;

pub use host::{HostPaths, HostSystem};

/// Most stderr bytes kept in an error (the tail: the end of a message says what went wrong).
pub const STDERR_TAIL: usize = 4096;

/// An external command that failed. The command line and its stderr are part of the message.
#[derive(Debug, Error)]
pub enum CommandError {
    /// It could not be started.
    #[error("{command}: could not be started")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It did not finish in time and was killed.
    #[error("{command}: no result after {after:?}, killed{}", stderr_suffix(stderr))]
    TimedOut {
        /// The command line.
        command: String,
        /// The bound it ran under.
        after: Duration,
        /// The tail of what it wrote to stderr.
        stderr: String,
    },
    /// It exited unsuccessfully.
    #[error("{command}: {status}{}", stderr_suffix(stderr))]
    Failed {
        /// The command line.
        command: String,
        /// Exit status as the OS reports it.
        status: String,
        /// The tail of what it wrote to stderr.
        stderr: String,
    },
    /// Waiting for it failed.
    #[error("{command}: waiting for it failed")]
    Wait {
        /// The command line.
        command: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A daemon reported success but what it provides is not there.
    #[error("{what}")]
    NotReady {
        /// What is missing.
        what: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() { String::new() } else { format!("; stderr: {s}") }
}

impl CommandError {
    /// Short name of the failure kind, for status and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Spawn { .. } => "spawn",
            Self::TimedOut { .. } => "timeout",
            Self::Failed { .. } => "exit-status",
            Self::Wait { .. } => "wait",
            Self::NotReady { .. } => "not-ready",
        }
    }
}

/// Loading modules and running the persistence daemon.
pub trait SystemOps: Send + Sync + fmt::Debug {
    /// `modprobe <module> <params…>`, bounded by `timeout`.
    fn modprobe(&self, module: &str, params: &[String], timeout: Duration) -> Result<(), CommandError>;

    /// Starts `nvidia-persistenced` and returns once it has initialised its RPC service (the launcher
    /// exits 0 only after the daemon reports its initialisation complete), bounded by `timeout`.
    fn start_persistenced(&self, uvm_persistence: bool, timeout: Duration) -> Result<(), CommandError>;

    /// Whether the daemon started by [`SystemOps::start_persistenced`] is still running and serving.
    fn persistenced_alive(&self) -> Result<bool, CommandError>;
}
