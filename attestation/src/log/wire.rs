//! The byte-level shape of a log: bounded line splitting over any reader, and the fixed prefix every
//! line after the header starts with (`{"prev":"<96 hex>","line":<n>,"kind":"<kind>"`).
//!
//! The prefix is read without a JSON parser so the chain can be followed (and a break classified by
//! peeking at the next line) cheaply; the full line is still parsed by serde, which re-reads the same
//! three fields and refuses duplicates, so the fast read can never disagree with the typed one.

use std::io::{BufRead, Read};

use super::digest::Sha384Digest;
use super::error::{BreakKind, LogError};
use super::record::{AppraisalTag, CheckpointTag, HeaderTag};

/// The longest line accepted, newline excluded (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

/// Which kind of line a prefix announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    Appraisal,
    Checkpoint,
}

/// The chain fields of a line after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefix {
    pub prev: Sha384Digest,
    pub line: u64,
    pub kind: LineKind,
}

const PREV: &[u8] = br#"{"prev":""#;
const LINE: &[u8] = br#"","line":"#;
const KIND: &[u8] = br#","kind":""#;
const HEADER_START: &[u8] = br#"{"kind":""#;

/// Reads the fixed prefix of a record or checkpoint line.
pub(crate) fn prefix(line: &[u8]) -> Result<Prefix, String> {
    let rest = line.strip_prefix(PREV).ok_or("does not start with {\"prev\":\"")?;
    let (hex, rest) = rest.split_at_checked(96).ok_or("prev is not 96 hex digits")?;
    let prev = Sha384Digest::from_hex(hex).ok_or("prev is not 96 lowercase hex digits")?;
    let rest = rest.strip_prefix(LINE).ok_or("prev is not followed by \"line\"")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, rest) = rest.split_at(digits);
    let line_no = parse_number(number).ok_or("line is not a canonical unsigned integer")?;
    let rest = rest.strip_prefix(KIND).ok_or("line is not followed by \"kind\"")?;
    let kind = if rest.starts_with(AppraisalTag::VALUE.as_bytes()) {
        (LineKind::Appraisal, AppraisalTag::VALUE.len())
    } else if rest.starts_with(CheckpointTag::VALUE.as_bytes()) {
        (LineKind::Checkpoint, CheckpointTag::VALUE.len())
    } else {
        return Err("kind is neither \"appraisal\" nor \"checkpoint\"".into());
    };
    if rest.get(kind.1) != Some(&b'"') {
        return Err("kind is neither \"appraisal\" nor \"checkpoint\"".into());
    }
    if line.last() != Some(&b'}') {
        return Err("does not end with }".into());
    }
    Ok(Prefix { prev, line: line_no, kind: kind.0 })
}

/// True when the line starts like a header (`{"kind":"header"`).
pub(crate) fn looks_like_header(line: &[u8]) -> bool {
    line.strip_prefix(HEADER_START)
        .and_then(|r| r.strip_prefix(HeaderTag::VALUE.as_bytes()))
        .is_some_and(|r| r.first() == Some(&b'"'))
}

fn parse_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// One line as read: its number, offset, bytes (newline excluded) and whether a newline ended it.
#[derive(Debug)]
pub(crate) struct RawLine {
    pub no: u64,
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub terminated: bool,
}

impl RawLine {
    /// Bytes the line occupies in the log, newline included.
    pub fn span(&self) -> u64 {
        u64::try_from(self.bytes.len()).unwrap_or(u64::MAX).saturating_add(u64::from(self.terminated))
    }
}

/// Splits a stream into lines of at most [`MAX_LINE`] bytes, with one line of look-ahead.
#[derive(Debug)]
pub(crate) struct Lines<R> {
    reader: R,
    next_no: u64,
    offset: u64,
    peeked: Option<Result<Option<RawLine>, LogError>>,
    spare: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Self { reader, next_no: 1, offset: 0, peeked: None, spare: Vec::new() }
    }

    /// The next line, `Ok(None)` at the end.
    pub fn next_line(&mut self) -> Result<Option<RawLine>, LogError> {
        match self.peeked.take() {
            Some(r) => r,
            None => self.read(),
        }
    }

    /// The line after the current one, without consuming it.
    pub fn peek(&mut self) -> Option<&RawLine> {
        if self.peeked.is_none() {
            self.peeked = Some(self.read());
        }
        self.peeked.as_ref().and_then(|r| r.as_ref().ok()).and_then(Option::as_ref)
    }

    /// Hands a consumed line's buffer back for reuse.
    pub fn recycle(&mut self, line: RawLine) {
        self.spare = line.bytes;
    }

    /// Where the next unread byte is (the end of the stream once it is exhausted).
    pub fn position(&self) -> u64 {
        self.offset
    }

    fn read(&mut self) -> Result<Option<RawLine>, LogError> {
        let (no, offset) = (self.next_no, self.offset);
        let mut bytes = std::mem::take(&mut self.spare);
        bytes.clear();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX).saturating_add(1);
        let n = (&mut self.reader).take(limit).read_until(b'\n', &mut bytes).map_err(|source| LogError::Read {
            line: no,
            offset,
            source,
        })?;
        if n == 0 {
            return Ok(None);
        }
        let terminated = bytes.last() == Some(&b'\n');
        if terminated {
            bytes.pop();
        }
        if bytes.len() > MAX_LINE {
            return Err(LogError::Broken { line: no, offset, kind: BreakKind::TooLong { limit: MAX_LINE } });
        }
        self.next_no = no.saturating_add(1);
        self.offset = offset.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(Some(RawLine { no, offset, bytes, terminated }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(prev: &str, rest: &str) -> Vec<u8> {
        format!(r#"{{"prev":"{prev}","line":{rest}"#).into_bytes()
    }

    #[test]
    fn prefix_reads_the_chain_fields_and_refuses_variants() {
        let h = "ab".repeat(48);
        let p = prefix(&line(&h, r#"12,"kind":"appraisal","x":1}"#)).expect("prefix");
        assert_eq!((p.prev, p.line, p.kind), (Sha384Digest([0xab; 48]), 12, LineKind::Appraisal));
        let p = prefix(&line(&h, r#"3,"kind":"checkpoint"}"#)).expect("prefix");
        assert_eq!(p.kind, LineKind::Checkpoint);
        for bad in [
            line(&h.to_uppercase(), r#"3,"kind":"checkpoint"}"#),
            line(&h[..94], r#"3,"kind":"checkpoint"}"#),
            line(&h, r#"03,"kind":"checkpoint"}"#),
            line(&h, r#"18446744073709551616,"kind":"checkpoint"}"#),
            line(&h, r#","kind":"checkpoint"}"#),
            line(&h, r#"3,"kind":"checkpoints"}"#),
            line(&h, r#"3, "kind":"checkpoint"}"#),
            line(&h, r#"3,"kind":"checkpoint"} "#),
            br#"{"kind":"header"}"#.to_vec(),
            Vec::new(),
        ] {
            assert!(prefix(&bad).is_err(), "{}", String::from_utf8_lossy(&bad));
        }
        assert!(looks_like_header(br#"{"kind":"header","format":"x"}"#));
        assert!(!looks_like_header(br#"{"kind":"headers"}"#));
    }

    #[test]
    fn lines_are_bounded_numbered_and_peekable() {
        let long = vec![b'x'; MAX_LINE + 1];
        let mut data = b"one\ntwo\n".to_vec();
        data.extend_from_slice(&long);
        let mut lines = Lines::new(&data[..]);
        let first = lines.next_line().expect("read").expect("line");
        assert_eq!((first.no, first.offset, first.bytes.as_slice(), first.terminated), (1, 0, &b"one"[..], true));
        assert_eq!(lines.peek().map(|l| l.bytes.clone()), Some(b"two".to_vec()));
        let second = lines.next_line().expect("read").expect("line");
        assert_eq!((second.no, second.offset), (2, 4));
        let err = lines.next_line().expect_err("too long");
        assert_eq!(err.broken().map(|(l, o, _)| (l, o)), Some((3, 8)));

        let mut torn = Lines::new(&b"a\nbc"[..]);
        torn.next_line().expect("read");
        let last = torn.next_line().expect("read").expect("line");
        assert!(!last.terminated);
        assert!(torn.next_line().expect("read").is_none());
        assert_eq!(torn.position(), 4);
    }
}
