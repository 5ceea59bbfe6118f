//! `ccgpu log verify|show|repair`: audit, read and mend a tamper-evident attestation log.

use std::fmt::Write as _;
use std::num::NonZeroU64;
use std::path::Path;

use anyhow::Context as _;
use ccgpu_attestation::{
    CheckpointKey, DeviceKind, Filter, Head, LogError, LogReader, LogRecord, LogSummary, Sha384Digest,
    repair_torn_tail, verify_segments,
};

use crate::cli::{LogCommand, LogShowArgs, LogShowFormat, LogVerifyArgs};
use crate::exit::Exit;
use crate::input;

pub fn run(command: &LogCommand) -> anyhow::Result<Exit> {
    match command {
        LogCommand::Verify(args) => verify(args),
        LogCommand::Show(args) => show(args),
        LogCommand::Repair { file } => repair(file),
    }
}

/// A broken chain is a verdict (exit 1); a log that cannot be read at all is unusable input (exit 2).
fn broken(e: &LogError) -> bool {
    e.broken().is_some()
}

fn reader(
    path: &Path,
    key: Option<(&Path, NonZeroU64)>,
    anchor: Option<&str>,
) -> anyhow::Result<LogReader<std::io::BufReader<std::fs::File>>> {
    let mut r = LogReader::open(path)?;
    if let Some((k, every)) = key {
        let bytes = input::read_file("checkpoint public key", k)?;
        r = r
            .with_checkpoint_key(
                CheckpointKey::from_spki(&bytes).with_context(|| format!("checkpoint key {}", k.display()))?,
            )
            .with_checkpoint_every(every);
    }
    if let Some(a) = anchor {
        r = r.with_anchor(parse_anchor(a)?);
    }
    Ok(r)
}

/// `LINE:SHA384HEX`, as `log verify` prints the head.
fn parse_anchor(text: &str) -> anyhow::Result<Head> {
    let (line, hash) =
        text.split_once(':').context("--anchor must be LINE:SHA384 (as `log verify` prints the head)")?;
    let line: u64 = line.parse().context("--anchor line number")?;
    let hash = Sha384Digest::from_hex(hash.as_bytes()).context("--anchor hash must be 96 hex digits")?;
    Ok(Head { line, hash })
}

fn verify(args: &LogVerifyArgs) -> anyhow::Result<Exit> {
    let key = args.checkpoint_key.as_deref().map(|k| (k, args.checkpoint_every));
    if let [file] = args.files.as_slice() {
        let r = reader(file, key, args.anchor.as_deref())?;
        return match r.verify() {
            Ok(summary) => {
                print!("{}", summary_text(file, &summary, args.checkpoint_key.is_some(), args.anchor.is_some()));
                Ok(Exit::Affirming)
            }
            Err(e) if broken(&e) => {
                println!("{}: BROKEN: {e}", file.display());
                println!("everything before that line is intact; nothing from it on can be trusted");
                Ok(Exit::NotAffirming)
            }
            Err(e) => Err(e.into()),
        };
    }
    verify_many(args, key)
}

/// Several files: each verified alone, then each chain (`log_id`) across its files.
fn verify_many(args: &LogVerifyArgs, key: Option<(&Path, NonZeroU64)>) -> anyhow::Result<Exit> {
    if args.anchor.is_some() {
        anyhow::bail!("--anchor takes one file: verify the chain's last file with it");
    }
    let mut verified = Vec::new();
    let mut intact = true;
    for file in &args.files {
        match reader(file, key, None)?.verify() {
            Ok(summary) => verified.push((file.clone(), summary)),
            Err(e) if broken(&e) => {
                intact = false;
                println!("{}: BROKEN: {e}", file.display());
                println!("  everything before that line is intact; nothing from it on can be trusted");
            }
            Err(e) => return Err(e.into()),
        }
    }
    for chain in verify_segments(verified) {
        let status = if chain.intact() { "chain intact" } else { "chain BROKEN" };
        println!(
            "log {}: {status} across {} file(s), {} appraisals",
            chain.log_id,
            chain.segments.len(),
            chain.records()
        );
        for s in &chain.segments {
            let v = &s.summary.verdicts;
            println!(
                "  {}  lines {}  {} affirming, {} warning, {} contraindicated  head {}:{}",
                s.path.display(),
                s.summary.lines,
                v.affirming,
                v.warning,
                v.contraindicated,
                s.summary.head.line,
                s.summary.head.hash
            );
        }
        for p in &chain.problems {
            println!("  BROKEN: {p}");
        }
        intact &= chain.intact();
    }
    Ok(if intact { Exit::Affirming } else { Exit::NotAffirming })
}

fn summary_text(path: &Path, s: &LogSummary, keyed: bool, anchored: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: chain intact", path.display());
    let _ = writeln!(out, "  log id       {}", s.header.log_id);
    let _ = writeln!(out, "  lines        {} ({} appraisals, {} checkpoints)", s.lines, s.records, s.checkpoints);
    let v = &s.verdicts;
    let _ = writeln!(
        out,
        "  verdicts     {} affirming, {} warning, {} contraindicated",
        v.affirming, v.warning, v.contraindicated
    );
    if let Some((from, to)) = &s.time_range {
        let _ = writeln!(out, "  time range   {from} … {to}");
    }
    let sig = match (s.checkpoints, keyed) {
        (0, _) => "none in the log".to_owned(),
        (n, true) => format!("{n} signatures verified"),
        (n, false) => format!("{n} present, signatures NOT checked (pass --checkpoint-key)"),
    };
    let _ = writeln!(out, "  checkpoints  {sig}");
    let _ = writeln!(out, "  head         {}:{}", s.head.line, s.head.hash);
    if !anchored {
        let _ = writeln!(
            out,
            "  note: lines removed from the end, or a change to the last line, are only detectable against a\n        head kept elsewhere (--anchor LINE:SHA384) or a later signed checkpoint"
        );
    }
    out
}

fn show(args: &LogShowArgs) -> anyhow::Result<Exit> {
    let time = |flag: &str, v: &Option<String>| {
        v.as_deref().map(|t| input::verification_time(Some(t)).with_context(|| flag.to_owned())).transpose()
    };
    let filter = Filter {
        since: time("--since", &args.since)?,
        until: time("--until", &args.until)?,
        gpu: args.gpu.clone(),
        verdict: args.verdict.as_deref().map(str::parse).transpose().map_err(|e| anyhow::anyhow!("--verdict: {e}"))?,
    };
    let r = reader(&args.file, None, None)?;
    let mut rows: Vec<(u64, LogRecord)> = Vec::new();
    let mut error = None;
    for item in r.filter(filter) {
        match item {
            Ok(row) => rows.push(row),
            Err(e) if broken(&e) => {
                // A line is proven only by the next line's prev: drop whatever the break implicates.
                if let Some((line, _, _)) = e.broken() {
                    rows.retain(|(n, _)| *n < line);
                }
                error = Some(e);
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    match args.format {
        LogShowFormat::Json => {
            for (_, record) in &rows {
                println!("{}", serde_json::to_string(record)?);
            }
        }
        LogShowFormat::Table => print!("{}", table(&rows)),
    }
    match error {
        None => Ok(Exit::Affirming),
        Some(e) => {
            eprintln!("error: the chain breaks: {e}; records from there on are not shown");
            Ok(Exit::NotAffirming)
        }
    }
}

fn table(rows: &[(u64, LogRecord)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6}  {:20}  {:15}  {:28}  {:32}  {:15}  failed checks",
        "line", "time", "verdict", "claim", "GPU", "node"
    );
    for (line, r) in rows {
        let claim = r.claim.as_ref().map_or_else(String::new, |c| {
            format!("{}/{}", c.namespace.as_deref().unwrap_or("-"), c.name.as_deref().unwrap_or("-"))
        });
        let gpus: Vec<String> = r
            .devices
            .iter()
            .filter_map(|d| {
                d.bdf.clone().or_else(|| d.uuid.clone()).map(|id| match d.kind {
                    DeviceKind::Gpu => id,
                    DeviceKind::Snp => format!("snp:{id}"),
                })
            })
            .collect();
        let time = r.time.to_string();
        let _ = writeln!(
            out,
            "{line:>6}  {:20}  {:15}  {:28}  {:32}  {:15}  {}",
            time.get(..20).unwrap_or(&time),
            r.verdict.name(),
            claim,
            gpus.join(","),
            r.node.as_deref().unwrap_or("-"),
            r.failed_checks.join(",")
        );
    }
    let _ = writeln!(out, "{} record(s)", rows.len());
    out
}

fn repair(file: &Path) -> anyhow::Result<Exit> {
    match repair_torn_tail(file)? {
        None => println!("{}: the tail is sound; nothing changed", file.display()),
        Some(r) => println!(
            "{}: moved {} torn byte(s) from offset {} to {}; run `ccgpu log verify` to check the rest",
            file.display(),
            r.len,
            r.offset,
            r.saved_to.display()
        ),
    }
    Ok(Exit::Affirming)
}
