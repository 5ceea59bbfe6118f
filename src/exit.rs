//! The exit statuses of `ccgpu`, one enum for every command, and their description in `--help`.
//!
//! The numbers are stable: scripts and CI branch on them. A new status is a new variant with a number not
//! yet used; a new verdict makes [`Exit::from`] stop compiling until it is given its status, and the help
//! text lists every status from [`Exit::ALL`]. A `warning` verdict has its own status (3), never 0: a
//! script that releases on 0 releases only on `affirming`.

use std::fmt::Write as _;
use std::process::ExitCode;

use ccgpu_attestation::Verdict;

/// How `ccgpu` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The evidence is affirming (for commands without a verdict: they did what was asked).
    Affirming = 0,
    /// The evidence was read, but the verdict is not affirming.
    NotAffirming = 1,
    /// Unusable input: a missing file, unparsable data, a bad flag. The error chain is printed on stderr.
    UnusableInput = 2,
    /// Every check passed, but something was accepted only because the policy tolerates it (the
    /// warnings say what): not affirming.
    Warning = 3,
}

impl Exit {
    /// Every status, in the order `--help` lists them.
    pub const ALL: [Self; 4] = [Self::Affirming, Self::NotAffirming, Self::UnusableInput, Self::Warning];

    /// What the status means for a `verify` command, which can exit with every status.
    pub const fn verify(self) -> Option<&'static str> {
        Some(self.meaning())
    }

    /// The process exit status.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// What the status means for a `verify` command.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Affirming => "affirming",
            Self::NotAffirming => "evidence read but not affirming",
            Self::UnusableInput => "unusable input",
            Self::Warning => "warning: every check passed but the policy tolerated something (not affirming)",
        }
    }
}

impl From<Verdict> for Exit {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Affirming => Self::Affirming,
            Verdict::Warning => Self::Warning,
            Verdict::Contraindicated => Self::NotAffirming,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

/// `Exit status: 0 affirming; 1 …; 2 unusable input.`, with `meaning` saying what each status means for
/// the command, `None` for a status the command never exits with (use [`Exit::verify`] for a `verify`
/// command).
pub fn status_line(meaning: impl Fn(Exit) -> Option<&'static str>) -> String {
    let parts: Vec<String> =
        Exit::ALL.iter().filter_map(|e| meaning(*e).map(|m| format!("{} {m}", e.code()))).collect();
    format!("Exit status: {}.", parts.join("; "))
}

/// A command's long help: `about`, then its exit statuses.
pub fn with_status_line(about: &str, meaning: impl Fn(Exit) -> Option<&'static str>) -> String {
    format!("{about}\n\n{}", status_line(meaning))
}

/// The list under `ccgpu --help`.
pub fn status_table() -> String {
    let mut out = String::from("Exit status:\n");
    for e in Exit::ALL {
        let _ = writeln!(out, "  {}  {}", e.code(), e.meaning());
    }
    out.push_str("Each command's --help says what the statuses mean for it.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_are_stable() {
        assert_eq!(Exit::ALL.map(Exit::code), [0, 1, 2, 3]);
        assert_eq!(Exit::from(Verdict::Affirming), Exit::Affirming);
        assert_eq!(Exit::from(Verdict::Warning), Exit::Warning);
        assert_eq!(Exit::from(Verdict::Contraindicated), Exit::NotAffirming);
    }

    #[test]
    fn the_verify_line_reads_as_before() {
        assert_eq!(
            status_line(Exit::verify),
            "Exit status: 0 affirming; 1 evidence read but not affirming; 2 unusable input; 3 warning: every \
             check passed but the policy tolerated something (not affirming)."
        );
    }
}
