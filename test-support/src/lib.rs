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
//!   data set).

use std::path::{Path, PathBuf};

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
        eprintln!("skipping: shared test data not found at {} (set {TESTDATA_ENV})", root.display());
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
    fn root_points_beside_the_workspace() {
        if std::env::var_os(TESTDATA_ENV).is_none() {
            assert!(testdata_root().ends_with("shared/testdata"));
        }
    }
}
