//! Crash-safe file writes and removals: temp file, `fsync`, `rename`, `fsync` of the directory.
//!
//! After [`write_atomic`] returns, the file holds the new content and survives a power cut; at any crash
//! point before that, it holds the old content (or is absent). Temp files left by a crash are named
//! `.<name>.tmp` and removed by [`remove_temps`]. Trusts the file system's rename atomicity.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A failed durable write or removal, with the path it concerned.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}")]
pub struct FileError {
    /// What was being done.
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

fn err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FileError {
    let path = path.to_owned();
    move |source| FileError { action, path, source }
}

fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

/// Writes `dir/name` atomically and durably. `name` must be a plain file name (callers build it from
/// validated parts).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), FileError> {
    debug_assert!(!name.contains('/') && !name.starts_with('.'), "file name {name:?}");
    let tmp = dir.join(temp_name(name));
    let target = dir.join(name);
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(err("creating", &tmp))?;
    f.write_all(bytes).map_err(err("writing", &tmp))?;
    f.sync_all().map_err(err("syncing", &tmp))?;
    drop(f);
    fs::rename(&tmp, &target).map_err(err("renaming into place", &target))?;
    sync_dir(dir)
}

/// Removes `dir/name` durably; absent already is fine (removal is idempotent).
pub fn remove_durable(dir: &Path, name: &str) -> Result<(), FileError> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FileError { action: "removing", path, source }),
    }
}

/// Removes temp files a crash left behind in `dir` for names accepted by `ours`.
pub fn remove_temps(dir: &Path, ours: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, FileError> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).map_err(err("listing", dir))? {
        let entry = entry.map_err(err("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else { continue };
        if ours(inner) {
            let path = entry.path();
            fs::remove_file(&path).map_err(err("removing temp file", &path))?;
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Creates `dir` (and parents) when missing.
pub fn ensure_dir(dir: &Path) -> Result<(), FileError> {
    fs::create_dir_all(dir).map_err(err("creating directory", dir))
}

fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(err("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replace_remove_and_clean_temps() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_atomic(dir.path(), "a.json", b"one").expect("write");
        write_atomic(dir.path(), "a.json", b"two").expect("replace");
        assert_eq!(fs::read(dir.path().join("a.json")).expect("read"), b"two");
        fs::write(dir.path().join(".a.json.tmp"), b"torn").expect("write");
        fs::write(dir.path().join(".other.tmp"), b"not ours").expect("write");
        let removed = remove_temps(dir.path(), |n| n.ends_with(".json")).expect("clean");
        assert_eq!(removed.len(), 1);
        assert!(dir.path().join(".other.tmp").exists());
        remove_durable(dir.path(), "a.json").expect("remove");
        remove_durable(dir.path(), "a.json").expect("removing twice is fine");
        assert!(!dir.path().join("a.json").exists());
    }

    #[test]
    fn failures_carry_the_path() {
        let e = write_atomic(Path::new("/nonexistent-ccgpu-dir"), "a.json", b"x").expect_err("no dir");
        assert!(e.path.starts_with("/nonexistent-ccgpu-dir"), "{e}");
    }
}
