//! `LogReader` on arbitrary bytes: as a whole log, and after a valid header and records (so the fuzzer
//! starts inside the chain), with an anchor. It must never panic, and what it accepts must be
//! consistent: a verified log's summary counts exactly the records and checkpoints the reader yields,
//! and every reported break names a line that exists at an offset inside the input.
#![no_main]

use ccgpu_attestation::{Head, Header, LogContext, LogId, LogReader, LogRecord, LogVerdict, testing::log::Chain};
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = data.split_first().unwrap_or((&0, data));
    let input = if mode % 2 == 0 { rest.to_vec() } else { with_prefix(rest) };
    check(&input, None);
    let anchor = Head { line: u64::from(*mode / 2), hash: ccgpu_attestation::Sha384Digest::of(rest) };
    check(&input, Some(anchor));
});

fn check(input: &[u8], anchor: Option<Head>) {
    let reader = |a: Option<Head>| match a {
        Some(h) => LogReader::new(input).with_anchor(h),
        None => LogReader::new(input),
    };
    let lines_in_input = u64::try_from(input.iter().filter(|&&b| b == b'\n').count()).unwrap_or(u64::MAX);
    match reader(anchor).verify() {
        Ok(summary) => {
            let entries: Vec<_> = reader(anchor).collect::<Result<_, _>>().expect("a verified log reads back");
            let records = entries.iter().filter(|(_, e)| matches!(e, ccgpu_attestation::Entry::Record(_))).count();
            assert_eq!(u64::try_from(records).ok(), Some(summary.records));
            assert_eq!(summary.lines, u64::try_from(entries.len()).unwrap_or(0) + 1);
            assert_eq!(summary.lines, lines_in_input);
        }
        Err(e) => {
            if let Some((line, offset, _)) = e.broken() {
                assert!(line >= 1 && line <= lines_in_input + 2, "{e}");
                assert!(offset <= u64::try_from(input.len()).unwrap_or(u64::MAX), "{e}");
            }
        }
    }
}

/// A valid header and two records, then the fuzzed bytes.
fn with_prefix(rest: &[u8]) -> Vec<u8> {
    let header = Header::new(LogId([7; 16]), datetime!(2025-01-01 0:00 UTC));
    let (mut chain, first) = Chain::start(&header).expect("header");
    let mut out = first;
    out.push(b'\n');
    for _ in 0..2 {
        let record =
            LogRecord::new(&LogContext::new(datetime!(2025-01-01 0:00 UTC)), LogVerdict::Affirming, vec![], vec![]);
        let line = chain.record_line(&record).expect("record");
        chain.advance(&line);
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    out.extend_from_slice(rest);
    out
}
