//! Why a log could not be read, verified or appended to, and where.
//!
//! A broken log is always reported as [`LogError::Broken`]: the first line that is wrong (1-based), its
//! byte offset, and a [`BreakKind`] saying what is wrong with it. Everything else is I/O or bad input.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::digest::Sha384Digest;

/// Errors of the attestation log.
#[derive(Debug, Error)]
pub enum LogError {
    /// The log is not an intact chain: `line` (1-based, at byte `offset`) is the first line that is wrong.
    #[error("{}", .kind.at(*.line, *.offset))]
    Broken {
        /// The first broken line, 1-based.
        line: u64,
        /// Its byte offset in the log.
        offset: u64,
        /// What is wrong with it.
        kind: BreakKind,
    },
    /// An error about a log file, with its path.
    #[error("attestation log {}", path.display())]
    File {
        /// The log file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<LogError>,
    },
    /// A file-system operation failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading the log stream failed.
    #[error("reading line {line} at byte {offset}")]
    Read {
        /// The line being read.
        line: u64,
        /// Its byte offset.
        offset: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A value given to build a record or key is malformed.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// The value (shortened).
        value: String,
        /// Why.
        reason: String,
    },
    /// A record would serialize to a line longer than the limit.
    #[error("record is {len} bytes, over the {limit}-byte line limit")]
    RecordTooLong {
        /// Serialized length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A checkpoint key could not be loaded or used.
    #[error("checkpoint key: {0}")]
    Key(String),
    /// Checkpoints were asked for but the appender has no signing key.
    #[error("no checkpoint signing key configured")]
    NoSigner,
    /// `repair` found something other than one torn or unparsable last line.
    #[error("cannot repair: {0}")]
    NotRepairable(String),
}

impl LogError {
    /// The first broken line, its offset and what is wrong, looking through [`LogError::File`].
    pub fn broken(&self) -> Option<(u64, u64, &BreakKind)> {
        match self {
            Self::Broken { line, offset, kind } => Some((*line, *offset, kind)),
            Self::File { source, .. } => source.broken(),
            _ => None,
        }
    }

    /// This error, naming the file it happened in (unless it already names one).
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            Self::File { .. } | Self::Io { .. } => self,
            other => Self::File { path: path.into(), source: Box::new(other) },
        }
    }
}

/// What is wrong with the first broken line.
///
/// Detection is certain; the classification (edited vs. missing vs. swapped) is the most likely
/// explanation of a single change, derived from which neighbouring lines the hashes still link and from
/// the line numbers each line carries. Several changes at once are reported at the first break, possibly
/// under a less specific kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// Line 1 is not a valid header (or the log is empty).
    BadHeader {
        /// Why.
        reason: String,
    },
    /// A header after line 1.
    DuplicateHeader,
    /// Not a well-formed record or checkpoint line.
    Unparsable {
        /// Why.
        reason: String,
    },
    /// Longer than the line limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The last line has no terminating newline: an append was interrupted (a crash), or the file was cut.
    TornTail {
        /// Length of the unterminated bytes.
        len: u64,
    },
    /// This line was changed after the next line was written: its hash is not the next line's `prev`.
    Edited,
    /// This line or the last line after it was changed: the last line's `prev` is not this line's hash,
    /// and with no later line, checkpoint or anchored head the chain cannot tell which of the two changed.
    EditedOrLastPrev {
        /// The last line.
        last: u64,
    },
    /// Lines are missing right before this one: it follows the line before it but carries a larger
    /// number.
    Missing {
        /// The number this line carries; lines `line..recorded` of the original are missing.
        recorded: u64,
    },
    /// This line and the next one are swapped.
    Swapped,
    /// Lines from this one to `last` do not belong here: the line after `last` follows the line before
    /// this one.
    Inserted {
        /// The last foreign line.
        last: u64,
    },
    /// An exact copy of an earlier line (a replay).
    Duplicate {
        /// The line it copies.
        of: u64,
    },
    /// The chain links, but the line carries another number: lines were renumbered and the chain recomputed.
    Misnumbered {
        /// The number the line carries.
        recorded: u64,
    },
    /// A checkpoint whose signature does not verify with the auditor's key.
    BadSignature,
    /// A checkpoint signed by a key other than the auditor's.
    UnknownKey {
        /// The key id in the checkpoint.
        key_id: Sha384Digest,
    },
    /// With a checkpoint key, more records follow the header or the last checkpoint than the stated
    /// cadence allows: checkpoints were dropped (a rewritten log) or the appender stopped signing.
    CheckpointOverdue {
        /// The last checkpoint's line; `None` when the log has none before this line.
        last_checkpoint: Option<u64>,
        /// At most this many records may follow it.
        max_records: u64,
    },
    /// The log ends before the anchored head.
    Truncated {
        /// Lines the anchor says the log has at least.
        expected: u64,
        /// Lines found.
        found: u64,
    },
    /// The line at the anchored position does not hash to the anchored head.
    HeadMismatch {
        /// The anchored hash.
        expected: Sha384Digest,
    },
}

impl BreakKind {
    /// A sentence naming the line(s) concerned, e.g. "line 7 (byte 1840) follows line 6 but carries
    /// number 8: line 7 of the original is missing".
    pub fn at(&self, line: u64, offset: u64) -> String {
        let at = format!("line {line} (byte {offset})");
        match self {
            Self::Edited => format!("{at} was edited: its hash is not the prev of line {}", line.saturating_add(1)),
            Self::EditedOrLastPrev { last } => {
                format!(
                    "{at} was edited, or the prev of line {last} (the last line) was: line {last} does not follow it"
                )
            }
            Self::Missing { recorded } => {
                let gone = if *recorded == line.saturating_add(1) {
                    format!("line {line} of the original is missing")
                } else {
                    format!("lines {line}..={} of the original are missing", recorded.saturating_sub(1))
                };
                format!("{at} follows line {} but carries number {recorded}: {gone}", line.saturating_sub(1))
            }
            Self::Swapped => format!("lines {line} and {} are swapped (byte {offset})", line.saturating_add(1)),
            Self::Inserted { last } if *last == line => {
                format!(
                    "{at} does not belong here: line {} follows line {}",
                    last.saturating_add(1),
                    line.saturating_sub(1)
                )
            }
            Self::Inserted { last } => {
                format!(
                    "lines {line}..={last} (from byte {offset}) do not belong here: line {} follows line {}",
                    last.saturating_add(1),
                    line.saturating_sub(1)
                )
            }
            Self::Duplicate { of } => format!("{at} is a copy of line {of}"),
            other => format!("{at}: {other}"),
        }
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadHeader { reason } => write!(f, "bad header: {reason}"),
            Self::DuplicateHeader => f.write_str("a second header"),
            Self::Unparsable { reason } => write!(f, "unparsable: {reason}"),
            Self::TooLong { limit } => write!(f, "line longer than {limit} bytes"),
            Self::TornTail { len } => {
                write!(f, "torn tail: {len} bytes without a newline (interrupted append; `repair` moves them aside)")
            }
            Self::Edited => f.write_str("edited: its hash is not the next line's prev"),
            Self::EditedOrLastPrev { last } => write!(
                f,
                "edited, or the prev of line {last} (the last line) was: line {last} does not follow this line"
            ),
            Self::Missing { recorded } => write!(f, "lines are missing before it: it carries number {recorded}"),
            Self::Swapped => f.write_str("swapped with the next line"),
            Self::Inserted { last } => {
                write!(f, "inserted: the line after line {last} follows the line before this one")
            }
            Self::Duplicate { of } => write!(f, "a copy of line {of}"),
            Self::Misnumbered { recorded } => write!(f, "carries number {recorded}: lines were renumbered"),
            Self::BadSignature => f.write_str("checkpoint signature does not verify"),
            Self::UnknownKey { key_id } => write!(f, "checkpoint signed by another key ({key_id})"),
            Self::CheckpointOverdue { last_checkpoint, max_records } => {
                let since = last_checkpoint.map_or_else(
                    || "the header (no checkpoint yet)".to_owned(),
                    |l| format!("the checkpoint at line {l}"),
                );
                write!(
                    f,
                    "record {} after {since}, but at most {max_records} may follow one without a new signed \
                     checkpoint: checkpoints were removed or never written",
                    max_records.saturating_add(1)
                )
            }
            Self::Truncated { expected, found } => {
                write!(f, "truncated: the log has {found} lines, the anchored head is line {expected}")
            }
            Self::HeadMismatch { expected } => write!(f, "does not hash to the anchored head {expected}"),
        }
    }
}
