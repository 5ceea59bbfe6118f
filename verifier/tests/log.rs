//! The central log's durability: a torn tail (a crash mid-append) is moved aside on start and appends
//! resume on a verifiable chain; other damage stops the start; rotation keeps one chain across files that
//! `ccgpu log verify` (the attestation crate's segment check) proves together.

mod common;

use std::io::Write as _;

use ccgpu_attestation::{LogContext, LogReader, LogRecord, LogVerdict, verify_segments};
use ccgpu_verifier::CentralLog;
use time::OffsetDateTime;

fn record(node: &str) -> LogRecord {
    let mut ctx = LogContext::new(OffsetDateTime::now_utc());
    ctx.node = Some(node.to_owned());
    LogRecord::new(&ctx, LogVerdict::Affirming, Vec::new(), Vec::new())
}

fn open(dir: &std::path::Path, rotate: u64) -> (CentralLog, ccgpu_verifier::Opened) {
    CentralLog::open(dir, rotate, None, OffsetDateTime::now_utc()).expect("open")
}

#[test]
fn a_torn_tail_is_moved_aside_on_start_and_appends_resume_on_an_intact_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, opened) = open(dir.path(), 1 << 30);
    assert_eq!(opened.repaired, None);
    let first = log.append(&record("a")).expect("append");
    let path = dir.path().join("attestation-000001.log");
    drop(log);
    // What a crash mid-write leaves: part of a line, no newline.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
    f.write_all(br#"{"prev":"00","line":3,"kind":"apprai"#).expect("write");
    drop(f);
    assert!(LogReader::open(&path).expect("open").verify().is_err(), "the torn line breaks the chain");

    let (log, opened) = open(dir.path(), 1 << 30);
    let (saved, bytes) = opened.repaired.expect("repaired");
    assert_eq!(bytes, 36);
    assert_eq!(std::fs::read(&saved).expect("saved"), br#"{"prev":"00","line":3,"kind":"apprai"#);
    let second = log.append(&record("b")).expect("append");
    assert_eq!((first.line, second.line), (2, 3), "the torn line's number is reused by the next record");
    let summary = LogReader::open(&path).expect("open").verify().expect("intact after repair");
    assert_eq!(summary.records, 2);
    assert_eq!(log.get(second).expect("read").and_then(|r| r.node), Some("b".to_owned()));
}

#[test]
fn an_edited_line_stops_the_start_instead_of_being_appended_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 1 << 30);
    log.append(&record("honest")).expect("append");
    log.append(&record("later")).expect("append");
    drop(log);
    let path = dir.path().join("attestation-000001.log");
    let text = std::fs::read_to_string(&path).expect("read").replace("honest", "forged");
    std::fs::write(&path, text).expect("write");
    let err = CentralLog::open(dir.path(), 1 << 30, None, OffsetDateTime::now_utc()).expect_err("refused");
    let chain = ccgpu_attestation::error_chain(&err);
    assert!(chain.contains("attestation-000001.log") && chain.contains("line 2"), "{chain}");
}

#[test]
fn rotation_keeps_one_chain_across_files_and_ids_name_their_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 2048);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(log.append(&record(&format!("node-{i}"))).expect("append"));
    }
    let files = log.files().expect("files");
    assert!(files.len() >= 3, "{files:?}");
    assert!(ids.iter().any(|id| id.file > 1));
    for (i, id) in ids.iter().enumerate() {
        let r = log.get(*id).expect("read").expect("found");
        assert_eq!(r.node, Some(format!("node-{i}")), "{id}");
    }
    let (all, truncated) = log.query(&Default::default(), |_| true, 100).expect("query");
    assert_eq!((all.len(), truncated), (20, false));

    let verified: Vec<_> =
        files.iter().rev().map(|p| (p.clone(), LogReader::open(p).expect("open").verify().expect("intact"))).collect();
    let chains = verify_segments(verified);
    assert_eq!(chains.len(), 1);
    assert!(chains[0].intact(), "{:?}", chains[0].problems);
    assert_eq!(chains[0].records(), 20);

    // Reopened, it continues the last file.
    drop(log);
    let (log, _) = open(dir.path(), 2048);
    let next = log.append(&record("after restart")).expect("append");
    assert_eq!(next.file, u32::try_from(files.len()).expect("count"));

    // A middle file removed: the chain across the rest is broken, and says where.
    let rest: Vec<_> = log
        .files()
        .expect("files")
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, p)| (p.clone(), LogReader::open(&p).expect("open").verify().expect("intact")))
        .collect();
    let chains = verify_segments(rest);
    assert!(!chains[0].intact());
    assert!(chains[0].problems[0].contains("attestation-000003.log continues a file"), "{:?}", chains[0].problems);
}

#[test]
fn shutdown_seals_the_head_with_a_signed_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let der = ccgpu_attestation::CheckpointSigner::generate_pkcs8().expect("key");
    let signer = ccgpu_attestation::CheckpointSigner::from_pkcs8(&der).expect("signer");
    let public = signer.public_key_pem();
    let every = std::num::NonZeroU64::new(64).expect("nonzero");
    let checkpoints = Some(ccgpu_attestation::Checkpointing { signer, every });
    let (log, _) = CentralLog::open(dir.path(), 1 << 30, checkpoints, OffsetDateTime::now_utc()).expect("open");
    log.append(&record("a")).expect("append");
    let sealed = log.seal(OffsetDateTime::now_utc()).expect("seal").expect("a key is set");
    assert_eq!(sealed.line, 3);
    assert_eq!(log.head().last_checkpoint, Some(3));
    let summary = LogReader::open(dir.path().join("attestation-000001.log"))
        .expect("open")
        .with_checkpoint_key(ccgpu_attestation::CheckpointKey::from_spki(public.as_bytes()).expect("key"))
        .verify()
        .expect("verifies");
    assert_eq!((summary.checkpoints, summary.last_checkpoint), (1, Some(3)));
    let (unkeyed, _) = open(tempfile::tempdir().expect("tempdir").path(), 1 << 30);
    assert_eq!(unkeyed.seal(OffsetDateTime::now_utc()).expect("no error"), None);
}
