//! The attestation log on disk: creation, appends that chain across appenders and threads, checkpoints,
//! a torn tail after a simulated crash (detected on open and by verification, never appended after) and
//! the operator's repair.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;

use ccgpu_attestation::{
    AppendOptions, Appender, BreakKind, CheckpointKey, CheckpointSigner, Checkpointing, ClaimRef, DeviceEntry,
    DeviceKind, EvidenceDigests, LogContext, LogError, LogReader, LogRecord, LogVerdict, Repair, Sha384Digest,
    repair_torn_tail,
};
use time::macros::datetime;

fn record(i: u64, node: &str) -> LogRecord {
    let mut ctx = LogContext::new(datetime!(2025-09-01 0:00 UTC));
    ctx.node = Some(node.to_owned());
    ctx.claim = Some(ClaimRef { name: Some(format!("claim-{i}")), ..ClaimRef::default() });
    let device = DeviceEntry {
        kind: DeviceKind::Gpu,
        uuid: Some(format!("GPU-{i}")),
        bdf: None,
        verdict: LogVerdict::Affirming,
        failed_checks: vec![],
        warnings: vec![],
        driver_version: None,
        vbios_version: None,
        evidence: EvidenceDigests { report: Some(Sha384Digest::of(&i.to_le_bytes())), ..EvidenceDigests::default() },
    };
    LogRecord::new(&ctx, LogVerdict::Affirming, vec![], vec![device])
}

fn options() -> AppendOptions {
    AppendOptions::new(datetime!(2025-09-01 0:00 UTC))
}

fn line_offsets(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).expect("read");
    let mut offsets = vec![0];
    offsets.extend(
        bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| u64::try_from(i + 1).expect("offset")),
    );
    offsets
}

fn verify(path: &Path) -> Result<ccgpu_attestation::LogSummary, LogError> {
    LogReader::open(path).expect("open").verify()
}

#[test]
fn creates_appends_and_reopens_one_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let log = Appender::open(&path, options()).expect("create");
    assert_eq!(log.head().line, 1);
    for i in 0..5 {
        let appended = log.append(&record(i, "a")).expect("append");
        assert_eq!(appended.record.line, i + 2);
        assert_eq!(appended.checkpoint, None);
    }
    let id = log.log_id();
    let head = log.head();
    drop(log);
    // Only the log: the creation temp file is gone.
    assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 1);

    let again = Appender::open(&path, options()).expect("reopen");
    assert_eq!((again.log_id(), again.head()), (id, head));
    again.append(&record(5, "b")).expect("append");
    let summary = verify(&path).expect("sound");
    assert_eq!((summary.lines, summary.records, summary.header.log_id), (7, 6, id));
    assert_eq!(summary.head, again.head());

    let text = fs::read_to_string(&path).expect("read");
    assert!(
        text.starts_with(&format!(
            r#"{{"kind":"header","format":"ccgpu-attestation-log","version":1,"log_id":"{id}","#
        ))
    );
    assert!(text.lines().nth(1).expect("line 2").starts_with(r#"{"prev":""#));
    assert!(text.ends_with("}\n"));
}

#[test]
fn appenders_in_threads_and_separate_handles_keep_one_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let shared = Arc::new(Appender::open(&path, options()).expect("create"));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let path = path.clone();
            std::thread::spawn(move || {
                // Each thread also has its own appender (its own open file, as another process would).
                let own = Appender::open(&path, options()).expect("open");
                for i in 0..25 {
                    shared.append(&record(i, &format!("shared-{t}"))).expect("shared append");
                    own.append(&record(i, &format!("own-{t}"))).expect("own append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let summary = verify(&path).expect("one sound chain");
    assert_eq!((summary.records, summary.lines), (200, 201));
}

#[test]
fn a_torn_tail_is_reported_on_open_and_by_verify_and_repaired() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let log = Appender::open(&path, options()).expect("create");
    for i in 0..3 {
        log.append(&record(i, "a")).expect("append");
    }
    drop(log);
    let offsets = line_offsets(&path);
    let torn_at = offsets[4]; // where line 5 starts
    // A crash in the middle of writing line 5: half a line, no newline.
    let half = br#"{"prev":"0123456789abcdef","line":5,"kind":"appr"#;
    OpenOptions::new().append(true).open(&path).expect("open").write_all(half).expect("write");

    let err = Appender::open(&path, options()).expect_err("torn");
    let len = u64::try_from(half.len()).expect("len");
    assert_eq!(err.broken().map(|(l, o, k)| (l, o, k.clone())), Some((5, torn_at, BreakKind::TornTail { len })));
    assert_eq!(
        format!("{err}: {}", std::error::Error::source(&err).expect("source")),
        format!(
            "attestation log {}: line 5 (byte {torn_at}): torn tail: {len} bytes without a newline (interrupted append; `repair` moves them aside)",
            path.display()
        )
    );
    let err = verify(&path).expect_err("torn");
    assert_eq!(err.broken().map(|(l, o, k)| (l, o, k.clone())), Some((5, torn_at, BreakKind::TornTail { len })));

    let repair = repair_torn_tail(&path).expect("repair").expect("something to repair");
    let saved = path.with_file_name("attest.log.torn");
    assert_eq!(repair, Repair { offset: torn_at, len, saved_to: saved.clone() });
    assert_eq!(fs::read(&saved).expect("saved"), half);
    assert_eq!(repair_torn_tail(&path).expect("clean"), None);

    let log = Appender::open(&path, options()).expect("open after repair");
    assert_eq!(log.append(&record(9, "a")).expect("append").record.line, 5);
    assert_eq!(verify(&path).expect("sound").records, 4);

    // A second torn tail goes to the next free name.
    OpenOptions::new().append(true).open(&path).expect("open").write_all(b"{").expect("write");
    let again = repair_torn_tail(&path).expect("repair").expect("repaired");
    assert_eq!(again.saved_to, path.with_file_name("attest.log.torn.1"));
}

#[test]
fn an_unparsable_last_line_blocks_appends_and_can_be_moved_aside() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let log = Appender::open(&path, options()).expect("create");
    log.append(&record(0, "a")).expect("append");
    OpenOptions::new().append(true).open(&path).expect("open").write_all(b"garbage\n").expect("write");
    let at = line_offsets(&path)[2];

    // The appender that was open notices the file changed under the lock and refuses too.
    let err = log.append(&record(1, "a")).expect_err("garbage tail");
    assert_eq!(err.broken().map(|(l, o, _)| (l, o)), Some((3, at)));
    assert!(matches!(err.broken(), Some((_, _, BreakKind::Unparsable { .. }))), "{err}");
    let err = Appender::open(&path, options()).expect_err("garbage tail");
    assert_eq!(err.broken().map(|(l, o, _)| (l, o)), Some((3, at)));

    let repair = repair_torn_tail(&path).expect("repair").expect("repaired");
    assert_eq!((repair.offset, repair.len), (at, 8));
    log.append(&record(1, "a")).expect("append after repair");
    assert_eq!(verify(&path).expect("sound").records, 2);
}

#[test]
fn repair_refuses_what_a_crash_cannot_leave() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let log = Appender::open(&path, options()).expect("create");
    for i in 0..3 {
        log.append(&record(i, "a")).expect("append");
    }
    // The second-to-last line edited: the last line no longer links.
    let text = fs::read_to_string(&path).expect("read");
    let edited = text.replacen("claim-1", "claim-X", 1);
    fs::write(&path, &edited).expect("write");
    let err = Appender::open(&path, options()).expect_err("edited");
    assert_eq!(err.broken().map(|(l, _, k)| (l, k.clone())), Some((3, BreakKind::EditedOrLastPrev { last: 4 })));
    let err = repair_torn_tail(&path).expect_err("not a crash");
    let LogError::File { source, .. } = &err else { panic!("{err:?}") };
    assert!(matches!(**source, LogError::NotRepairable(_)), "{err:?}");
    assert_eq!(fs::read_to_string(&path).expect("read"), edited, "nothing changed");
    assert!(!path.with_file_name("attest.log.torn").exists());
}

#[test]
fn checkpoints_every_n_records_verify_with_the_public_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let key_file = dir.path().join("key.pk8");
    fs::write(&key_file, CheckpointSigner::generate_pkcs8().expect("generate")).expect("write key");
    let signer = CheckpointSigner::from_pkcs8(&fs::read(&key_file).expect("key")).expect("load");
    let public = CheckpointKey::from_spki(signer.public_key_pem().as_bytes()).expect("public");
    let options = AppendOptions {
        checkpoints: Some(Checkpointing { signer, every: NonZeroU64::new(4).expect("non-zero") }),
        ..options()
    };
    let log = Appender::open(&path, options).expect("create");
    let mut checkpoints = vec![];
    for i in 0..9 {
        if let Some(cp) = log.append(&record(i, "a")).expect("append").checkpoint {
            checkpoints.push(cp.line);
        }
    }
    assert_eq!(checkpoints, [6, 11]);
    let sealed = log.checkpoint(datetime!(2025-09-02 0:00 UTC)).expect("seal");
    assert_eq!(sealed.line, 13);

    let summary = LogReader::open(&path).expect("open").with_checkpoint_key(public).verify().expect("signed");
    assert_eq!((summary.checkpoints, summary.last_checkpoint, summary.records), (3, Some(13), 9));
    assert!(summary.checkpoints_verified);
    assert_eq!(summary.head, sealed);

    let plain = Appender::open(&path, AppendOptions::new(datetime!(2025-09-01 0:00 UTC))).expect("open");
    assert!(matches!(plain.checkpoint(datetime!(2025-09-02 0:00 UTC)), Err(LogError::NoSigner)));
}

#[test]
fn an_anchored_head_detects_truncation_of_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let log = Appender::open(&path, options()).expect("create");
    let mut head = log.head();
    for i in 0..4 {
        head = log.append(&record(i, "a")).expect("append").record;
    }
    let offsets = line_offsets(&path);
    let cut = OpenOptions::new().write(true).open(&path).expect("open");
    cut.set_len(offsets[4]).expect("truncate"); // keep lines 1..=4
    verify(&path).expect("a shorter sound log");
    let err = LogReader::open(&path).expect("open").with_anchor(head).verify().expect_err("truncated");
    assert_eq!(
        err.broken().map(|(l, o, k)| (l, o, k.clone())),
        Some((5, offsets[4], BreakKind::Truncated { expected: 5, found: 4 }))
    );
}

#[test]
fn oversized_records_are_refused_without_touching_the_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("attest.log");
    let log = Appender::open(&path, options()).expect("create");
    let mut big = record(0, "a");
    big.failed_checks = vec!["x".repeat(1 << 20)];
    let before = fs::read(&path).expect("read");
    assert!(matches!(log.append(&big), Err(LogError::RecordTooLong { .. })));
    assert_eq!(fs::read(&path).expect("read"), before);
    log.append(&record(1, "a")).expect("append");
    verify(&path).expect("sound");
}
