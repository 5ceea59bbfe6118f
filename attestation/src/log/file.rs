//! The one part of the log that touches the file system: the appender, opening a log for reading, and
//! the operator's repair of a torn tail.
//!
//! Durability and atomicity: a log is created by writing its header to a temporary file, fsyncing it and
//! hard-linking it into place (so a log file always starts with a complete header, and two creators
//! cannot both win), then fsyncing the directory. Each line is appended with one `write(2)` of the full
//! line and its newline on an `O_APPEND` descriptor, then `fdatasync`. A failed or short write is rolled
//! back by truncating to the previous end. If the process dies mid-write, the log ends in a line without
//! a newline — a *torn tail*: opening the log then fails naming its byte offset, and nothing is ever
//! appended after it until an operator runs [`repair_torn_tail`], which moves the bytes aside.
//!
//! Concurrency: appends through one [`Appender`] are serialised by a mutex; across appenders and
//! processes by an exclusive `flock` held for each append. Under the lock the appender re-reads the tail
//! when the file grew behind its back, so every line chains to the line really before it.
//!
//! Trusts: the file system to return what was written. The tail is checked cheaply on open (header, last
//! line well-formed and linked to the line before it); a full audit is [`LogReader::verify`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use super::chain::Chain;
use super::checkpoint::CheckpointSigner;
use super::digest::Sha384Digest;
use super::error::{BreakKind, LogError};
use super::record::{Checkpoint, Continues, Header, LogId, LogRecord};
use super::verify::{Head, LogReader};
use super::wire::{self, MAX_LINE};

/// Signed checkpoints for an appender: a checkpoint line after every `every` records.
#[derive(Debug)]
pub struct Checkpointing {
    /// The operator's key.
    pub signer: CheckpointSigner,
    /// Records between checkpoints: a checkpoint is written as line `k·(every+1)+1` for k ≥ 1.
    pub every: NonZeroU64,
}

/// How to open (or create) a log for appending.
#[derive(Debug)]
pub struct AppendOptions {
    /// Creation time written into the header, used only when the log does not exist yet.
    pub created: OffsetDateTime,
    /// Checkpoint signing, if wanted.
    pub checkpoints: Option<Checkpointing>,
}

impl AppendOptions {
    /// Options without checkpoints.
    pub fn new(created: OffsetDateTime) -> Self {
        Self { created, checkpoints: None }
    }
}

/// What one append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The record's line and hash: the new head, unless a checkpoint followed.
    pub record: Head,
    /// The checkpoint written right after the record, if one was due.
    pub checkpoint: Option<Head>,
}

/// An open log, ready to append to.
#[derive(Debug)]
pub struct Appender {
    path: PathBuf,
    state: Mutex<State>,
    checkpoints: Option<Checkpointing>,
}

#[derive(Debug)]
struct State {
    file: File,
    tail: Tail,
}

/// What the appender knows about the end of the file.
#[derive(Debug, Clone, Copy)]
struct Tail {
    end: u64,
    chain: Chain,
}

impl Appender {
    /// Opens the log at `path`, creating it (with a fresh random id) if it does not exist. Fails on a torn
    /// or malformed tail, naming its offset.
    pub fn open(path: impl AsRef<Path>, options: AppendOptions) -> Result<Self, LogError> {
        let path = path.as_ref().to_path_buf();
        let file = match open_append(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut id = [0u8; 16];
                aws_lc_rs::rand::fill(&mut id).map_err(|_| LogError::Key("no randomness for the log id".into()))?;
                create_file(&path, &Header::new(LogId(id), options.created), false)?;
                open_append(&path).map_err(|e| io_err("opening", &path, e))?
            }
            Err(e) => return Err(io_err("opening", &path, e)),
        };
        file.lock().map_err(|e| io_err("locking", &path, e))?;
        let tail = read_tail(&file);
        file.unlock().map_err(|e| io_err("unlocking", &path, e))?;
        let tail = tail.map_err(|e| e.in_file(&path))?;
        Ok(Self { path, state: Mutex::new(State { file, tail }), checkpoints: options.checkpoints })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log's id.
    pub fn log_id(&self) -> LogId {
        self.lock_state().tail.chain.log_id()
    }

    /// The last line this appender knows of (another process may have appended since).
    pub fn head(&self) -> Head {
        self.lock_state().tail.chain.head()
    }

    /// Appends `record` (its `prev` and `line` are set to chain it), then a checkpoint if one is due.
    pub fn append(&self, record: &LogRecord) -> Result<Appended, LogError> {
        let mut state = self.lock_state();
        self.locked(&mut state, |state| {
            let line = state.tail.chain.record_line(record)?;
            let record_head = state.write_line(line, &self.path)?;
            let checkpoint = match &self.checkpoints {
                Some(c) if record_head.line % c.every.get().saturating_add(1) == 0 => {
                    Some(state.write_checkpoint(&c.signer, record.time.time(), &self.path)?)
                }
                _ => None,
            };
            Ok(Appended { record: record_head, checkpoint })
        })
    }

    /// Ends this file and continues the log in a new file at `next` (which must not exist): seals this
    /// file with a checkpoint when the appender signs them, creates `next` with a segment header (same
    /// `log_id`, `continues` naming this file's last line and its hash), and from then on appends to
    /// `next`. Returns the sealed head of the old file. On error the appender still appends to the old
    /// file (a `next` created before the error stays, holding only its header).
    pub fn rotate(&mut self, next: impl AsRef<Path>, time: OffsetDateTime) -> Result<Head, LogError> {
        let next = next.as_ref().to_path_buf();
        let sealed = {
            let mut state = self.lock_state();
            self.locked(&mut state, |state| match &self.checkpoints {
                Some(c) => state.write_checkpoint(&c.signer, time, &self.path),
                None => Ok(state.tail.chain.head()),
            })?
        };
        let header = Header::segment(self.log_id(), time, Continues { line: sealed.line, hash: sealed.hash });
        create_file(&next, &header, true)?;
        let file = open_append(&next).map_err(|e| io_err("opening", &next, e))?;
        file.lock().map_err(|e| io_err("locking", &next, e))?;
        let tail = read_tail(&file);
        file.unlock().map_err(|e| io_err("unlocking", &next, e))?;
        let tail = tail.map_err(|e| e.in_file(&next))?;
        *self.state.get_mut().unwrap_or_else(PoisonError::into_inner) = State { file, tail };
        self.path = next;
        Ok(sealed)
    }

    /// Writes a checkpoint now (e.g. before shutting down, to seal the head), returning its head.
    pub fn checkpoint(&self, time: OffsetDateTime) -> Result<Head, LogError> {
        let signer = &self.checkpoints.as_ref().ok_or(LogError::NoSigner)?.signer;
        let mut state = self.lock_state();
        self.locked(&mut state, |state| state.write_checkpoint(signer, time, &self.path))
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the mutex leaves at worst a stale tail, which the size check under the
        // file lock refreshes.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` holding the file lock, after bringing the tail up to date.
    fn locked<T>(&self, state: &mut State, f: impl FnOnce(&mut State) -> Result<T, LogError>) -> Result<T, LogError> {
        state.file.lock().map_err(|e| io_err("locking", &self.path, e))?;
        let result = state.refresh().map_err(|e| e.in_file(&self.path)).and_then(|()| f(state));
        let unlocked = state.file.unlock().map_err(|e| io_err("unlocking", &self.path, e));
        let value = result?;
        unlocked?;
        Ok(value)
    }
}

impl State {
    /// Re-reads the tail when the file is not the size this appender left it at.
    fn refresh(&mut self) -> Result<(), LogError> {
        let len = self.file.metadata().map_err(|e| LogError::Read { line: 0, offset: 0, source: e })?.len();
        if len != self.tail.end {
            self.tail = read_tail(&self.file)?;
        }
        Ok(())
    }

    fn write_checkpoint(
        &mut self,
        signer: &CheckpointSigner,
        time: OffsetDateTime,
        path: &Path,
    ) -> Result<Head, LogError> {
        let line = self.tail.chain.checkpoint_line(signer, time)?;
        self.write_line(line, path)
    }

    /// One `write` of the line and its newline, then `fdatasync`; on failure the file is cut back.
    fn write_line(&mut self, mut bytes: Vec<u8>, path: &Path) -> Result<Head, LogError> {
        bytes.push(b'\n');
        let written = match (&self.file).write(&bytes) {
            Ok(n) if n == bytes.len() => self.file.sync_data(),
            Ok(n) => {
                Err(io::Error::new(io::ErrorKind::WriteZero, format!("short write: {n} of {} bytes", bytes.len())))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            let op = match self.file.set_len(self.tail.end).and_then(|()| self.file.sync_data()) {
                Ok(()) => "appending to (rolled back)",
                Err(_) => "appending to (rollback failed too: the next open reports the torn tail)",
            };
            return Err(io_err(op, path, e));
        }
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.tail.end = self.tail.end.saturating_add(len);
        Ok(self.tail.chain.advance(&bytes[..bytes.len() - 1]))
    }
}

impl LogReader<BufReader<File>> {
    /// Opens the log at `path` for reading and verification.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LogError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| io_err("opening", path, e))?;
        Ok(Self::new(BufReader::with_capacity(256 * 1024, file)))
    }
}

/// What [`repair_torn_tail`] moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Where the removed bytes started in the log.
    pub offset: u64,
    /// How many bytes were removed.
    pub len: u64,
    /// The file they were saved to.
    pub saved_to: PathBuf,
}

/// Moves a torn or unparsable last line aside to `<log>.torn` (or `.torn.1`, …) and cuts the log back to
/// the end of the line before it. Returns `None` when the tail is sound. Refuses (changing nothing) when
/// the damage is anything else — a header problem, or a well-formed last line that does not link — since
/// that is not what an interrupted append leaves; run a full verification then.
pub fn repair_torn_tail(path: impl AsRef<Path>) -> Result<Option<Repair>, LogError> {
    let path = path.as_ref();
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| io_err("opening", path, e))?;
    file.lock().map_err(|e| io_err("locking", path, e))?;
    let result = repair_locked(&mut file, path);
    let unlocked = file.unlock().map_err(|e| io_err("unlocking", path, e));
    let repair = result?;
    unlocked?;
    Ok(repair)
}

fn repair_locked(file: &mut File, path: &Path) -> Result<Option<Repair>, LogError> {
    let end = file_len(file)?;
    let (line, offset) = match read_tail(file) {
        Ok(_) => return Ok(None),
        Err(e) => match e.broken() {
            Some((
                line,
                offset,
                BreakKind::TornTail { .. } | BreakKind::Unparsable { .. } | BreakKind::TooLong { .. },
            )) if line > 1 => (line, offset),
            _ => return Err(LogError::NotRepairable(format!("{e}")).in_file(path)),
        },
    };
    // What remains must be a sound tail by itself.
    read_tail_at(file, offset).map_err(|e| {
        LogError::NotRepairable(format!("line {line} is damaged, but the line before it is not sound either: {e}"))
            .in_file(path)
    })?;
    let (saved_to, mut aside) = create_aside(path)?;
    file.seek(SeekFrom::Start(offset)).map_err(|e| io_err("seeking in", path, e))?;
    io::copy(&mut (&*file).take(end - offset), &mut aside)
        .map_err(|e| io_err("saving the torn tail to", &saved_to, e))?;
    aside.sync_all().map_err(|e| io_err("syncing", &saved_to, e))?;
    sync_dir(path)?;
    file.set_len(offset).map_err(|e| io_err("truncating", path, e))?;
    file.sync_all().map_err(|e| io_err("syncing", path, e))?;
    Ok(Some(Repair { offset, len: end - offset, saved_to }))
}

fn create_aside(path: &Path) -> Result<(PathBuf, File), LogError> {
    for n in 0..1000u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(if n == 0 { ".torn".to_owned() } else { format!(".torn.{n}") });
        let candidate = PathBuf::from(name);
        match OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(f) => return Ok((candidate, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("creating", &candidate, e)),
        }
    }
    Err(LogError::NotRepairable("1000 .torn files already exist beside the log".into()).in_file(path))
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).append(true).open(path)
}

/// Creates a log file with `header`, atomically: a complete header or no file. When the file appears
/// meanwhile, another creator won the race and its log is the one to use, unless `exclusive` (a rotated
/// segment must be new).
fn create_file(path: &Path, header: &Header, exclusive: bool) -> Result<(), LogError> {
    let id = header.log_id.0;
    let (_, mut line) = Chain::start(header)?;
    line.push(b'\n');
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = parent(path).join(format!(".{name}.{}.tmp", hex::encode(id)));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&line)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("creating", &tmp, e));
    }
    let linked = fs::hard_link(&tmp, path);
    let removed = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        // Another creator won the race: its log is the one to use.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !exclusive => {}
        Err(e) => return Err(io_err("creating", path, e)),
    }
    removed.map_err(|e| io_err("removing", &tmp, e))?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), LogError> {
    let dir = parent(path);
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("syncing directory", dir, e))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> LogError {
    LogError::Io { op, path: path.to_path_buf(), source }
}

fn file_len(file: &File) -> Result<u64, LogError> {
    file.metadata().map(|m| m.len()).map_err(|source| LogError::Read { line: 0, offset: 0, source })
}

fn read_tail(file: &File) -> Result<Tail, LogError> {
    read_tail_at(file, file_len(file)?)
}

/// Checks the log as if it ended at `end`: a header, and a last line that is complete, well-formed,
/// numbered one past the line before it and carrying that line's hash. Line numbers in errors are
/// counted only on this error path.
fn read_tail_at(file: &File, end: u64) -> Result<Tail, LogError> {
    let bad_header =
        |reason: &str| LogError::Broken { line: 1, offset: 0, kind: BreakKind::BadHeader { reason: reason.into() } };
    if end == 0 {
        return Err(bad_header("the log is empty"));
    }
    if read_at(file, end - 1, 1)? != b"\n" {
        let start = line_start(file, end)?;
        let line = line_number(file, start)?;
        return Err(LogError::Broken { line, offset: start, kind: BreakKind::TornTail { len: end - start } });
    }
    // The header.
    let header_end = find_newline(file, 0, end)?.ok_or_else(|| bad_header("no complete line"))?;
    let header_bytes = read_span(file, 0, header_end)?;
    let log_id = LogReader::new(&[&header_bytes[..], b"\n"].concat()[..]).header()?.log_id;
    if header_end + 1 == end {
        return Ok(Tail { end, chain: Chain::resume(log_id, Head { line: 1, hash: Sha384Digest::of(&header_bytes) }) });
    }
    // The last line and the one before it.
    let last_start = line_start(file, end - 1)?;
    let last = read_span(file, last_start, end - 1)?;
    let last_prefix = match wire::prefix(&last).and_then(|p| parse_as(&last, p)) {
        Ok(p) => p,
        Err(reason) => return Err(unparsable_at(file, last_start, reason)?),
    };
    let before_start = line_start(file, last_start - 1)?;
    let before = read_span(file, before_start, last_start - 1)?;
    let before_no = match before_start {
        0 => 1,
        _ => match wire::prefix(&before) {
            Ok(p) => p.line,
            Err(reason) => return Err(unparsable_at(file, before_start, reason)?),
        },
    };
    if last_prefix.prev != Sha384Digest::of(&before) {
        let p = line_number(file, last_start)?;
        let (line, offset, kind) = if last_prefix.line > p {
            (p, last_start, BreakKind::Missing { recorded: last_prefix.line })
        } else {
            (p - 1, before_start, BreakKind::EditedOrLastPrev { last: p })
        };
        return Err(LogError::Broken { line, offset, kind });
    }
    if last_prefix.line != before_no.saturating_add(1) {
        let line = line_number(file, last_start)?;
        return Err(LogError::Broken {
            line,
            offset: last_start,
            kind: BreakKind::Misnumbered { recorded: last_prefix.line },
        });
    }
    let head = Head { line: last_prefix.line, hash: Sha384Digest::of(&last) };
    Ok(Tail { end, chain: Chain::resume(log_id, head) })
}

/// Parses a whole line as the kind its prefix announces.
fn parse_as(line: &[u8], prefix: wire::Prefix) -> Result<wire::Prefix, String> {
    let parsed = match prefix.kind {
        wire::LineKind::Appraisal => serde_json::from_slice::<LogRecord>(line).map(|_| ()),
        wire::LineKind::Checkpoint => serde_json::from_slice::<Checkpoint>(line).map(|_| ()),
    };
    parsed.map(|()| prefix).map_err(|e| e.to_string())
}

fn unparsable_at(file: &File, offset: u64, reason: String) -> Result<LogError, LogError> {
    Ok(LogError::Broken { line: line_number(file, offset)?, offset, kind: BreakKind::Unparsable { reason } })
}

/// Reads the line `[start, end)`, refusing lines longer than the limit.
fn read_span(file: &File, start: u64, end: u64) -> Result<Vec<u8>, LogError> {
    let len = end.saturating_sub(start);
    if len > u64::try_from(MAX_LINE).unwrap_or(u64::MAX) {
        let line = line_number(file, start)?;
        return Err(LogError::Broken { line, offset: start, kind: BreakKind::TooLong { limit: MAX_LINE } });
    }
    read_at(file, start, len)
}

fn read_at(file: &File, offset: u64, len: u64) -> Result<Vec<u8>, LogError> {
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut buf, offset).map_err(|source| LogError::Read { line: 0, offset, source })?;
    Ok(buf)
}

const CHUNK: u64 = 64 * 1024;

/// The start of the line that ends just before `end` (the byte after the previous newline, or 0).
fn line_start(file: &File, end: u64) -> Result<u64, LogError> {
    let mut hi = end;
    while hi > 0 {
        let lo = hi.saturating_sub(CHUNK);
        let chunk = read_at(file, lo, hi - lo)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(lo + u64::try_from(i).unwrap_or(0) + 1);
        }
        hi = lo;
    }
    Ok(0)
}

/// The offset of the first newline in `[from, end)`.
fn find_newline(file: &File, from: u64, end: u64) -> Result<Option<u64>, LogError> {
    let mut lo = from;
    let limit = end.min(from.saturating_add(u64::try_from(MAX_LINE).unwrap_or(u64::MAX)).saturating_add(1));
    while lo < limit {
        let hi = lo.saturating_add(CHUNK).min(limit);
        let chunk = read_at(file, lo, hi - lo)?;
        if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            return Ok(Some(lo + u64::try_from(i).unwrap_or(0)));
        }
        lo = hi;
    }
    Ok(None)
}

/// 1-based number of the line starting at `offset` (counts newlines before it: error paths only).
fn line_number(file: &File, offset: u64) -> Result<u64, LogError> {
    let mut count = 1u64;
    let mut lo = 0;
    while lo < offset {
        let hi = lo.saturating_add(CHUNK).min(offset);
        let chunk = read_at(file, lo, hi - lo)?;
        count += u64::try_from(chunk.iter().filter(|&&b| b == b'\n').count()).unwrap_or(0);
        lo = hi;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{LogContext, LogVerdict};
    use crate::log::segments::verify_segments;
    use time::macros::datetime;

    fn record() -> LogRecord {
        LogRecord::new(&LogContext::new(datetime!(2026-01-01 0:00 UTC)), LogVerdict::Affirming, Vec::new(), Vec::new())
    }

    #[test]
    fn rotation_seals_the_file_and_the_next_one_continues_the_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (dir.path().join("a.log"), dir.path().join("b.log"), dir.path().join("c.log"));
        let signer = CheckpointSigner::from_pkcs8(&CheckpointSigner::generate_pkcs8().expect("key")).expect("signer");
        let every = NonZeroU64::new(100).expect("nonzero");
        let options = AppendOptions {
            created: datetime!(2026-01-01 0:00 UTC),
            checkpoints: Some(Checkpointing { signer, every }),
        };
        let mut log = Appender::open(&a, options).expect("open");
        log.append(&record()).expect("append");
        let sealed = log.rotate(&b, datetime!(2026-01-01 1:00 UTC)).expect("rotate");
        assert_eq!(sealed.line, 3, "header, record, sealing checkpoint");
        assert_eq!(log.path(), b.as_path());
        log.append(&record()).expect("append");
        assert!(log.rotate(&b, datetime!(2026-01-01 2:00 UTC)).is_err(), "an existing file is never a new segment");
        log.append(&record()).expect("the appender still appends to b after a failed rotation");
        log.rotate(&c, datetime!(2026-01-01 3:00 UTC)).expect("rotate");

        let summaries: Vec<(PathBuf, _)> = [&c, &a, &b]
            .iter()
            .map(|p| ((*p).clone(), LogReader::open(p).expect("open").verify().expect("each file verifies")))
            .collect();
        assert_eq!(summaries[2].1.header.continues, Some(Continues { line: 3, hash: summaries[1].1.head.hash }));
        let chains = verify_segments(summaries);
        assert_eq!(chains.len(), 1);
        assert!(chains[0].intact(), "{:?}", chains[0].problems);
        let order: Vec<&Path> = chains[0].segments.iter().map(|s| s.path.as_path()).collect();
        assert_eq!(order, [a.as_path(), b.as_path(), c.as_path()]);
        assert_eq!(chains[0].records(), 3);

        // An appender reopening a rotated segment resumes its chain.
        let reopened = Appender::open(&c, AppendOptions::new(datetime!(2026-01-01 4:00 UTC))).expect("open");
        reopened.append(&record()).expect("append");
        assert!(LogReader::open(&c).expect("open").verify().is_ok());
    }
}
