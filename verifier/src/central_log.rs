//! The central attestation log: `ccgpu-attestation`'s chained JSON Lines format in a directory of
//! rotated files (`attestation-000001.log`, `attestation-000002.log`, …), one chain (one `log_id`) per
//! directory, so one per replica.
//!
//! - **Crash-safe appends**: each record is one `write` and an `fdatasync` (the attestation crate's
//!   appender) before the caller answers. On start, a torn last line (the process died mid-write) is
//!   moved aside to `<file>.torn` and the log resumes; any other damage stops the start (fail closed: an
//!   operator looks at it with `ccgpu log verify`).
//! - **Rotation**: past `rotate_bytes`, the current file is sealed (a signed checkpoint when a key is
//!   set) and the next file starts with a header that names the previous file's head, so
//!   `ccgpu log verify <every file>` proves one chain across them.
//! - **Shutdown**: the head is sealed with a signed checkpoint (when a key is set).
//! - **Ids**: an appraisal's id is `<log_id>-<file number>-<line>`, which names its file and line.
//!
//! Trusts: the file system to return what was written (the chain detects edits, not disk faults).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use ccgpu_attestation::{
    AppendOptions, Appender, BreakKind, Checkpointing, Filter, Head, LogError, LogId, LogReader, LogRecord,
    repair_torn_tail,
};
use time::OffsetDateTime;

/// Files are named `attestation-NNNNNN.log`.
const PREFIX: &str = "attestation-";
const SUFFIX: &str = ".log";

/// An appraisal's place in the central log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppraisalId {
    /// The log (replica).
    pub log_id: LogId,
    /// The file number.
    pub file: u32,
    /// The line in that file.
    pub line: u64,
}

impl fmt::Display for AppraisalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:06}-{}", self.log_id, self.file, self.line)
    }
}

impl FromStr for AppraisalId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, '-');
        let (Some(id), Some(file), Some(line)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("an appraisal id is <log_id>-<file>-<line>".into());
        };
        let mut bytes = [0u8; 16];
        if id.len() != 32 || hex::decode_to_slice(id, &mut bytes).is_err() || id.bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err("the log id is 32 lowercase hex digits".into());
        }
        let file = file.parse().map_err(|_| "the file number is a number".to_owned())?;
        let line = line.parse().map_err(|_| "the line is a number".to_owned())?;
        Ok(Self { log_id: LogId(bytes), file, line })
    }
}

/// What the log's head is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    /// The log (replica).
    pub log_id: LogId,
    /// The current file's number.
    pub file: u32,
    /// Its last line.
    pub head: Head,
    /// The last signed checkpoint this process wrote or found in the current file (its line).
    pub last_checkpoint: Option<u64>,
}

#[derive(Debug)]
struct Current {
    appender: Appender,
    file: u32,
    last_checkpoint: Option<u64>,
}

/// The service's log.
#[derive(Debug)]
pub struct CentralLog {
    dir: PathBuf,
    rotate_bytes: u64,
    current: Mutex<Current>,
}

/// What opening the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// A torn tail moved aside: the file it was saved to and how many bytes.
    pub repaired: Option<(PathBuf, u64)>,
}

impl CentralLog {
    /// Opens (or creates) the log in `dir`, repairing a torn tail of its last file, and verifying that
    /// file's chain.
    pub fn open(
        dir: &Path,
        rotate_bytes: u64,
        checkpoints: Option<Checkpointing>,
        now: OffsetDateTime,
    ) -> Result<(Self, Opened), LogError> {
        std::fs::create_dir_all(dir).map_err(|source| LogError::Io {
            op: "creating the log directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let file = segments(dir)?.last().copied().unwrap_or(1);
        let path = segment_path(dir, file);
        let mut repaired = None;
        if path.exists() {
            if let Some(r) = repair_torn_tail(&path).or_else(|e| match e.broken() {
                // Not a torn tail: let the full verification below name the damage.
                Some(_) => Ok(None),
                None => Err(e),
            })? {
                tracing::warn!(log = %path.display(), saved_to = %r.saved_to.display(), bytes = r.len,
                    "the log ended in a torn line (a crash mid-append): moved aside, appending resumes");
                repaired = Some((r.saved_to, r.len));
            }
            let summary = LogReader::open(&path)?.verify().map_err(|e| e.in_file(&path))?;
            let appender = Appender::open(&path, AppendOptions { created: now, checkpoints })?;
            let current = Current { appender, file, last_checkpoint: summary.last_checkpoint };
            return Ok((
                Self { dir: dir.to_path_buf(), rotate_bytes, current: Mutex::new(current) },
                Opened { repaired },
            ));
        }
        let appender = Appender::open(&path, AppendOptions { created: now, checkpoints })?;
        let current = Current { appender, file, last_checkpoint: None };
        Ok((Self { dir: dir.to_path_buf(), rotate_bytes, current: Mutex::new(current) }, Opened { repaired }))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `record` and syncs it; rotates afterwards when the file has grown past the limit (a
    /// failed rotation is logged and retried at the next append; the record is safe either way).
    pub fn append(&self, record: &LogRecord) -> Result<AppraisalId, LogError> {
        let mut current = self.lock();
        let appended = current.appender.append(record)?;
        if let Some(c) = appended.checkpoint {
            current.last_checkpoint = Some(c.line);
        }
        let id = AppraisalId { log_id: current.appender.log_id(), file: current.file, line: appended.record.line };
        let size = std::fs::metadata(current.appender.path()).map(|m| m.len()).unwrap_or(0);
        if size >= self.rotate_bytes {
            let next = segment_path(&self.dir, current.file.saturating_add(1));
            match current.appender.rotate(&next, record.time.time()) {
                Ok(sealed) => {
                    tracing::info!(sealed_line = sealed.line, next = %next.display(), "log rotated");
                    current.file = current.file.saturating_add(1);
                    current.last_checkpoint = None;
                }
                Err(e) => tracing::error!(error = %e, "log rotation failed; still appending to the current file"),
            }
        }
        Ok(id)
    }

    /// Seals the head with a signed checkpoint (on shutdown), when the log has a key; `None` without one.
    pub fn seal(&self, now: OffsetDateTime) -> Result<Option<Head>, LogError> {
        let mut current = self.lock();
        match current.appender.checkpoint(now) {
            Ok(head) => {
                current.last_checkpoint = Some(head.line);
                Ok(Some(head))
            }
            Err(LogError::NoSigner) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The head now.
    pub fn head(&self) -> LogHead {
        let current = self.lock();
        LogHead {
            log_id: current.appender.log_id(),
            file: current.file,
            head: current.appender.head(),
            last_checkpoint: current.last_checkpoint,
        }
    }

    /// Every file of this log, in order.
    pub fn files(&self) -> Result<Vec<PathBuf>, LogError> {
        Ok(segments(&self.dir)?.into_iter().map(|n| segment_path(&self.dir, n)).collect())
    }

    /// The record with `id`, verifying the chain of its file up to it.
    pub fn get(&self, id: AppraisalId) -> Result<Option<LogRecord>, LogError> {
        if id.log_id != self.head().log_id {
            return Ok(None);
        }
        let path = segment_path(&self.dir, id.file);
        if !path.exists() {
            return Ok(None);
        }
        for item in LogReader::open(&path)?.records() {
            match item {
                Ok((line, record)) if line == id.line => return Ok(Some(record)),
                Ok((line, _)) if line > id.line => return Ok(None),
                Ok(_) => {}
                Err(e) if is_tail_in_progress(&e) => return Ok(None),
                Err(e) => return Err(e.in_file(&path)),
            }
        }
        Ok(None)
    }

    /// Records matching `filter` and `extra`, oldest first, at most `limit` (and whether more matched).
    pub fn query(
        &self,
        filter: &Filter,
        extra: impl Fn(&LogRecord) -> bool,
        limit: usize,
    ) -> Result<(Vec<(AppraisalId, LogRecord)>, bool), LogError> {
        let log_id = self.head().log_id;
        let mut out = Vec::new();
        for n in segments(&self.dir)? {
            let path = segment_path(&self.dir, n);
            for item in LogReader::open(&path)?.filter(filter.clone()) {
                match item {
                    Ok((line, record)) if extra(&record) => {
                        if out.len() == limit {
                            return Ok((out, true));
                        }
                        out.push((AppraisalId { log_id, file: n, line }, record));
                    }
                    Ok(_) => {}
                    Err(e) if is_tail_in_progress(&e) => break,
                    Err(e) => return Err(e.in_file(&path)),
                }
            }
        }
        Ok((out, false))
    }
}

/// A read that met a line being appended right now.
fn is_tail_in_progress(e: &LogError) -> bool {
    matches!(e.broken(), Some((_, _, BreakKind::TornTail { .. })))
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{PREFIX}{n:06}{SUFFIX}"))
}

/// The numbers of the log files in `dir`, ascending.
fn segments(dir: &Path) -> Result<Vec<u32>, LogError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LogError::Io {
        op: "listing the log directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut numbers: Vec<u32> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
            (n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse().ok()).flatten()
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}
