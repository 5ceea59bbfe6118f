//! Test-only helpers shared by every ccgpu crate.
//!
//! The real evidence (H100 reports, NVIDIA RIMs, SEV-SNP reports) lives beside the project in
//! `../shared/testdata`, not in this repository. Every test finds it through [`testdata`], so there is one
//! rule for all of them:
//!
//! - `CCGPU_TESTDATA=<dir>` overrides the location;
//! - when the data is absent, a test is skipped with a message on stderr — **except under `CI=true`**,
//!   where missing data is a failure, so CI can never pass by silently testing nothing;
//! - a file that is missing while the data root exists is always a failure (a broken test, not an absent
//!   data set);
//! - every skip is announced through [`skip`], which also appends the test's name to the file named by
//!   `CCGPU_SKIP_LOG` when set: cargo hides a passing test's stderr, so `ci/test.sh` counts that file and
//!   ends with one line saying how many tests skipped and how to provide the data.

use std::path::{Path, PathBuf};

pub mod http;

/// Environment variable that overrides where the shared test data is.
pub const TESTDATA_ENV: &str = "CCGPU_TESTDATA";

/// The shared test-data root: `$CCGPU_TESTDATA`, else the first `shared/testdata` found walking up from
/// the package under test (cargo sets `CARGO_MANIFEST_DIR` when it runs a test) or the current directory
/// — in a checkout that is `<workspace>/../shared/testdata`. Found at run time, not baked in at compile
/// time, so a test binary built in one checkout never looks into another.
pub fn testdata_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(TESTDATA_ENV) {
        return PathBuf::from(dir);
    }
    let starts = [std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from), std::env::current_dir().ok()];
    for start in starts.into_iter().flatten() {
        if let Some(found) = start.ancestors().map(|a| a.join("shared/testdata")).find(|p| p.is_dir()) {
            return found;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata")
}

/// Environment variable naming a file each skipped test appends one line to (see [`skip`]).
pub const SKIP_LOG_ENV: &str = "CCGPU_SKIP_LOG";

/// Announces that the current test is skipped, `why`: on stderr, and as one line `<test>: <why>` appended
/// to `$CCGPU_SKIP_LOG` when that is set (a failure to append is reported on stderr, never fatal).
pub fn skip(why: &str) {
    record_skip(std::env::var_os(SKIP_LOG_ENV).map(PathBuf::from).as_deref(), why);
}

/// [`skip`] with the log file given.
fn record_skip(log: Option<&Path>, why: &str) {
    let name = std::thread::current().name().unwrap_or("(unnamed test)").to_owned();
    eprintln!("skipping {name}: {why}");
    if let Some(log) = log {
        let line = format!("{name}: {why}\n");
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        if let Err(e) = appended {
            eprintln!("could not record the skip in {}: {e}", log.display());
        }
    }
}

/// True when running under CI (`CI=true` or `CI=1`), where absent test data fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The path of `rel` under the shared test-data root, or `None` when the data set is absent and the
/// caller should skip.
///
/// # Panics
/// When the data set is absent under CI, or when the root exists but `rel` does not.
pub fn testdata(rel: &str) -> Option<PathBuf> {
    let root = testdata_root();
    if !root.is_dir() {
        assert!(
            !in_ci(),
            "shared test data not found at {} (set {TESTDATA_ENV}); under CI=true this is a failure",
            root.display()
        );
        skip(&format!("shared test data not found at {} (set {TESTDATA_ENV})", root.display()));
        return None;
    }
    let path = root.join(rel);
    assert!(path.exists(), "test data {} is missing from {}", rel, root.display());
    Some(path)
}

/// Reads a whole file of the shared test data (see [`testdata`]).
///
/// # Panics
/// As [`testdata`], and when the file cannot be read.
pub fn read_testdata(rel: &str) -> Option<Vec<u8>> {
    let path = testdata(rel)?;
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())))
}

/// `let path = require_testdata!("nvidia/roots");` — the path, or return from the test (skip) when the
/// shared data is absent outside CI.
#[macro_export]
macro_rules! require_testdata {
    ($rel:expr) => {
        match $crate::testdata($rel) {
            Some(path) => path,
            None => return,
        }
    };
}

/// `let bytes = require_testdata_bytes!("nvidia/h100-550.90.07/nonce.hex");` — the file's bytes, or
/// return from the test (skip) when the shared data is absent outside CI.
#[macro_export]
macro_rules! require_testdata_bytes {
    ($rel:expr) => {
        match $crate::read_testdata($rel) {
            Some(bytes) => bytes,
            None => return,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_recorded_with_the_test_name() {
        let log = std::env::temp_dir().join(format!("ccgpu-skip-log-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&log);
        record_skip(Some(&log), "no data here");
        let text = std::fs::read_to_string(&log).expect("log written");
        assert!(text.contains("a_skip_is_recorded_with_the_test_name: no data here"), "{text}");
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn root_points_beside_the_workspace() {
        if std::env::var_os(TESTDATA_ENV).is_none() {
            assert!(testdata_root().ends_with("shared/testdata"));
        }
    }
}
