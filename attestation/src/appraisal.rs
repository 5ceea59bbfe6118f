//! The typed result of a verification: every check with its outcome, and the verdict they imply.
//!
//! A verdict is [`Verdict::Affirming`] only when every check passed or was skipped because the policy
//! explicitly said so (e.g. OCSP off), and nothing was accepted merely because the policy tolerates it.
//! When every check passed but something was so tolerated (an unpinned launch measurement, a held or
//! unknown certificate status), the verdict is [`Verdict::Warning`]: not affirming, and reported as such
//! everywhere (text, JSON, EAR, exit status). A check that failed, or that could not run because an
//! earlier check failed, makes the verdict [`Verdict::Contraindicated`]: the verifier fails closed.

use std::fmt;
use std::hash::Hash;

use serde::Serialize;

/// One check of an appraisal: each kind of appraisal names its own checks in an enum declared with
/// `checks!` (`GpuCheck`, `SnpCheck`, `BundleCheck`), so adding a kind adds an enum, not a variant here.
///
/// A check serializes as its [`Check::name`]; checks order as their kind runs them.
pub trait Check: Copy + Eq + Ord + Hash + fmt::Debug + fmt::Display + Serialize + 'static {
    /// Stable kebab-case name (as in JSON output, logs and `failures`).
    fn name(self) -> &'static str;
}

/// Declares one kind's checks: an enum whose variants run in declaration order, each with its stable name
/// and a one-line description (its doc comment). The enum gets an inherent `name()`, [`Check`], `Display`
/// and `Serialize` (as the name), so a name is written once.
macro_rules! checks {
    (
        $(#[$meta:meta])*
        $vis:vis enum $kind:ident {
            $( $(#[$doc:meta])* $check:ident = $name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $kind {
            $( $(#[$doc])* $check, )+
        }

        impl $kind {
            /// Stable kebab-case name (as in JSON output, logs and `failures`).
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$check => $name, )+
                }
            }
        }

        impl $crate::appraisal::Check for $kind {
            fn name(self) -> &'static str {
                $kind::name(self)
            }
        }

        impl ::std::fmt::Display for $kind {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::serde::Serialize for $kind {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

pub(crate) use checks;

/// What happened to one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// The check passed; `detail` says what was established.
    Passed {
        /// What was established.
        detail: String,
    },
    /// The check failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// The check could not run because something it depends on failed.
    NotRun {
        /// What it was waiting for.
        reason: String,
    },
    /// The policy explicitly turned the check off.
    Skipped {
        /// Which policy setting.
        reason: String,
    },
}

impl Outcome {
    /// True for a pass.
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed { .. })
    }

    /// True when this outcome prevents an affirming verdict.
    pub fn blocks(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::NotRun { .. })
    }

    /// The detail or reason text.
    pub fn text(&self) -> &str {
        match self {
            Self::Passed { detail } => detail,
            Self::Failed { reason } | Self::NotRun { reason } | Self::Skipped { reason } => reason,
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult<C> {
    /// Which check.
    pub check: C,
    /// Its outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The overall verdict (EAR trust-tier names), ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed and nothing was accepted only because the policy tolerates it.
    Affirming,
    /// Every check passed, but the appraisal accepted something the policy tolerates without
    /// establishing it (its warnings say what). Not affirming: a gate must not release on it.
    Warning,
    /// At least one check failed or could not run.
    Contraindicated,
}

impl Verdict {
    /// `self`, lowered to [`Verdict::Warning`] when an otherwise affirming appraisal carries warnings.
    pub fn with_warnings(self, warned: bool) -> Self {
        match self {
            Self::Affirming if warned => Self::Warning,
            v => v,
        }
    }

    /// The worst of `verdicts` (affirming when there are none).
    pub fn worst(verdicts: impl IntoIterator<Item = Self>) -> Self {
        verdicts.into_iter().max().unwrap_or(Self::Affirming)
    }

    /// True only for [`Verdict::Affirming`].
    pub fn is_affirming(self) -> bool {
        self == Self::Affirming
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Affirming => "affirming",
            Self::Warning => "warning",
            Self::Contraindicated => "contraindicated",
        })
    }
}

/// An ordered list of one kind's check results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Checks<C>(Vec<CheckResult<C>>);

impl<C> Default for Checks<C> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<C: Check> Checks<C> {
    pub(crate) fn record(&mut self, check: C, outcome: Outcome) {
        debug_assert!(self.get(check).is_none(), "check {check} recorded twice");
        self.0.push(CheckResult { check, outcome });
    }

    pub(crate) fn pass(&mut self, check: C, detail: impl Into<String>) {
        self.record(check, Outcome::Passed { detail: detail.into() });
    }

    pub(crate) fn fail(&mut self, check: C, reason: impl Into<String>) {
        self.record(check, Outcome::Failed { reason: reason.into() });
    }

    pub(crate) fn not_run(&mut self, check: C, reason: impl Into<String>) {
        self.record(check, Outcome::NotRun { reason: reason.into() });
    }

    pub(crate) fn skip(&mut self, check: C, reason: impl Into<String>) {
        self.record(check, Outcome::Skipped { reason: reason.into() });
    }

    /// The outcome of `check`, if it was recorded.
    pub fn get(&self, check: C) -> Option<&Outcome> {
        self.0.iter().find(|r| r.check == check).map(|r| &r.outcome)
    }

    /// True when `check` was recorded and passed.
    pub fn passed(&self, check: C) -> bool {
        self.get(check).is_some_and(Outcome::passed)
    }

    /// Every result in order.
    pub fn iter(&self) -> impl Iterator<Item = &CheckResult<C>> {
        self.0.iter()
    }

    /// Checks that failed or could not run, in order.
    pub fn failures(&self) -> Vec<C> {
        self.0.iter().filter(|r| r.outcome.blocks()).map(|r| r.check).collect()
    }

    /// The verdict these outcomes imply on their own: affirming or contraindicated (warnings are the
    /// appraisal's to add, see [`Verdict::with_warnings`]).
    pub fn verdict(&self) -> Verdict {
        if !self.0.is_empty() && self.failures().is_empty() { Verdict::Affirming } else { Verdict::Contraindicated }
    }
}
