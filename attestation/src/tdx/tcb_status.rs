//! Intel's TCB statuses (TCB info and QE identity levels) and how two of them combine: the platform's and
//! the QE's statuses merge into the worse one, with the union of their advisory ids, as Intel's QVL does.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A TCB level's status, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TcbStatus {
    /// The platform is patched.
    UpToDate,
    /// Patched; software mitigations are needed.
    SWHardeningNeeded,
    /// Patched; a platform configuration change is needed.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// Not patched: known vulnerabilities (see the advisory ids).
    OutOfDate,
    /// Not patched, and a configuration change is needed.
    OutOfDateConfigurationNeeded,
    /// The TCB level's keys are revoked.
    Revoked,
}

impl TcbStatus {
    /// Intel's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::Revoked => "Revoked",
        }
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A status with the advisories that explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcbVerdict {
    /// The status.
    pub status: TcbStatus,
    /// Intel advisory ids (`INTEL-SA-…`), in the order the collateral lists them.
    pub advisory_ids: Vec<String>,
}

impl TcbVerdict {
    /// The worse of the two statuses, with the union of the advisories.
    pub fn merge(mut self, other: &Self) -> Self {
        self.status = self.status.max(other.status);
        for id in &other.advisory_ids {
            if !self.advisory_ids.contains(id) {
                self.advisory_ids.push(id.clone());
            }
        }
        self
    }
}

impl fmt::Display for TcbVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.advisory_ids.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{} ({})", self.status, self.advisory_ids.join(", "))
        }
    }
}
