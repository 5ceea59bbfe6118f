//! The node lock: one process at a time works on a checkpoint directory, and how it is handed over.
//!
//! `<checkpoint dir>/node.lock` is `flock`ed exclusively for the life of the process; the kernel releases
//! it when the process exits or dies, so a crashed holder never blocks the next one. A process may wait
//! for it, bounded ([`crate::NodeConfig::lock_wait`]): a rolling update's new plugin instance starts
//! while the old one still runs and waits here until the old one has drained and exited
//! (deploy/README.md, "Rolling updates"). Only then does it run recovery and serve, so two processes
//! never prepare or unprepare at once.
//!
//! Once held, the file's content names the holder's instance id (its pod UID); the previous content is
//! returned to the new holder, which may remove what a crashed predecessor left (its sockets). Trusts
//! the kernel's `flock`; trusts the file's content only after [`valid_instance_id`].

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::OpenError;
use crate::atomic_file::FileError;

/// How often a waiting process tries the lock again.
const RETRY: Duration = Duration::from_millis(50);
/// The longest instance id we record or accept (a Kubernetes UID is 36 characters).
pub const MAX_INSTANCE_ID: usize = 64;

/// Whether `id` may name an instance: 1 to [`MAX_INSTANCE_ID`] characters of lowercase ASCII letters,
/// digits and `-`, not starting with `-` (so it is safe in a file name, as a Kubernetes UID is).
pub fn valid_instance_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_INSTANCE_ID
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Takes the lock in `dir`, waiting up to `wait` while another process holds it, then records
/// `instance`. Returns the held file and the instance id the previous holder recorded (`None` when it
/// recorded none or something that is not an instance id).
pub fn acquire(dir: &Path, wait: Duration, instance: Option<&str>) -> Result<(File, Option<String>), OpenError> {
    let path = dir.join("node.lock");
    let file_err = |action| {
        let path = path.clone();
        move |source| FileError { action, path, source }
    };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(file_err("opening lock file"))?;
    let started = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(OpenError::Locked { path });
                }
                if !told {
                    tracing::info!(path = %path.display(), wait = ?wait, "another instance holds the node lock; waiting for it to hand over");
                    told = true;
                }
                std::thread::sleep(RETRY.min(wait - waited));
            }
            Err(TryLockError::Error(source)) => return Err(file_err("locking")(source).into()),
        }
    }
    if told {
        tracing::info!(waited = ?started.elapsed(), "node lock handed over");
    }
    let mut previous = String::new();
    // At most a little more than an id: anything longer is not one.
    (&mut file)
        .take(MAX_INSTANCE_ID as u64 + 2)
        .read_to_string(&mut previous)
        .map_err(file_err("reading lock file"))?;
    let previous = Some(previous.trim().to_owned()).filter(|p| valid_instance_id(p));
    file.set_len(0).map_err(file_err("truncating lock file"))?;
    if let Some(id) = instance {
        file.seek(SeekFrom::Start(0)).map_err(file_err("writing lock file"))?;
        file.write_all(id.as_bytes()).map_err(file_err("writing lock file"))?;
    }
    Ok((file, previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_safe_file_name_parts() {
        assert!(valid_instance_id("0f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"));
        for bad in ["", "-x", "../x", "a/b", "A", "a b", "a.b", &"a".repeat(MAX_INSTANCE_ID + 1)] {
            assert!(!valid_instance_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_holder_is_recorded_and_the_previous_one_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (held, previous) = acquire(dir.path(), Duration::ZERO, Some("old-1")).expect("free");
        assert_eq!(previous, None);
        // Held: a second open fails at once, or after the wait.
        assert!(matches!(acquire(dir.path(), Duration::ZERO, Some("new-2")), Err(OpenError::Locked { .. })));
        let started = Instant::now();
        assert!(matches!(acquire(dir.path(), Duration::from_millis(200), None), Err(OpenError::Locked { .. })));
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(held);
        let (_held, previous) = acquire(dir.path(), Duration::ZERO, Some("new-2")).expect("released");
        assert_eq!(previous.as_deref(), Some("old-1"));
    }

    #[test]
    fn a_lock_file_with_something_else_in_it_names_no_previous_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        for junk in ["../../etc/passwd", "x".repeat(500).as_str(), "\u{0}\u{1}", "UPPER"] {
            std::fs::write(dir.path().join("node.lock"), junk).expect("write");
            let (held, previous) = acquire(dir.path(), Duration::ZERO, None).expect("free");
            assert_eq!(previous, None, "{junk:?}");
            drop(held);
        }
    }

    #[test]
    fn a_waiting_instance_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (held, _) = acquire(dir.path(), Duration::ZERO, Some("old")).expect("free");
        let path = dir.path().to_owned();
        let waiter = std::thread::spawn(move || acquire(&path, Duration::from_secs(10), Some("new")));
        std::thread::sleep(Duration::from_millis(150));
        assert!(!waiter.is_finished(), "waits while held");
        drop(held);
        let (_held, previous) = waiter.join().expect("thread").expect("handed over");
        assert_eq!(previous.as_deref(), Some("old"));
    }
}
