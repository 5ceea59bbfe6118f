//! What the demo prints: one line per step with its duration (details indented under it), a spinner on
//! the terminal while a step waits, and the same steps as JSON with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The first 16 characters of a hex digest or nonce, then an ellipsis.
pub(super) fn short(hex_text: &str) -> String {
    let n = hex_text.len().min(16);
    format!("{}…", &hex_text[..n])
}

/// One finished step.
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// Stable id (`prepare`, `bring-up`, …) for machines.
    pub id: &'static str,
    /// What happened, in one line.
    pub title: String,
    /// Whether it succeeded (a bring-up that keeps tampered GPUs locked did not: the demo itself did).
    pub ok: bool,
    /// How long it took.
    pub took: Duration,
    /// Lines shown under it.
    pub details: Vec<String>,
}

impl StepRecord {
    fn json(&self) -> Value {
        json!({"id": self.id, "title": self.title, "ok": self.ok, "duration_ms": ms(self.took),
            "details": self.details})
    }
}

/// Milliseconds with three decimals, for JSON.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A duration for people: `0.42 ms`, `12.3 ms`, `1.24 s`.
pub fn human(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    if m < 1.0 {
        format!("{m:.2} ms")
    } else if m < 1000.0 {
        format!("{m:.1} ms")
    } else {
        format!("{:.2} s", m / 1e3)
    }
}

/// Prints steps as they finish (text) or collects them (JSON).
#[derive(Debug)]
pub struct Report {
    json: bool,
    spinner: bool,
    steps: Vec<StepRecord>,
}

/// A step in progress: its start, and the spinner thread while it waits (stopped when the step
/// finishes or is abandoned).
#[derive(Debug)]
pub struct Running {
    id: &'static str,
    start: Instant,
    spin: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Running {
    fn stop_spinner(&mut self) {
        if let Some((stop, handle)) = self.spin.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_spinner();
    }
}

impl Report {
    /// Text on stdout (with a spinner on stderr when it is a terminal), or JSON at the end.
    pub fn new(json: bool) -> Self {
        Self { json, spinner: !json && std::io::stderr().is_terminal(), steps: Vec::new() }
    }

    /// Whether output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a line of text (nothing in JSON mode).
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", line.as_ref());
            let _ = out.flush();
        }
    }

    /// Starts a step; `waiting` is what the spinner says meanwhile.
    pub fn begin(&self, id: &'static str, waiting: &str) -> Running {
        let start = Instant::now();
        let spin = self.spinner.then(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let text = waiting.to_owned();
            let handle = std::thread::spawn(move || spin(&text, start, &flag));
            (stop, handle)
        });
        Running { id, start, spin }
    }

    /// Ends a step: prints its line (text) and records it.
    pub fn finish(
        &mut self,
        mut running: Running,
        ok: bool,
        title: impl Into<String>,
        details: Vec<String>,
    ) -> Duration {
        let took = running.start.elapsed();
        running.stop_spinner();
        let step = StepRecord { id: running.id, title: title.into(), ok, took, details };
        if !self.json {
            let n = self.steps.len() + 1;
            let mark = if ok { "✓" } else { "✗" };
            let mut text = format!("{n:>2} {mark} {:>9}  {}\n", human(took), step.title);
            for d in &step.details {
                text.push_str(&format!("{:>17}{d}\n", ""));
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        self.steps.push(step);
        took
    }

    /// The steps so far.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// The steps as JSON.
    pub fn steps_json(&self) -> Value {
        Value::Array(self.steps.iter().map(StepRecord::json).collect())
    }
}

/// Redraws `⠋ text… 1.2 s` on stderr until `stop`; clears the line at the end. Waits 150 ms before the
/// first frame, so instant steps never flicker.
fn spin(text: &str, start: Instant, stop: &AtomicBool) {
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut drawn = false;
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        let t = start.elapsed();
        if t < Duration::from_millis(150) || stop.load(Ordering::SeqCst) {
            continue;
        }
        i = i.wrapping_add(1);
        let frame = FRAMES[(i / 2) % FRAMES.len()];
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K   {frame} {text}… {:.1} s", t.as_secs_f64());
        let _ = err.flush();
        drawn = true;
    }
    if drawn {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// Renders rows as a left-aligned text table with a header and a rule under it.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> =
            cells.zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        format!("   {}", parts.join("  ").trim_end())
    };
    let mut out = line(&mut header.iter().copied());
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    out.push_str(&format!("   {}\n", rule.join("  ")));
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}
