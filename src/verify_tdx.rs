//! `ccgpu verify tdx`: read the quote and its DCAP collateral (a file, a directory or a PCCS), appraise
//! under the policy's `[tdx]` table, print, exit by verdict.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use ccgpu_attestation::{
    Check, Checks, IntelRoots, Outcome, TdxAppraisal, TdxAppraise, TdxCollateral, TdxEvidence, appraise_tdx,
};
use ccgpu_fetch::Pccs;
use time::OffsetDateTime;

use crate::cli::{Format, TdxArgs};
use crate::exit::Exit;
use crate::input;

pub fn run(args: &TdxArgs) -> anyhow::Result<Exit> {
    let quote = read_quote(&args.quote)?;
    let report_data: Option<[u8; 64]> = args
        .report_data
        .as_deref()
        .map(|h| {
            let bytes = hex::decode(h.trim()).context("--report-data must be 128 hex digits")?;
            let n = bytes.len();
            <[u8; 64]>::try_from(bytes).map_err(|_| anyhow::anyhow!("--report-data must be 64 bytes, got {n}"))
        })
        .transpose()?;
    let at = input::verification_time(args.at.as_deref())?;
    // The whole policy file is parsed and validated (every table, `[tdx]` included), as `verify snp` does.
    let file_policy = input::policy(args.policy.as_deref())?;
    let mut policy = file_policy.tdx.clone().unwrap_or_default();
    if args.no_report_data {
        anyhow::ensure!(report_data.is_none(), "--no-report-data and --report-data exclude each other");
        policy.require_report_data = false;
    }
    let evidence = TdxEvidence { quote: &quote };
    let collateral = collateral(args, &evidence)?;
    let roots = IntelRoots::intel();
    let appraisal = appraise_tdx(
        &evidence,
        &TdxAppraise {
            at,
            expected_report_data: report_data.as_ref(),
            policy: &policy,
            roots: &roots,
            collateral: collateral.as_ref().map_err(String::as_str),
            cache: None,
        },
    );
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "verdict": appraisal.verdict,
                "failures": appraisal.checks.failures().iter().map(|c| c.name()).collect::<Vec<_>>(),
                "checks": appraisal.checks,
                "identity": appraisal.identity,
                "warnings": appraisal.warnings,
                "verified_at": appraisal.verified_at,
                "valid_until": appraisal.valid_until,
                "quote_sha384": appraisal.quote_digest,
                "policy_sha384": file_policy.digest(),
                "report_data_required": policy.require_report_data,
            }))?
        ),
        Format::Text => print!("{}", text(&appraisal)),
    }
    Ok(appraisal.verdict.into())
}

/// The quote: raw, or hex text (with an optional `0x`).
fn read_quote(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = input::read_file("TDX quote", path)?;
    let text = std::str::from_utf8(&bytes).ok().map(|t| t.split_whitespace().collect::<String>());
    match text {
        Some(t) if !t.is_empty() && t.trim_start_matches("0x").bytes().all(|b| b.is_ascii_hexdigit()) => {
            hex::decode(t.trim_start_matches("0x")).context("the TDX quote's hex text")
        }
        _ => Ok(bytes),
    }
}

/// The collateral, or why there is none (the appraisal then fails the checks that need it). A file or
/// directory that cannot be read is unusable input.
fn collateral(args: &TdxArgs, evidence: &TdxEvidence<'_>) -> anyhow::Result<Result<TdxCollateral, String>> {
    if let Some(path) = &args.collateral
        && path.is_file()
    {
        let json = input::read_file("TDX collateral", path)?;
        return Ok(Ok(TdxCollateral::from_dcap_qvl_json(&json).with_context(|| format!("{}", path.display()))?));
    }
    let Some(needed) = evidence.collateral_needed() else {
        return Ok(Err("the quote names no PCK certificate to fetch collateral for".to_owned()));
    };
    let source = match (&args.collateral, &args.pccs) {
        (Some(dir), _) => Pccs::directory(dir),
        (None, Some(url)) => {
            Pccs::new(url, Duration::from_secs(5), input::cache_flag(args.pccs_cache.as_deref(), "tdx-collateral"))
        }
        (None, None) => anyhow::bail!("give the collateral: --collateral FILE|DIR or --pccs URL"),
    };
    Ok(source.fetch(&needed, OffsetDateTime::now_utc()).map_err(|e| e.to_string()))
}

/// The text table for `verify tdx`.
fn text(a: &TdxAppraisal) -> String {
    let id = &a.identity;
    let mut s = String::new();
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let body = id.body.map_or("?", |b| b.name());
    let _ = writeln!(
        s,
        "CPU          Intel TDX, quote v{}, {body}, FMSPC {}",
        id.quote_version.map_or("?".into(), |v| v.to_string()),
        opt(&id.fmspc)
    );
    let _ = writeln!(s, "TCB          {}", id.tcb.as_ref().map_or_else(|| "?".to_owned(), ToString::to_string));
    let _ = writeln!(s, "MRTD         {}", opt(&id.mrtd));
    let _ = writeln!(s, "report data  {}", opt(&id.report_data));
    let _ = writeln!(s, "time         {}", a.verified_at);
    let _ = writeln!(s);
    table(&mut s, &a.checks);
    for w in &a.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    let _ = writeln!(s);
    let failures: Vec<&str> = a.checks.failures().iter().map(|c| c.name()).collect();
    if failures.is_empty() {
        let _ = writeln!(s, "verdict: {}", a.verdict);
    } else {
        let _ = writeln!(s, "verdict: {} ({} not passed: {})", a.verdict, failures.len(), failures.join(", "));
    }
    s
}

fn table<C: Check>(s: &mut String, checks: &Checks<C>) {
    let width = checks.iter().map(|r| r.check.name().len()).max().unwrap_or(0).max(20);
    for r in checks.iter() {
        let mark = match r.outcome {
            Outcome::Passed { .. } => "pass   ",
            Outcome::Failed { .. } => "FAIL   ",
            Outcome::NotRun { .. } => "not run",
            Outcome::Skipped { .. } => "skip   ",
        };
        let _ = writeln!(s, "  {mark}  {:width$}  {}", r.check.name(), r.outcome.text());
    }
}
