//! Human-readable output.

use std::fmt::Write as _;
use std::path::Path;

use ccgpu_attestation::appraisal::Outcome;
use ccgpu_attestation::gpu::GpuAppraisal;

/// `outer: inner: innermost`, each cause once.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The text table for `verify gpu`.
pub fn gpu_text(a: &GpuAppraisal, driver_rim: &Path, vbios_rim: &Path) -> String {
    let id = &a.identity;
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let mut s = String::new();
    let arch = id.arch.map_or_else(|| "unknown architecture".to_owned(), |a| a.to_string());
    let _ = writeln!(s, "GPU      {} ({arch})", or(&id.hwmodel));
    let _ = writeln!(s, "UEID     {}", or(&id.ueid));
    let _ = writeln!(
        s,
        "driver   {}    VBIOS {}    board {}",
        or(&id.driver_version),
        or(&id.vbios_version),
        or(&id.board)
    );
    let _ = writeln!(s, "FWID     {}", or(&id.fwid));
    let _ = writeln!(s, "RIMs     {}", driver_rim.display());
    let _ = writeln!(s, "         {}", vbios_rim.display());
    let _ = writeln!(s, "nonce    {}", a.nonce);
    let _ = writeln!(s, "time     {}", a.verified_at);
    let _ = writeln!(s);
    let width = a.checks.iter().map(|r| r.check.name().len()).max().unwrap_or(0);
    for r in a.checks.iter() {
        let mark = match r.outcome {
            Outcome::Passed { .. } => "pass   ",
            Outcome::Failed { .. } => "FAIL   ",
            Outcome::NotRun { .. } => "not run",
            Outcome::Skipped { .. } => "skip   ",
        };
        let _ = writeln!(s, "  {mark}  {:width$}  {}", r.check.name(), r.outcome.text());
    }
    if let Some(m) = &a.measurements {
        for mm in &m.mismatches {
            let found = mm.found.as_deref().unwrap_or("(no such block)");
            let _ = writeln!(s, "           index {} ({}): report {found}", mm.index, mm.source);
            for e in &mm.expected {
                let _ = writeln!(s, "             golden {e}");
            }
        }
    }
    let failures = a.checks.failures();
    let _ = writeln!(s);
    if failures.is_empty() {
        let _ = writeln!(s, "verdict: {}", a.verdict);
    } else {
        let names: Vec<&str> = failures.iter().map(|c| c.name()).collect();
        let _ = writeln!(s, "verdict: {} ({} not passed: {})", a.verdict, names.len(), names.join(", "));
    }
    s
}
