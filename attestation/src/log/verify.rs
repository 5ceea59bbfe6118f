//! Reading a log while proving its chain, and naming the first broken line when it does not hold.
//!
//! [`LogReader`] walks any `BufRead` once, in bounded memory (one line of at most
//! [`super::MAX_LINE`] bytes, one line of look-ahead, and a window of the last
//! [`WINDOW`] line hashes). Every line it yields has been checked: well-formed, numbered in sequence, and
//! carrying the SHA-384 of the line before it; checkpoint signatures too when the caller gives a key.
//!
//! Trusts: nothing in the log. Only the optional [`CheckpointKey`] and [`Head`] anchor the caller passes
//! say anything about lines the chain cannot vouch for itself (the tail).

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::num::NonZeroU64;

use time::OffsetDateTime;

use super::checkpoint::CheckpointKey;
use super::digest::Sha384Digest;
use super::error::{BreakKind, LogError};
use super::record::{Checkpoint, Entry, Header, LogRecord, LogVerdict, Timestamp};
use super::wire::{self, LineKind, Lines, Prefix, RawLine};

/// How many recent line hashes are kept to explain a break ("line 9 follows line 5").
pub const WINDOW: usize = 4096;

/// The checkpoint cadence an auditor with a key requires unless told otherwise: at most this many records
/// between the header or a checkpoint and the next checkpoint.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 64;

/// A chain head: line `line` of the log hashes to `hash`. Returned by verification and by the appender;
/// kept outside the log (or signed in a checkpoint) it lets a later audit detect truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// 1-based line number.
    pub line: u64,
    /// SHA-384 of that line's bytes.
    pub hash: Sha384Digest,
}

/// Count of records per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    /// Affirming records.
    pub affirming: u64,
    /// Warning records.
    pub warning: u64,
    /// Contraindicated records.
    pub contraindicated: u64,
}

/// What a successful verification proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// The header.
    pub header: Header,
    /// Lines in the log, header included.
    pub lines: u64,
    /// Appraisal records.
    pub records: u64,
    /// Records per verdict.
    pub verdicts: VerdictCounts,
    /// Checkpoint lines.
    pub checkpoints: u64,
    /// True when a key was given, so every checkpoint's signature was checked.
    pub checkpoints_verified: bool,
    /// The last checkpoint's line, if any.
    pub last_checkpoint: Option<u64>,
    /// The head: the last line and its hash.
    pub head: Head,
    /// Earliest and latest record time.
    pub time_range: Option<(Timestamp, Timestamp)>,
}

/// Which records a `log show` wants. Empty matches everything; bounds are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Records at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Records at or before this time.
    pub until: Option<OffsetDateTime>,
    /// Records naming this GPU UUID or PCI address (ASCII case ignored).
    pub gpu: Option<String>,
    /// Records with this verdict.
    pub verdict: Option<LogVerdict>,
}

impl Filter {
    /// True when `record` passes every condition set.
    pub fn matches(&self, record: &LogRecord) -> bool {
        let t = record.time.time();
        self.since.is_none_or(|s| t >= s)
            && self.until.is_none_or(|u| t <= u)
            && self.gpu.as_deref().is_none_or(|g| record.names_gpu(g))
            && self.verdict.is_none_or(|v| record.verdict == v)
    }
}

/// A streaming, verifying reader of one log.
#[derive(Debug)]
pub struct LogReader<R> {
    lines: Lines<R>,
    key: Option<CheckpointKey>,
    anchor: Option<Head>,
    header: Option<Header>,
    /// Hash, number and offset of the last line accepted.
    last: Option<(Sha384Digest, u64, u64)>,
    window: Window,
    done: bool,
    stats: Stats,
    /// With a key: at most this many records may follow the header or a checkpoint.
    max_unsigned: u64,
    /// Records since the header or the last checkpoint.
    unsigned: u64,
}

#[derive(Debug, Default)]
struct Stats {
    records: u64,
    verdicts: VerdictCounts,
    checkpoints: u64,
    last_checkpoint: Option<u64>,
    time_range: Option<(Timestamp, Timestamp)>,
}

impl<R: BufRead> LogReader<R> {
    /// A reader of the log in `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            lines: Lines::new(reader),
            key: None,
            anchor: None,
            header: None,
            last: None,
            window: Window::default(),
            done: false,
            stats: Stats::default(),
            max_unsigned: DEFAULT_CHECKPOINT_EVERY,
            unsigned: 0,
        }
    }

    /// Checks every checkpoint's signature with `key` (without one, checkpoints are only chained), and
    /// requires checkpoints at a cadence: at most [`DEFAULT_CHECKPOINT_EVERY`] records (or what
    /// [`Self::with_checkpoint_every`] says) may follow the header or a checkpoint, so a log whose
    /// checkpoints were stripped and its chain recomputed fails at the first record over. The records after
    /// the last checkpoint (at most that many) are vouched for by the chain alone.
    pub fn with_checkpoint_key(mut self, key: CheckpointKey) -> Self {
        self.key = Some(key);
        self
    }

    /// With a checkpoint key: at most `max_records` records may follow the header or a checkpoint (the
    /// appender's `every`).
    pub fn with_checkpoint_every(mut self, max_records: NonZeroU64) -> Self {
        self.max_unsigned = max_records.get();
        self
    }

    /// Requires the log to reach `head` (line `head.line` hashing to `head.hash`): detects truncation
    /// and a changed last line, which the chain alone cannot.
    pub fn with_anchor(mut self, head: Head) -> Self {
        self.anchor = Some(head);
        self
    }

    /// The header, reading and checking line 1 if not done yet.
    pub fn header(&mut self) -> Result<&Header, LogError> {
        if self.header.is_none() {
            self.read_header()?;
        }
        self.header.as_ref().ok_or_else(|| broken(1, 0, BreakKind::BadHeader { reason: "unreadable".into() }))
    }

    /// Reads to the end, checking everything; the summary of a sound log, or the first broken line.
    pub fn verify(mut self) -> Result<LogSummary, LogError> {
        for entry in self.by_ref() {
            entry?;
        }
        self.finish()
    }

    /// The appraisal records, checked as they are read; an error ends the iteration.
    pub fn records(self) -> impl Iterator<Item = Result<(u64, LogRecord), LogError>> {
        self.filter_map(|e| match e {
            Ok((n, Entry::Record(r))) => Some(Ok((n, r))),
            Ok((_, Entry::Checkpoint(_))) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// The records `filter` matches (errors pass through and end the iteration).
    pub fn filter(self, filter: Filter) -> impl Iterator<Item = Result<(u64, LogRecord), LogError>> {
        self.records().filter(move |r| r.as_ref().map_or(true, |(_, rec)| filter.matches(rec)))
    }

    fn finish(self) -> Result<LogSummary, LogError> {
        let (Some(header), Some((hash, line, _))) = (self.header, self.last) else {
            return Err(broken(1, 0, BreakKind::BadHeader { reason: "the log is empty".into() }));
        };
        if let Some(anchor) = self.anchor
            && anchor.line > line
        {
            let kind = BreakKind::Truncated { expected: anchor.line, found: line };
            return Err(broken(line.saturating_add(1), self.lines.position(), kind));
        }
        Ok(LogSummary {
            header,
            lines: line,
            records: self.stats.records,
            verdicts: self.stats.verdicts,
            checkpoints: self.stats.checkpoints,
            checkpoints_verified: self.key.is_some(),
            last_checkpoint: self.stats.last_checkpoint,
            head: Head { line, hash },
            time_range: self.stats.time_range,
        })
    }

    fn read_header(&mut self) -> Result<(), LogError> {
        let bad = |reason: String| broken(1, 0, BreakKind::BadHeader { reason });
        let raw = self.lines.next_line()?.ok_or_else(|| bad("the log is empty".into()))?;
        if !raw.terminated {
            return Err(broken(1, 0, BreakKind::TornTail { len: raw.span() }));
        }
        if !wire::looks_like_header(&raw.bytes) || raw.bytes.last() != Some(&b'}') {
            return Err(bad("line 1 does not start with {\"kind\":\"header\"".into()));
        }
        let header: Header = serde_json::from_slice(&raw.bytes).map_err(|e| bad(e.to_string()))?;
        if header.version != super::record::FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} (this verifier reads {})",
                header.version,
                super::FORMAT_VERSION
            )));
        }
        let hash = Sha384Digest::of(&raw.bytes);
        self.window.push(hash, 1, raw.span());
        self.last = Some((hash, 1, 0));
        self.header = Some(header);
        self.lines.recycle(raw);
        Ok(())
    }

    fn next_entry(&mut self) -> Result<Option<(u64, Entry)>, LogError> {
        if self.header.is_none() {
            self.read_header()?;
        }
        let Some(raw) = self.lines.next_line()? else {
            return Ok(None);
        };
        let (no, offset) = (raw.no, raw.offset);
        if !raw.terminated {
            return Err(broken(no, offset, BreakKind::TornTail { len: raw.span() }));
        }
        let hash = Sha384Digest::of(&raw.bytes);
        let (prefix, entry) = parse_entry(&raw)?;
        let Some((prev_hash, _, prev_offset)) = self.last else {
            return Err(broken(1, 0, BreakKind::BadHeader { reason: "missing".into() }));
        };
        if prefix.prev != prev_hash {
            let (line, at, kind) = self.classify(&raw, hash, prefix, prev_hash, prev_offset);
            return Err(broken(line, at, kind));
        }
        if prefix.line != no {
            return Err(broken(no, offset, BreakKind::Misnumbered { recorded: prefix.line }));
        }
        if let (Entry::Checkpoint(cp), Some(key), Some(header)) = (&entry, &self.key, &self.header) {
            key.verify_line(&header.log_id, &raw.bytes, cp).map_err(|kind| broken(no, offset, kind))?;
        }
        match entry {
            Entry::Checkpoint(_) => self.unsigned = 0,
            Entry::Record(_) => {
                self.unsigned = self.unsigned.saturating_add(1);
                if self.key.is_some() && self.unsigned > self.max_unsigned {
                    let kind = BreakKind::CheckpointOverdue {
                        last_checkpoint: self.stats.last_checkpoint,
                        max_records: self.max_unsigned,
                    };
                    return Err(broken(no, offset, kind));
                }
            }
        }
        if let Some(anchor) = self.anchor
            && anchor.line == no
            && anchor.hash != hash
        {
            return Err(broken(no, offset, BreakKind::HeadMismatch { expected: anchor.hash }));
        }
        self.window.push(hash, no, offset.saturating_add(raw.span()));
        self.last = Some((hash, no, offset));
        self.stats.count(&entry);
        self.lines.recycle(raw);
        Ok(Some((no, entry)))
    }

    /// Explains why line `raw` (number p) does not follow line p-1. Returns the first broken line, its
    /// offset and the kind.
    fn classify(
        &mut self,
        raw: &RawLine,
        hash: Sha384Digest,
        prefix: Prefix,
        prev_hash: Sha384Digest,
        prev_offset: u64,
    ) -> (u64, u64, BreakKind) {
        let (p, offset) = (raw.no, raw.offset);
        if let Some(&(j, _)) = self.window.get(&hash) {
            return (p, offset, BreakKind::Duplicate { of: j });
        }
        let earlier = self.window.get(&prefix.prev).copied();
        let anchor = self.anchor.filter(|a| a.line == p);
        let next = self.lines.peek().map(|l| (wire::prefix(&l.bytes).ok().map(|x| x.prev), Sha384Digest::of(&l.bytes)));
        let p_intact = match next {
            // The next line follows the previous one: line p does not belong here.
            Some((Some(np), next_hash)) if np == prev_hash => {
                let kind = if prefix.prev == next_hash { BreakKind::Swapped } else { BreakKind::Inserted { last: p } };
                return (p, offset, kind);
            }
            Some((Some(np), _)) => np == hash,
            // No usable next line: only an anchor at p can say whether line p is as written.
            _ => match anchor {
                Some(a) => a.hash == hash,
                None => {
                    return match (earlier, prefix.line > p) {
                        (Some((j, j_end)), _) => (j.saturating_add(1), j_end, BreakKind::Inserted { last: p - 1 }),
                        (None, true) => (p, offset, BreakKind::Missing { recorded: prefix.line }),
                        (None, false) => (p - 1, prev_offset, BreakKind::EditedOrLastPrev { last: p }),
                    };
                }
            },
        };
        if !p_intact {
            return (p, offset, BreakKind::Edited);
        }
        // Line p is as written: the break is before it.
        match earlier {
            Some((j, j_end)) => (j.saturating_add(1), j_end, BreakKind::Inserted { last: p - 1 }),
            None if prefix.line > p => (p, offset, BreakKind::Missing { recorded: prefix.line }),
            None => (p - 1, prev_offset, BreakKind::Edited),
        }
    }
}

impl<R: BufRead> Iterator for LogReader<R> {
    type Item = Result<(u64, Entry), LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_entry().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl Stats {
    fn count(&mut self, entry: &Entry) {
        match entry {
            Entry::Record(r) => {
                self.records += 1;
                match r.verdict {
                    LogVerdict::Affirming => self.verdicts.affirming += 1,
                    LogVerdict::Warning => self.verdicts.warning += 1,
                    LogVerdict::Contraindicated => self.verdicts.contraindicated += 1,
                }
                self.time_range = Some(match self.time_range {
                    None => (r.time, r.time),
                    Some((a, b)) => (a.min(r.time), b.max(r.time)),
                });
            }
            Entry::Checkpoint(c) => {
                self.checkpoints += 1;
                self.last_checkpoint = Some(c.line);
            }
        }
    }
}

/// Parses a line after the header: its prefix, then the whole line as the kind it announces.
fn parse_entry(raw: &RawLine) -> Result<(Prefix, Entry), LogError> {
    let (no, offset) = (raw.no, raw.offset);
    let prefix = wire::prefix(&raw.bytes).map_err(|reason| {
        if wire::looks_like_header(&raw.bytes) {
            broken(no, offset, BreakKind::DuplicateHeader)
        } else {
            broken(no, offset, BreakKind::Unparsable { reason })
        }
    })?;
    let unparsable = |e: serde_json::Error| broken(no, offset, BreakKind::Unparsable { reason: e.to_string() });
    let entry = match prefix.kind {
        LineKind::Appraisal => Entry::Record(serde_json::from_slice::<LogRecord>(&raw.bytes).map_err(unparsable)?),
        LineKind::Checkpoint => {
            Entry::Checkpoint(serde_json::from_slice::<Checkpoint>(&raw.bytes).map_err(unparsable)?)
        }
    };
    Ok((prefix, entry))
}

fn broken(line: u64, offset: u64, kind: BreakKind) -> LogError {
    LogError::Broken { line, offset, kind }
}

/// The last [`WINDOW`] line hashes, each with its line number and the offset just past it. A sound
/// chain never holds the same line twice (each line names a different predecessor).
#[derive(Debug, Default)]
struct Window {
    map: HashMap<Sha384Digest, (u64, u64)>,
    order: VecDeque<Sha384Digest>,
}

impl Window {
    fn push(&mut self, hash: Sha384Digest, no: u64, end: u64) {
        if self.order.len() == WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.map.insert(hash, (no, end));
        self.order.push_back(hash);
    }

    /// Line number and end offset of the line hashing to `hash`.
    fn get(&self, hash: &Sha384Digest) -> Option<&(u64, u64)> {
        self.map.get(hash)
    }
}
