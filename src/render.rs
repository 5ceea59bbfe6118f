//! Human-readable output.

use std::fmt::Write as _;

use ccgpu_attestation::{
    Check, Checks, CompositeAppraisal, GpuAppraisal, Outcome, SnpAppraisal, SwitchAppraisal, Verdict,
};

/// The text table for `verify gpu`.
pub fn gpu_text(a: &GpuAppraisal, driver_rim: &str, vbios_rim: &str) -> String {
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
    let _ = writeln!(s, "RIMs     {driver_rim}");
    let _ = writeln!(s, "         {vbios_rim}");
    let _ = writeln!(s, "nonce    {}", a.nonce);
    let _ = writeln!(s, "time     {}", a.verified_at);
    let _ = writeln!(s);
    checks_table(&mut s, &a.checks, 2);
    if let Some(m) = &a.measurements {
        for mm in &m.mismatches {
            let found = mm.found.as_deref().unwrap_or("(no such block)");
            let _ = writeln!(s, "           index {} ({}): report {found}", mm.index, mm.source);
            for e in &mm.expected {
                let _ = writeln!(s, "             golden {e}");
            }
        }
    }
    for w in &a.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    let _ = writeln!(s);
    verdict_line(&mut s, a.verdict, &a.checks.failures().iter().map(|c| c.name().to_owned()).collect::<Vec<_>>());
    s
}

/// One line per check, indented.
fn checks_table<C: Check>(s: &mut String, checks: &Checks<C>, indent: usize) {
    let width = checks.iter().map(|r| r.check.name().len()).max().unwrap_or(0).max(20);
    for r in checks.iter() {
        let mark = match r.outcome {
            Outcome::Passed { .. } => "pass   ",
            Outcome::Failed { .. } => "FAIL   ",
            Outcome::NotRun { .. } => "not run",
            Outcome::Skipped { .. } => "skip   ",
        };
        let _ = writeln!(s, "{:indent$}{mark}  {:width$}  {}", "", r.check.name(), r.outcome.text());
    }
}

fn verdict_line(s: &mut String, verdict: Verdict, failures: &[String]) {
    if failures.is_empty() {
        let _ = writeln!(s, "verdict: {verdict}");
    } else {
        let _ = writeln!(s, "verdict: {verdict} ({} not passed: {})", failures.len(), failures.join(", "));
    }
}

/// The text table for `verify snp`.
pub fn snp_text(a: &SnpAppraisal) -> String {
    let id = &a.identity;
    let mut s = String::new();
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let product = id.product.map_or_else(|| "?".to_owned(), |p| p.to_string());
    let key = id.signing_key.map_or_else(|| "?".to_owned(), |k| format!("{k:?}").to_uppercase());
    let _ = writeln!(
        s,
        "CPU          AMD SEV-SNP {product}, report version {}, signed by {key}",
        id.report_version.map_or("?".into(), |v| v.to_string())
    );
    let _ = writeln!(s, "measurement  {}", opt(&id.measurement));
    let _ = writeln!(s, "report data  {}", opt(&id.report_data));
    let _ = writeln!(s, "time         {}", a.verified_at);
    let _ = writeln!(s);
    checks_table(&mut s, &a.checks, 2);
    for w in &a.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    let _ = writeln!(s);
    verdict_line(&mut s, a.verdict, &a.checks.failures().iter().map(|c| c.name().to_owned()).collect::<Vec<_>>());
    s
}

/// The text for `verify bundle`: the bundle checks, then one block per submodule.
pub fn bundle_text(a: &CompositeAppraisal) -> String {
    let mut s = String::new();
    let switches = if a.switches.is_empty() { String::new() } else { format!(" + {} NVSwitch(es)", a.switches.len()) };
    let _ = writeln!(s, "bundle   nonce {}   {} GPU(s){switches}   time {}", a.nonce, a.gpus.len(), a.verified_at);
    checks_table(&mut s, &a.checks, 2);
    if let Some(cpu) = &a.cpu {
        let _ = writeln!(s, "\ncpu      {}", cpu.verdict);
        checks_table(&mut s, &cpu.checks, 2);
        for w in &cpu.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    }
    for (i, g) in a.gpus.iter().enumerate() {
        let id = &g.appraisal.identity;
        let _ = writeln!(
            s,
            "\ngpu-{i}    {}  {}  driver {}  VBIOS {}  ({})",
            g.bdf.as_deref().unwrap_or("?"),
            g.uuid.as_deref().unwrap_or("?"),
            id.driver_version.as_deref().unwrap_or("?"),
            id.vbios_version.as_deref().unwrap_or("?"),
            g.appraisal.verdict
        );
        checks_table(&mut s, &g.appraisal.checks, 2);
    }
    for (i, w) in a.switches.iter().enumerate() {
        let id = &w.appraisal.identity;
        let _ = writeln!(
            s,
            "\nswitch-{i} {}  PDI {}  position {}  VBIOS {}  ({})",
            w.uuid.as_deref().unwrap_or("?"),
            id.pdi.map_or_else(|| "?".to_owned(), |p| p.hex()),
            id.position.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            id.vbios_version.as_deref().unwrap_or("?"),
            w.appraisal.verdict
        );
        checks_table(&mut s, &w.appraisal.checks, 2);
    }
    if let Some(t) = &a.topology {
        let _ = writeln!(s, "\ntopology {}", t.verdict);
        checks_table(&mut s, &t.checks, 2);
    }
    let _ = writeln!(s);
    verdict_line(&mut s, a.verdict, &a.failures());
    s
}

/// The text table for `verify switch`.
pub fn switch_text(a: &SwitchAppraisal, rim: &str) -> String {
    let id = &a.identity;
    let or = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    let mut s = String::new();
    let _ = writeln!(s, "switch   {} ({})", or(id.hwmodel.clone()), or(id.chip.clone()));
    let _ = writeln!(s, "UEID     {}", or(id.ueid.clone()));
    let _ = writeln!(
        s,
        "PDI      {} (certificate)   {} (report)",
        or(id.pdi.map(|p| p.hex())),
        or(id.reported_pdi.map(|p| p.hex()))
    );
    let _ = writeln!(
        s,
        "VBIOS    {}    position {}    lock status {}",
        or(id.vbios_version.clone()),
        or(id.position.map(|p| p.to_string())),
        or(id.lock_status.map(|p| p.to_string()))
    );
    if let Some(gpus) = &id.gpu_pdis {
        let list: Vec<String> = gpus.iter().map(|p| p.hex()).collect();
        let _ = writeln!(s, "GPUs     {}", list.join(" "));
    }
    let _ = writeln!(s, "RIM      {rim}");
    let _ = writeln!(s, "nonce    {}", a.nonce);
    let _ = writeln!(s, "time     {}", a.verified_at);
    let _ = writeln!(s);
    checks_table(&mut s, &a.checks, 2);
    if let Some(m) = &a.measurements {
        for mm in &m.mismatches {
            let found = mm.found.as_deref().unwrap_or("(no such block)");
            let _ = writeln!(s, "           index {}: report {found}", mm.index);
        }
    }
    for w in &a.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    let _ = writeln!(s);
    verdict_line(&mut s, a.verdict, &a.checks.failures().iter().map(|c| c.name().to_owned()).collect::<Vec<_>>());
    s
}
