//! The tamper-evident attestation log: one appraisal per line, each line chained to the one before it by
//! SHA-384, so a security team can show why a workload was released and that the record was not edited
//! afterwards.
//!
//! # Format (version 1)
//!
//! JSON Lines, UTF-8, every line ended by `\n`, at most [`MAX_LINE`] bytes, append-only. Fields always
//! appear in the order below; optional fields are omitted when absent; unknown fields are refused.
//!
//! Line 1, the header:
//! ```json
//! {"kind":"header","format":"ccgpu-attestation-log","version":1,"log_id":"<32 hex>","created":"<RFC 3339>"}
//! ```
//! Every later line starts with the same three fields, in this order and with no whitespace:
//! `{"prev":"<96 hex>","line":<n>,"kind":"appraisal"|"checkpoint"`, where `prev` is the SHA-384 of the
//! previous line's exact bytes (without its newline) and `line` is the line's own 1-based number.
//!
//! An appraisal record ([`LogRecord`]):
//! ```json
//! {"prev":"…","line":2,"kind":"appraisal","time":"2025-09-01T10:00:00Z","verified_at":"…","node":"n1",
//!  "claim":{"namespace":"ml","name":"gpu-claim","uid":"…","pod":"trainer-0"},"nonce":"<hex>",
//!  "policy_digest":"<96 hex>","verdict":"affirming"|"warning"|"contraindicated","failed_checks":["…"],
//!  "verifier":"ccgpu-attestation 0.1.0","devices":[{"kind":"gpu"|"snp","uuid":"GPU-…","bdf":"0000:41:00.0",
//!  "verdict":"…","failed_checks":[],"driver_version":"…","vbios_version":"…",
//!  "evidence":{"report":"<96 hex>","chain":"…","driver_rim":"…","vbios_rim":"…"}}]}
//! ```
//! (one line in the log; wrapped here). A composite (GPU + SNP) appraisal is one record with several
//! device entries.
//!
//! A checkpoint ([`Checkpoint`]), optional, written by the appender every N records when it has an
//! operator key:
//! ```json
//! {"prev":"…","line":12,"kind":"checkpoint","time":"…","key_id":"<96 hex>","signature":"<DER hex>"}
//! ```
//! signed with ECDSA P-384/SHA-384 over `"ccgpu-attestation-log checkpoint v1\n" ‖ log_id ‖ "\n" ‖` the
//! line's bytes before `,"signature":"` (see `checkpoint`).
//!
//! # What the chain proves, and what it cannot
//!
//! [`LogReader::verify`] proves every line is well-formed, numbered in sequence and carries the hash of
//! the line before it, back to a header; it names the first line where that fails (see [`BreakKind`]).
//! So editing, deleting, inserting or reordering any line *before the last* is detected. The chain alone
//! cannot detect removal of lines from the end, or a change to the last line: anchor the head outside
//! the log ([`Head`], returned by every append and by verification) or sign checkpoints, and pass the
//! anchor or key to the reader. Anyone able to rewrite the whole file can recompute every hash: only a
//! signed checkpoint (the key held elsewhere) or an external anchor protects against that, and only for
//! the lines it covers.
//!
//! # Rotation
//!
//! A long-running appender (the `ccgpu-verifier` service) rotates its log into several files, one chain
//! across them: every file after the first starts with a header carrying the same `log_id` and a
//! `continues` field naming the previous file's last line and its hash
//! (`{"kind":"header",…,"created":"…","continues":{"line":812,"hash":"<96 hex>"}}`). Line numbers start
//! again at 1 in each file, so every file verifies on its own; [`verify_segments`] orders the files of each
//! `log_id` by those links and reports a missing, forked or unlinked file. (A log that was never rotated
//! has no `continues` and reads exactly as before.)
//!
//! # Layout
//!
//! Pure: `record` (the line types), `digest` (the SHA-384 digest and strict hex), `chain` (building
//! chained lines), `wire` (line splitting and the fixed prefix), `verify` (the verifying reader, queries),
//! `checkpoint` (signing), `error` (what breaks), `segments` (several files, several logs). I/O: `file` only (appender, open, repair).
//!
//! Trusts: nothing in a log. Only the auditor's checkpoint key and head anchor add trust beyond the chain.

pub(crate) mod chain;
mod checkpoint;
mod digest;
mod error;
mod file;
mod record;
mod segments;
mod verify;
pub(crate) mod wire;

pub use checkpoint::{CheckpointKey, CheckpointSigner};
pub use digest::Sha384Digest;
pub use error::{BreakKind, LogError};
pub use file::{AppendOptions, Appended, Appender, Checkpointing, Repair, repair_torn_tail};
pub use record::{
    Checkpoint, ClaimRef, Continues, DeviceEntry, DeviceKind, Entry, EvidenceDigests, FORMAT, FORMAT_VERSION, GpuRef,
    Header, HexBytes, LogContext, LogId, LogRecord, LogVerdict, Timestamp, VERIFIER,
};
pub use segments::{ChainReport, SegmentReport, verify_segments};
pub use verify::{DEFAULT_CHECKPOINT_EVERY, Filter, Head, LogReader, LogSummary, VerdictCounts};
