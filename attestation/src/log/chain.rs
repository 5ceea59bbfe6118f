//! Building chained lines in memory: the pure half of the appender, also used by tests, benchmarks and
//! tools that produce logs without a file.

use time::OffsetDateTime;

use super::checkpoint::CheckpointSigner;
use super::digest::Sha384Digest;
use super::error::LogError;
use super::record::{Checkpoint, Header, LogId, LogRecord};
use super::verify::Head;
use super::wire::MAX_LINE;

/// The state needed to write the next line: the log's id and its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    log_id: LogId,
    head: Head,
}

impl Chain {
    /// A new log: the chain and its header line (without newline).
    pub fn start(header: &Header) -> Result<(Self, Vec<u8>), LogError> {
        let line = to_line(header)?;
        Ok((Self { log_id: header.log_id, head: Head { line: 1, hash: Sha384Digest::of(&line) } }, line))
    }

    /// Continues a log whose last line is `head`.
    pub fn resume(log_id: LogId, head: Head) -> Self {
        Self { log_id, head }
    }

    /// The log's id.
    pub fn log_id(&self) -> LogId {
        self.log_id
    }

    /// The last line written.
    pub fn head(&self) -> Head {
        self.head
    }

    /// `record` as the next line (its `prev` and `line` replaced), without newline. Call
    /// [`Chain::advance`] once the line is written.
    pub fn record_line(&self, record: &LogRecord) -> Result<Vec<u8>, LogError> {
        let mut chained = record.clone();
        chained.prev = self.head.hash;
        chained.line = self.head.line.saturating_add(1);
        to_line(&chained)
    }

    /// A signed checkpoint of the current head as the next line, without newline.
    pub fn checkpoint_line(&self, signer: &CheckpointSigner, time: OffsetDateTime) -> Result<Vec<u8>, LogError> {
        let unsigned = Checkpoint::unsigned(self.head.hash, self.head.line.saturating_add(1), time, signer.key_id());
        let line = signer.sign_line(&self.log_id, unsigned)?;
        check_len(line)
    }

    /// Moves the head past `line` (as written, without newline) and returns the new head.
    pub fn advance(&mut self, line: &[u8]) -> Head {
        self.head = Head { line: self.head.line.saturating_add(1), hash: Sha384Digest::of(line) };
        self.head
    }
}

fn to_line<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, LogError> {
    let line = serde_json::to_vec(value).map_err(|e| LogError::InvalidField {
        field: "line",
        value: String::new(),
        reason: e.to_string(),
    })?;
    check_len(line)
}

fn check_len(line: Vec<u8>) -> Result<Vec<u8>, LogError> {
    if line.len() > MAX_LINE {
        return Err(LogError::RecordTooLong { len: line.len(), limit: MAX_LINE });
    }
    Ok(line)
}
