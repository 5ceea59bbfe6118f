//! The attestation log's chain, in memory: every single edit, deletion, reordering, insertion, replay or
//! truncation of a log is reported at the right line with the right kind; random input never panics.

use std::num::NonZeroU64;

use ccgpu_attestation::{
    BreakKind, CheckpointKey, CheckpointSigner, ClaimRef, DEFAULT_CHECKPOINT_EVERY, DeviceEntry, DeviceKind,
    EvidenceDigests, Filter, Head, Header, LogContext, LogError, LogId, LogReader, LogRecord, LogSummary, LogVerdict,
    Sha384Digest,
    testing::log::{Chain, MAX_LINE},
};
use proptest::prelude::*;
use time::Duration;
use time::macros::datetime;

fn record(i: u64) -> LogRecord {
    let mut ctx = LogContext::new(datetime!(2025-09-01 0:00 UTC) + Duration::minutes(i64::try_from(i).expect("small")));
    ctx.node = Some(format!("node-{}", i % 3));
    ctx.claim = Some(ClaimRef {
        namespace: Some("ml".into()),
        name: Some(format!("claim-{i}")),
        uid: Some(format!("uid-{i:04}")),
        pod: None,
    });
    ctx.policy_digest = Some(Sha384Digest([0x11; 48]));
    let verdict = if i % 5 == 4 { LogVerdict::Contraindicated } else { LogVerdict::Affirming };
    let failed: Vec<String> = if verdict == LogVerdict::Affirming { vec![] } else { vec!["measurements".into()] };
    let device = DeviceEntry {
        kind: DeviceKind::Gpu,
        uuid: Some(format!("GPU-{:08x}-0000-0000-0000-000000000000", i % 4)),
        bdf: Some(format!("0000:{:02x}:00.0", 0x41 + i % 4)),
        verdict,
        failed_checks: failed.clone(),
        warnings: vec![],
        driver_version: Some("550.90.07".into()),
        vbios_version: Some("96.00.9F.00.01".into()),
        evidence: EvidenceDigests {
            report: Some(Sha384Digest::of(&i.to_le_bytes())),
            chain: Some(Sha384Digest([0x22; 48])),
            driver_rim: Some(Sha384Digest([0x33; 48])),
            vbios_rim: Some(Sha384Digest([0x44; 48])),
        },
    };
    LogRecord::new(&ctx, verdict, failed, vec![device])
}

/// A log of `records` records as lines (without newlines), with a checkpoint every `every` records.
fn build(records: u64, checkpoints: Option<(&CheckpointSigner, NonZeroU64)>) -> (Vec<Vec<u8>>, Head) {
    let header = Header::new(LogId([0x5a; 16]), datetime!(2025-09-01 0:00 UTC));
    let (mut chain, first) = Chain::start(&header).expect("header");
    let mut lines = vec![first];
    for i in 0..records {
        let line = chain.record_line(&record(i)).expect("record");
        chain.advance(&line);
        lines.push(line);
        if let Some((signer, every)) = checkpoints
            && chain.head().line % (every.get() + 1) == 0
        {
            let cp = chain.checkpoint_line(signer, datetime!(2025-09-02 0:00 UTC)).expect("checkpoint");
            chain.advance(&cp);
            lines.push(cp);
        }
    }
    (lines, chain.head())
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
}

fn offset_of(lines: &[Vec<u8>], line: u64) -> u64 {
    let n = usize::try_from(line - 1).expect("small");
    lines[..n].iter().map(|l| u64::try_from(l.len()).expect("len") + 1).sum()
}

fn verify(bytes: &[u8]) -> Result<LogSummary, LogError> {
    LogReader::new(bytes).verify()
}

/// The first broken line and kind, panicking if the log verifies.
fn broken(bytes: &[u8]) -> (u64, u64, BreakKind) {
    match verify(bytes) {
        Ok(s) => panic!("verified: {s:?}"),
        Err(e) => {
            let (line, offset, kind) = e.broken().unwrap_or_else(|| panic!("not a break: {e}"));
            (line, offset, kind.clone())
        }
    }
}

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_pkcs8(&CheckpointSigner::generate_pkcs8().expect("generate")).expect("load")
}

fn key_of(signer: &CheckpointSigner) -> CheckpointKey {
    CheckpointKey::from_spki(signer.public_key_pem().as_bytes()).expect("spki")
}

#[test]
fn a_sound_log_verifies_and_summarises() {
    let (lines, head) = build(20, None);
    let summary = verify(&join(&lines)).expect("sound");
    assert_eq!((summary.lines, summary.records, summary.checkpoints), (21, 20, 0));
    assert_eq!((summary.verdicts.affirming, summary.verdicts.contraindicated), (16, 4));
    assert_eq!(summary.head, head);
    assert_eq!(summary.header.log_id, LogId([0x5a; 16]));
    let (first, last) = summary.time_range.expect("times");
    assert_eq!((first.time(), last.time()), (datetime!(2025-09-01 0:00 UTC), datetime!(2025-09-01 0:19 UTC)));
    // The anchor of the real head holds.
    LogReader::new(&join(&lines)[..]).with_anchor(head).verify().expect("anchored");
}

#[test]
fn an_edited_line_is_named() {
    let (lines, _) = build(10, None);
    let n = 11;
    for k in 2..n {
        let mut edited = lines.clone();
        let i = usize::try_from(k - 1).expect("small");
        let text = String::from_utf8(edited[i].clone()).expect("utf8");
        edited[i] = text.replacen("\"node\":\"node-", "\"node\":\"NODE-", 1).into_bytes();
        let expected = if k == n - 1 { BreakKind::EditedOrLastPrev { last: n } } else { BreakKind::Edited };
        assert_eq!(broken(&join(&edited)), (k, offset_of(&lines, k), expected), "line {k}");
    }
    let e = verify(&join(&{
        let mut l = lines.clone();
        l[4] = String::from_utf8(l[4].clone()).expect("utf8").replace("affirming", "warning").into_bytes();
        l
    }))
    .expect_err("edited");
    assert_eq!(
        e.to_string(),
        format!("line 5 (byte {}) was edited: its hash is not the prev of line 6", offset_of(&lines, 5))
    );
}

#[test]
fn an_edit_of_the_last_line_needs_an_anchor() {
    let (mut lines, head) = build(6, None);
    let last = lines.len() - 1;
    lines[last] = String::from_utf8(lines[last].clone()).expect("utf8").replacen("node-", "evil-", 1).into_bytes();
    // The chain alone cannot see it...
    verify(&join(&lines)).expect("the head is not protected by the chain");
    // ...an anchored head can.
    let err = LogReader::new(&join(&lines)[..]).with_anchor(head).verify().expect_err("anchored");
    assert_eq!(
        err.broken().map(|(l, o, k)| (l, o, k.clone())),
        Some((7, offset_of(&lines, 7), BreakKind::HeadMismatch { expected: head.hash }))
    );
}

#[test]
fn a_changed_header_is_named() {
    let (lines, _) = build(4, None);
    let text = String::from_utf8(lines[0].clone()).expect("utf8");

    let mut other_id = lines.clone();
    other_id[0] = text.replace(&"5a".repeat(16), &"5b".repeat(16)).into_bytes();
    assert_eq!(broken(&join(&other_id)), (1, 0, BreakKind::Edited));

    for (bad, reason) in [
        (text.replace("\"version\":1", "\"version\":2"), "format version 2 (this verifier reads 1)"),
        (text.replace("\"header\"", "\"heading\""), "line 1 does not start with {\"kind\":\"header\""),
        (text.replace('}', ",\"extra\":1}"), "unknown field `extra`"),
    ] {
        let mut l = lines.clone();
        l[0] = bad.into_bytes();
        let (line, offset, kind) = broken(&join(&l));
        assert_eq!((line, offset), (1, 0));
        let BreakKind::BadHeader { reason: got } = kind else { panic!("{kind:?}") };
        assert!(got.contains(reason), "{got}");
    }
    // Header deleted: line 1 is a record.
    let (line, _, kind) = broken(&join(&lines[1..]));
    assert!(line == 1 && matches!(kind, BreakKind::BadHeader { .. }), "{kind:?}");
    assert_eq!(broken(b""), (1, 0, BreakKind::BadHeader { reason: "the log is empty".into() }));
}

#[test]
fn deleted_lines_are_named_with_the_gap() {
    let (lines, _) = build(10, None);
    for k in 2..=10usize {
        let mut l = lines.clone();
        l.remove(k - 1);
        let k = k as u64;
        assert_eq!(broken(&join(&l)), (k, offset_of(&lines, k), BreakKind::Missing { recorded: k + 1 }), "line {k}");
    }
    let mut three = lines.clone();
    three.drain(4..7); // lines 5, 6, 7
    let err = verify(&join(&three)).expect_err("gap");
    assert_eq!(err.broken().map(|(l, _, k)| (l, k.clone())), Some((5, BreakKind::Missing { recorded: 8 })));
    assert_eq!(
        err.to_string(),
        format!(
            "line 5 (byte {}) follows line 4 but carries number 8: lines 5..=7 of the original are missing",
            offset_of(&lines, 5)
        )
    );
    let mut one = lines.clone();
    one.remove(5); // line 6
    assert_eq!(
        verify(&join(&one)).expect_err("gap").to_string(),
        format!(
            "line 6 (byte {}) follows line 5 but carries number 7: line 6 of the original is missing",
            offset_of(&lines, 6)
        )
    );
}

#[test]
fn swapped_lines_are_named() {
    let (lines, _) = build(10, None);
    for k in 2..=10usize {
        let mut l = lines.clone();
        l.swap(k - 1, k);
        let k = k as u64;
        assert_eq!(broken(&join(&l)), (k, offset_of(&lines, k), BreakKind::Swapped), "lines {k} and {}", k + 1);
    }
    let mut l = lines.clone();
    l.swap(5, 6);
    assert_eq!(
        verify(&join(&l)).expect_err("swap").to_string(),
        format!("lines 6 and 7 are swapped (byte {})", offset_of(&lines, 6))
    );
}

#[test]
fn replayed_and_inserted_lines_are_named() {
    let (lines, _) = build(10, None);
    // A copy of line 4 replayed after line 8.
    let mut replay = lines.clone();
    replay.insert(8, lines[3].clone());
    assert_eq!(broken(&join(&replay)), (9, offset_of(&lines, 9), BreakKind::Duplicate { of: 4 }));
    // A copy of the header.
    let mut header = lines.clone();
    header.insert(5, lines[0].clone());
    assert_eq!(broken(&join(&header)), (6, offset_of(&lines, 6), BreakKind::DuplicateHeader));
    // A forged record that chains to line 5 and takes its number; line 6 then no longer follows.
    let mut forged = lines.clone();
    let prefix_end = lines[5].iter().position(|&b| b == b'k').expect("kind");
    let fake = String::from_utf8(lines[5].clone()).expect("utf8").replacen("node-", "fake-", 1);
    assert_eq!(fake.as_bytes()[..prefix_end], lines[5][..prefix_end]);
    forged.insert(5, fake.into_bytes());
    assert_eq!(broken(&join(&forged)), (6, offset_of(&lines, 6), BreakKind::Inserted { last: 6 }));
    // A foreign line in the middle that links to nothing.
    let mut foreign = lines.clone();
    let (mut other, _) = Chain::start(&Header::new(LogId([1; 16]), datetime!(2024-01-01 0:00 UTC))).expect("header");
    other.advance(b"another log's line");
    foreign.insert(4, other.record_line(&record(3)).expect("record"));
    assert_eq!(broken(&join(&foreign)), (5, offset_of(&lines, 5), BreakKind::Inserted { last: 5 }));
}

#[test]
fn truncation_needs_an_anchor_and_a_torn_tail_is_named() {
    let (lines, head) = build(8, None);
    let all = join(&lines);
    // Whole lines cut: the chain cannot tell...
    let cut = join(&lines[..6]);
    assert_eq!(verify(&cut).expect("prefix is a sound log").lines, 6);
    // ...the anchor can.
    let err = LogReader::new(&cut[..]).with_anchor(head).verify().expect_err("truncated");
    assert_eq!(
        err.broken().map(|(l, o, k)| (l, o, k.clone())),
        Some((7, offset_of(&lines, 7), BreakKind::Truncated { expected: 9, found: 6 }))
    );
    // Cut inside line 7: torn.
    let torn_at = usize::try_from(offset_of(&lines, 7)).expect("small") + 40;
    assert_eq!(broken(&all[..torn_at]), (7, offset_of(&lines, 7), BreakKind::TornTail { len: 40 }));
    // Cut just before the last newline: the last line is torn even though its JSON is complete.
    assert_eq!(
        broken(&all[..all.len() - 1]),
        (9, offset_of(&lines, 9), BreakKind::TornTail { len: u64::try_from(lines[8].len()).expect("len") })
    );
}

#[test]
fn unparsable_and_oversized_lines_are_named() {
    let (lines, _) = build(5, None);
    for (bad, what) in [
        (b"not json".to_vec(), "does not start"),
        (Vec::new(), "does not start"),
        ([&lines[3][..], b" "].concat(), "does not end with }"),
        ([&lines[3][..lines[3].len() - 1], b",\"x\":1}"].concat(), "unknown field `x`"),
        (
            String::from_utf8(lines[3].clone()).expect("utf8").replace("\"prev\"", "\"PREV\"").into_bytes(),
            "does not start",
        ),
        (
            String::from_utf8(lines[3].clone()).expect("utf8").replace("affirming", "fine").into_bytes(),
            "unknown variant",
        ),
    ] {
        let mut l = lines.clone();
        l[3] = bad;
        let (line, offset, kind) = broken(&join(&l));
        assert_eq!((line, offset), (4, offset_of(&lines, 4)), "{what}");
        let BreakKind::Unparsable { reason } = kind else { panic!("{kind:?}") };
        assert!(reason.contains(what), "{reason} vs {what}");
    }
    let mut long = lines.clone();
    long[2] = vec![b'x'; MAX_LINE + 1];
    assert_eq!(broken(&join(&long)), (3, offset_of(&lines, 3), BreakKind::TooLong { limit: MAX_LINE }));
}

#[test]
fn a_renumbered_log_with_a_recomputed_chain_is_named() {
    let (lines, _) = build(6, None);
    // Rebuild the chain by hand after dropping line 4, keeping the old numbers.
    let mut out = vec![lines[0].clone()];
    for old in lines[1..].iter().filter(|l| *l != &lines[3]) {
        let mut r: LogRecord = serde_json::from_slice(old).expect("record");
        r.prev = Sha384Digest::of(out.last().expect("prev"));
        out.push(serde_json::to_vec(&r).expect("json"));
    }
    assert_eq!(broken(&join(&out)), (4, offset_of(&out, 4), BreakKind::Misnumbered { recorded: 5 }));
}

#[test]
fn checkpoints_are_verified_with_the_auditors_key() {
    let s = signer();
    let every = NonZeroU64::new(3).expect("non-zero");
    let (lines, _) = build(10, Some((&s, every)));
    // header, then 3 records and a checkpoint, three times, then one record.
    assert_eq!(lines.len(), 1 + 10 + 3);
    let summary = LogReader::new(&join(&lines)[..]).with_checkpoint_key(key_of(&s)).verify().expect("signed");
    assert_eq!((summary.checkpoints, summary.checkpoints_verified, summary.last_checkpoint), (3, true, Some(13)));
    assert_eq!(summary.records, 10);

    // Another key.
    let other = signer();
    let err = LogReader::new(&join(&lines)[..]).with_checkpoint_key(key_of(&other)).verify().expect_err("other key");
    assert_eq!(err.broken().map(|(l, _, k)| (l, k.clone())), Some((5, BreakKind::UnknownKey { key_id: s.key_id() })));

    // A forged signature (still hex, so the line parses).
    let mut forged = lines.clone();
    let sig_at = forged[8].len() - 10;
    forged[8][sig_at] = if forged[8][sig_at] == b'0' { b'1' } else { b'0' };
    let err = LogReader::new(&join(&forged)[..]).with_checkpoint_key(key_of(&s)).verify().expect_err("forged");
    assert_eq!(
        err.broken().map(|(l, o, k)| (l, o, k.clone())),
        Some((9, offset_of(&lines, 9), BreakKind::BadSignature))
    );

    // Line 6 rewritten and every later prev recomputed: the chain holds, the next checkpoint does not.
    let mut rewritten = lines[..5].to_vec();
    for (i, old) in lines[5..].iter().enumerate() {
        let text = String::from_utf8(old.clone()).expect("utf8");
        let text = if i == 0 { text.replacen("node-", "evil-", 1) } else { text };
        let prev = hex::encode(Sha384Digest::of(rewritten.last().expect("prev")).0);
        let text = format!("{{\"prev\":\"{prev}\"{}", &text[9 + 96 + 1..]);
        rewritten.push(text.into_bytes());
    }
    verify(&join(&rewritten)).expect("without the key only the chain is checked, and it was recomputed");
    let err = LogReader::new(&join(&rewritten)[..]).with_checkpoint_key(key_of(&s)).verify().expect_err("resigned");
    assert_eq!(err.broken().map(|(l, _, k)| (l, k.clone())), Some((9, BreakKind::BadSignature)));
}

/// With a key, a log must carry checkpoints at the stated cadence: one rewritten without any (every line
/// recomputed, so the chain holds) fails at the first record over the cadence, naming it.
#[test]
fn with_a_key_a_log_without_checkpoints_at_the_cadence_fails() {
    let s = signer();
    let three = NonZeroU64::new(3).expect("non-zero");
    let (signed, _) = build(10, Some((&s, three)));
    let summary =
        LogReader::new(&join(&signed)[..]).with_checkpoint_key(key_of(&s)).with_checkpoint_every(three).verify();
    assert_eq!(summary.expect("at the cadence").records, 10);

    // The same records with every checkpoint dropped: the chain is intact, the signatures are gone.
    let (stripped, _) = build(10, None);
    verify(&join(&stripped)).expect("without a key only the chain is checked");
    let err = LogReader::new(&join(&stripped)[..])
        .with_checkpoint_key(key_of(&s))
        .with_checkpoint_every(three)
        .verify()
        .expect_err("no checkpoint");
    assert_eq!(
        err.broken().map(|(l, o, k)| (l, o, k.clone())),
        Some((5, offset_of(&stripped, 5), BreakKind::CheckpointOverdue { last_checkpoint: None, max_records: 3 }))
    );
    assert!(err.to_string().contains("record 4 after the header (no checkpoint yet)"), "{err}");

    // A stricter auditor than the appender: 2 records at most, the log signs every 3.
    let err = LogReader::new(&join(&signed)[..])
        .with_checkpoint_key(key_of(&s))
        .with_checkpoint_every(NonZeroU64::new(2).expect("non-zero"))
        .verify()
        .expect_err("too sparse");
    assert_eq!(err.broken().map(|(l, _, _)| l), Some(4));

    // The default cadence applies when none is stated: 64 records without a checkpoint are accepted,
    // the 65th is not.
    let (long, _) = build(65, None);
    let err = LogReader::new(&join(&long)[..]).with_checkpoint_key(key_of(&s)).verify().expect_err("65 unsigned");
    assert_eq!(
        err.broken().map(|(l, _, k)| (l, k.clone())),
        Some((66, BreakKind::CheckpointOverdue { last_checkpoint: None, max_records: DEFAULT_CHECKPOINT_EVERY }))
    );
    let (ok, _) = build(64, None);
    LogReader::new(&join(&ok)[..]).with_checkpoint_key(key_of(&s)).verify().expect("64 unsigned");
}

#[test]
fn records_and_filters_for_log_show() {
    let (lines, _) = build(20, Some((&signer(), NonZeroU64::new(7).expect("non-zero"))));
    let bytes = join(&lines);
    let all: Vec<(u64, LogRecord)> = LogReader::new(&bytes[..]).records().collect::<Result<_, _>>().expect("records");
    assert_eq!(all.len(), 20);
    assert_eq!(all.iter().map(|(n, _)| *n).take(9).collect::<Vec<_>>(), [2, 3, 4, 5, 6, 7, 8, 10, 11]);

    let show = |f: Filter| -> Vec<String> {
        LogReader::new(&bytes[..])
            .filter(f)
            .map(|r| r.expect("record").1.claim.and_then(|c| c.name).expect("name"))
            .collect()
    };
    let names = |ids: &[u64]| ids.iter().map(|i| format!("claim-{i}")).collect::<Vec<_>>();
    assert_eq!(
        show(Filter { verdict: Some(LogVerdict::Contraindicated), ..Filter::default() }),
        names(&[4, 9, 14, 19])
    );
    assert_eq!(
        show(Filter {
            since: Some(datetime!(2025-09-01 0:05 UTC)),
            until: Some(datetime!(2025-09-01 0:08 UTC)),
            ..Filter::default()
        }),
        names(&[5, 6, 7, 8])
    );
    assert_eq!(
        show(Filter { gpu: Some("gpu-00000001-0000-0000-0000-000000000000".into()), ..Filter::default() }),
        names(&[1, 5, 9, 13, 17])
    );
    assert_eq!(
        show(Filter { gpu: Some("0000:43:00.0".into()), verdict: Some(LogVerdict::Affirming), ..Filter::default() }),
        names(&[2, 6, 10, 18])
    );

    // A broken log yields the records before the break, then the error, then nothing.
    let mut l = lines.clone();
    l.remove(4);
    let out: Vec<_> = LogReader::new(&join(&l)[..]).records().collect();
    assert_eq!(out.len(), 4);
    assert!(out[..3].iter().all(Result::is_ok));
    assert_eq!(out[3].as_ref().err().and_then(LogError::broken).map(|(l, _, _)| l), Some(5));
}

/// One change to a sound log, and where (line, kind) it must be reported.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the byte at `at` (modulo the line's length) of line `line` with `byte`.
    Byte {
        line: usize,
        at: usize,
        byte: u8,
    },
    Delete {
        line: usize,
    },
    Swap {
        line: usize,
    },
    Replay {
        line: usize,
        to: usize,
    },
    Cut {
        at: usize,
    },
}

fn mutation(n: usize) -> impl Strategy<Value = Mutation> {
    // Lines 1..n-1 (the last line is only protected by an anchor, tested above).
    prop_oneof![
        4 => (1..n, any::<usize>(), any::<u8>()).prop_map(|(line, at, byte)| Mutation::Byte { line, at, byte }),
        1 => (1..n).prop_map(|line| Mutation::Delete { line }),
        1 => (1..n).prop_map(|line| Mutation::Swap { line }),
        // A replay is a copy placed after its original.
        1 => (1..=n, 1..=n).prop_map(|(a, b)| Mutation::Replay { line: a.min(b), to: a.max(b) }),
        1 => any::<usize>().prop_map(|at| Mutation::Cut { at }),
    ]
}

/// Applies `m` to `lines` (1-based line numbers), returning the log and the line that must be reported,
/// or `None` when the change is a no-op.
/// A mutated log, the line that must be reported, and a test of the kind.
type Expected = (Vec<u8>, u64, fn(&BreakKind) -> bool);

fn apply(lines: &[Vec<u8>], m: &Mutation) -> Option<Expected> {
    let mut l = lines.to_vec();
    let as_line = |i: usize| u64::try_from(i).expect("small");
    Some(match *m {
        Mutation::Byte { line, at, byte } => {
            let target = &mut l[line - 1];
            let at = at % target.len();
            if target[at] == byte {
                return None;
            }
            target[at] = byte;
            let ok: fn(&BreakKind) -> bool = |k| {
                matches!(
                    k,
                    BreakKind::Edited
                        | BreakKind::EditedOrLastPrev { .. }
                        | BreakKind::Unparsable { .. }
                        | BreakKind::Misnumbered { .. }
                        | BreakKind::BadHeader { .. }
                        | BreakKind::BadSignature
                        | BreakKind::UnknownKey { .. }
                )
            };
            (join(&l), as_line(line), ok)
        }
        Mutation::Delete { line } => {
            l.remove(line - 1);
            if line == 1 {
                (join(&l), 1, |k| matches!(k, BreakKind::BadHeader { .. }))
            } else {
                (join(&l), as_line(line), |k| matches!(k, BreakKind::Missing { .. }))
            }
        }
        Mutation::Swap { line } => {
            l.swap(line - 1, line);
            if line == 1 {
                (join(&l), 1, |k| matches!(k, BreakKind::BadHeader { .. }))
            } else {
                (join(&l), as_line(line), |k| *k == BreakKind::Swapped)
            }
        }
        Mutation::Replay { line, to } => {
            l.insert(to, l[line - 1].clone());
            let at = as_line(to + 1);
            if line == 1 {
                (join(&l), at, |k| *k == BreakKind::DuplicateHeader)
            } else {
                (join(&l), at, |k| matches!(k, BreakKind::Duplicate { .. }))
            }
        }
        Mutation::Cut { at } => {
            let bytes = join(&l);
            let at = at % bytes.len();
            if at == 0 || bytes[at - 1] == b'\n' {
                return None; // a cut at a line boundary is a shorter sound log
            }
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            (bytes[..at].to_vec(), as_line(line), |k| matches!(k, BreakKind::TornTail { .. }))
        }
    })
}

/// The number of lines `build` makes.
fn line_count(records: u64, every: Option<u64>) -> usize {
    let mut count = 1u64;
    for _ in 0..records {
        count += 1;
        if every.is_some_and(|e| count.is_multiple_of(e + 1)) {
            count += 1;
        }
    }
    usize::try_from(count).expect("small")
}

static SIGNER: std::sync::LazyLock<CheckpointSigner> = std::sync::LazyLock::new(signer);

fn case() -> impl Strategy<Value = (u64, Option<u64>, Mutation)> {
    (2u64..24, proptest::option::of(1u64..6))
        .prop_flat_map(|(records, every)| (Just(records), Just(every), mutation(line_count(records, every))))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_single_change_is_found_at_its_line((records, every, m) in case()) {
        let cp = every.map(|e| (&*SIGNER, NonZeroU64::new(e).expect("non-zero")));
        let (lines, _) = build(records, cp);
        prop_assert_eq!(lines.len(), line_count(records, every));
        let Some((bytes, line, kind_ok)) = apply(&lines, &m) else { return Ok(()) };
        let result = LogReader::new(&bytes[..]).with_checkpoint_key(key_of(&SIGNER)).verify();
        let err = match result {
            Ok(summary) => return Err(TestCaseError::fail(format!("{m:?} not detected: {summary:?}"))),
            Err(e) => e,
        };
        let (got_line, _, kind) = err.broken().ok_or_else(|| TestCaseError::fail(format!("{m:?}: {err}")))?;
        prop_assert_eq!(got_line, line, "{:?}: {}", m, err);
        prop_assert!(kind_ok(kind), "{:?}: {}", m, err);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = LogReader::new(&bytes[..]).verify();
        let _ = LogReader::new(&bytes[..]).records().count();
    }

    #[test]
    fn random_damage_to_a_log_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..12),
    ) {
        let (lines, head) = build(6, None);
        let mut bytes = join(&lines);
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        let _ = LogReader::new(&bytes[..]).with_anchor(head).verify();
    }
}
