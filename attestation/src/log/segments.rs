//! Several log files at once: grouping them by `log_id` (one log per appender, e.g. per verifier
//! replica) and ordering a rotated log's files by the `continues` link each segment's header carries.
//!
//! Pure: the caller verifies each file on its own ([`super::LogReader::verify`]) and hands over the
//! outcomes; this module only judges how the files fit together. A log is intact when every file is
//! intact, exactly one file starts it (no `continues`), and every other file continues the head of
//! exactly one file before it, leaving none out.
//!
//! Trusts: nothing in the files. What the links prove is what the chain proves inside one file: a file
//! removed from the middle, swapped or edited is named; files removed from the end are not (anchor the
//! last head, or sign checkpoints).

use std::path::PathBuf;

use super::record::LogId;
use super::verify::{Head, LogSummary};

/// One file's place in its log.
#[derive(Debug)]
pub struct SegmentReport {
    /// The file.
    pub path: PathBuf,
    /// Its own verification.
    pub summary: LogSummary,
}

/// One log (one `log_id`) across its files.
#[derive(Debug)]
pub struct ChainReport {
    /// The log's id.
    pub log_id: LogId,
    /// Its files in chain order (those that could be placed).
    pub segments: Vec<SegmentReport>,
    /// What does not fit: a missing, forked or unlinked file. Empty when the chain holds across files.
    pub problems: Vec<String>,
}

impl ChainReport {
    /// True when the files form one unbroken chain.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The head of the last file in chain order.
    pub fn head(&self) -> Option<Head> {
        self.segments.last().map(|s| s.summary.head)
    }

    /// Appraisal records across every file.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.summary.records).sum()
    }
}

/// Groups verified files by log and orders each log's files by their `continues` links. Files that did
/// not verify on their own are not passed here: the caller reports them (and their log is then not
/// intact). Logs come back in the order their first file was given.
pub fn verify_segments(files: Vec<(PathBuf, LogSummary)>) -> Vec<ChainReport> {
    let mut logs: Vec<(LogId, Vec<SegmentReport>)> = Vec::new();
    for (path, summary) in files {
        let id = summary.header.log_id;
        let segment = SegmentReport { path, summary };
        match logs.iter_mut().find(|(l, _)| *l == id) {
            Some((_, v)) => v.push(segment),
            None => logs.push((id, vec![segment])),
        }
    }
    logs.into_iter().map(|(log_id, files)| order(log_id, files)).collect()
}

fn order(log_id: LogId, mut pending: Vec<SegmentReport>) -> ChainReport {
    let mut problems = Vec::new();
    let starts: Vec<usize> = (0..pending.len()).filter(|&i| pending[i].summary.header.continues.is_none()).collect();
    let mut segments = Vec::new();
    match starts.as_slice() {
        [] => problems
            .push("no file starts this log (every file continues another): the first file is missing".to_owned()),
        [first] => segments.push(pending.remove(*first)),
        [first, ..] => {
            let names: Vec<String> = starts.iter().map(|&i| pending[i].path.display().to_string()).collect();
            problems.push(format!("{} files each claim to start this log: {}", starts.len(), names.join(", ")));
            segments.push(pending.remove(*first));
        }
    }
    while let Some(last) = segments.last() {
        let head = last.summary.head;
        let next: Vec<usize> = (0..pending.len())
            .filter(|&i| {
                pending[i].summary.header.continues.is_some_and(|c| c.line == head.line && c.hash == head.hash)
            })
            .collect();
        match next.as_slice() {
            [] => break,
            [one] => segments.push(pending.remove(*one)),
            [one, ..] => {
                let names: Vec<String> = next.iter().map(|&i| pending[i].path.display().to_string()).collect();
                problems.push(format!(
                    "the chain forks after {} (line {}): {} all continue it",
                    last.path.display(),
                    head.line,
                    names.join(", ")
                ));
                segments.push(pending.remove(*one));
            }
        }
    }
    for rest in &pending {
        if let Some(c) = rest.summary.header.continues {
            problems.push(format!(
                "{} continues a file ending at line {} with hash {}, which none of the given files is: a file \
                 between is missing or was altered",
                rest.path.display(),
                c.line,
                c.hash
            ));
        }
    }
    segments.extend(pending.into_iter().filter(|s| s.summary.header.continues.is_some()));
    ChainReport { log_id, segments, problems }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::chain::Chain;
    use crate::log::digest::Sha384Digest;
    use crate::log::record::{Continues, Header};
    use crate::log::verify::LogReader;
    use time::macros::datetime;

    fn file(header: &Header) -> LogSummary {
        let (_, mut line) = Chain::start(header).expect("header");
        line.push(b'\n');
        LogReader::new(&line[..]).verify().expect("verifies")
    }

    fn link(s: &LogSummary) -> Continues {
        Continues { line: s.head.line, hash: s.head.hash }
    }

    #[test]
    fn segments_are_ordered_by_their_links_and_gaps_forks_and_logs_are_named() {
        let t = datetime!(2026-01-01 0:00 UTC);
        let a = file(&Header::new(LogId([1; 16]), t));
        let b = file(&Header::segment(LogId([1; 16]), t + time::Duration::seconds(1), link(&a)));
        let c = file(&Header::segment(LogId([1; 16]), t + time::Duration::seconds(2), link(&b)));
        let other = file(&Header::new(LogId([2; 16]), t));
        let files = vec![
            ("c".into(), c.clone()),
            ("other".into(), other.clone()),
            ("a".into(), a.clone()),
            ("b".into(), b.clone()),
        ];
        let reports = verify_segments(files);
        assert_eq!(reports.len(), 2);
        let names: Vec<String> = reports[0].segments.iter().map(|s| s.path.display().to_string()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(reports[0].intact() && reports[1].intact(), "{:?}", reports[0].problems);

        // b left out: c's link names nothing given.
        let gap = verify_segments(vec![("a".into(), a.clone()), ("c".into(), c.clone())]);
        assert!(!gap[0].intact());
        assert!(gap[0].problems[0].contains("c continues a file ending at line 1"), "{:?}", gap[0].problems);

        // The first file left out.
        let headless = verify_segments(vec![("b".into(), b.clone())]);
        assert!(headless[0].problems[0].contains("the first file is missing"));

        // Two files continue a.
        let mut forked = b.clone();
        forked.head.hash = Sha384Digest([7; 48]);
        let fork = verify_segments(vec![("a".into(), a), ("b".into(), b), ("b2".into(), forked)]);
        assert!(fork[0].problems.iter().any(|p| p.contains("forks after a")), "{:?}", fork[0].problems);
    }
}
