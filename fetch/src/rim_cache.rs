//! [`RimCache`]: RIM documents on disk, by digest (`sha384/<hex>.xml`) and by id (`id/<id>` holding the
//! digest), written atomically (temporary file, then rename), so a crash leaves the old entry or the new
//! one. A hit is re-hashed: a document whose bytes no longer match its name is ignored and fetched again.
//!
//! Trusts: nothing in the directory; a cached RIM is verified by the appraisal like any other.

use std::io;
use std::path::{Path, PathBuf};

use ccgpu_attestation::{MAX_RIM_LEN, is_safe_rim_id, sha384};

/// RIM documents cached on disk.
#[derive(Debug, Clone)]
pub struct RimCache {
    dir: PathBuf,
}

impl RimCache {
    /// A cache in `dir` (created on the first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The document cached for `id`, when there is one whose bytes still hash to its recorded digest.
    pub fn get(&self, id: &str) -> Option<Vec<u8>> {
        if !is_safe_rim_id(id) {
            return None;
        }
        let digest = std::fs::read_to_string(self.dir.join("id").join(id)).ok()?;
        let digest = digest.trim();
        if digest.len() != 96 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.by_digest(digest)
    }

    /// The document with this SHA-384 (hex), when cached intact.
    pub fn by_digest(&self, digest_hex: &str) -> Option<Vec<u8>> {
        let path = self.dir.join("sha384").join(format!("{}.xml", digest_hex.to_ascii_lowercase()));
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() > MAX_RIM_LEN as u64 {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        (hex::encode(sha384(&bytes)).eq_ignore_ascii_case(digest_hex)).then_some(bytes)
    }

    /// Stores `document` as the RIM for `id`; returns its SHA-384 (hex).
    pub fn put(&self, id: &str, document: &[u8]) -> io::Result<String> {
        if !is_safe_rim_id(id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unsafe RIM id {id:?}")));
        }
        let digest = hex::encode(sha384(document));
        write_atomic(&self.dir.join("sha384"), &format!("{digest}.xml"), document)?;
        write_atomic(&self.dir.join("id"), id, digest.as_bytes())?;
        Ok(digest)
    }
}

/// The directory where ccgpu keeps fetched `what` (`rims`, `amd-crl`, `ocsp`):
/// `$XDG_CACHE_HOME/ccgpu/<what>`, else `$HOME/.cache/ccgpu/<what>`; `None` without either variable.
pub fn cache_dir(what: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("ccgpu").join(what))
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename: a crash leaves the old file or the new.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_id_and_digest_and_ignores_a_corrupted_entry() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cache = RimCache::new(tmp.path());
        assert_eq!(cache.get("NV_X"), None);
        let digest = cache.put("NV_X", b"<doc/>").expect("put");
        assert_eq!(cache.get("NV_X").as_deref(), Some(&b"<doc/>"[..]));
        assert_eq!(cache.by_digest(&digest).as_deref(), Some(&b"<doc/>"[..]));
        std::fs::write(tmp.path().join("sha384").join(format!("{digest}.xml")), b"<evil/>").expect("corrupt");
        assert_eq!(cache.get("NV_X"), None, "bytes that no longer hash to their name are not served");
        assert!(cache.put("../x", b"doc").is_err());
        assert_eq!(cache.get("../x"), None);
    }
}
