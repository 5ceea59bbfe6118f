//! Running one external command under a deadline, keeping the tail of its stderr.
//!
//! The child gets no stdin; stdout and stderr are drained by two threads (so a chatty child cannot block
//! on a full pipe), keeping the last [`STDERR_TAIL`] bytes of stderr. At the deadline the child is killed
//! and reaped. A daemon that forks and keeps the pipes open cannot hold us: after the child exits, the
//! readers get a short grace period and are then left behind.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::{CommandError, STDERR_TAIL};

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// The tail of its stderr, lossily decoded.
    pub stderr: String,
}

/// How long the pipe readers get after the child exited.
const READER_GRACE: Duration = Duration::from_millis(100);

/// The command line as one string, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion within `timeout`. A non-zero exit is an error carrying the stderr tail.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<CommandOutput, CommandError> {
    let command = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CommandError::Spawn { command: command.clone(), source })?;
    let stderr = Arc::new(Mutex::new(Vec::<u8>::new()));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut readers = 0;
    if let Some(out) = child.stdout.take() {
        readers += 1;
        spawn_reader(out, None, done_tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        readers += 1;
        spawn_reader(err, Some(Arc::clone(&stderr)), done_tx.clone());
    }
    drop(done_tx);

    let status = wait_until(&mut child, Instant::now() + timeout, &command);
    let grace = Instant::now() + READER_GRACE;
    for _ in 0..readers {
        let left = grace.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let tail = {
        let buf = stderr.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    };
    match status? {
        None => Err(CommandError::TimedOut { command, after: timeout, stderr: tail }),
        Some(status) if status.success() => Ok(CommandOutput { status, stderr: tail }),
        Some(status) => Err(CommandError::Failed { command, status: status.to_string(), stderr: tail }),
    }
}

/// Waits for the child until `deadline`; `Ok(None)` when it had to be killed.
fn wait_until(child: &mut Child, deadline: Instant, command: &str) -> Result<Option<ExitStatus>, CommandError> {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) => {}
            Err(source) => return Err(CommandError::Wait { command: command.to_owned(), source }),
        }
        let now = Instant::now();
        if now >= deadline {
            // The child may have exited between try_wait and kill; either way it is reaped below.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

fn spawn_reader(mut pipe: impl Read + Send + 'static, keep: Option<Arc<Mutex<Vec<u8>>>>, done: mpsc::Sender<()>) {
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(keep) = &keep {
                        let mut buf = keep.lock().unwrap_or_else(PoisonError::into_inner);
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.len() > STDERR_TAIL {
                            let cut = buf.len() - STDERR_TAIL;
                            buf.drain(..cut);
                        }
                    }
                }
            }
        }
        let _ = done.send(());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn success_keeps_stderr() {
        let out = run_with_timeout(&mut sh("echo warn >&2; echo out"), Duration::from_secs(30)).expect("runs");
        assert!(out.status.success());
        assert_eq!(out.stderr.trim(), "warn");
    }

    #[test]
    fn failure_carries_status_and_stderr() {
        let err = run_with_timeout(
            &mut sh("echo 'modprobe: FATAL: Module nvidia not found' >&2; exit 1"),
            Duration::from_secs(30),
        )
        .expect_err("fails");
        let text = err.to_string();
        assert!(matches!(err, CommandError::Failed { .. }), "{text}");
        assert!(text.contains("Module nvidia not found") && text.contains("exit status: 1"), "{text}");
    }

    #[test]
    fn a_hanging_command_is_killed_at_its_deadline() {
        let err = run_with_timeout(&mut sh("echo starting >&2; exec sleep 30"), Duration::from_millis(200))
            .expect_err("times out");
        assert!(matches!(&err, CommandError::TimedOut { stderr, .. } if stderr.contains("starting")), "{err}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run_with_timeout(&mut Command::new("/nonexistent/modprobe"), Duration::from_secs(1))
            .expect_err("no such program");
        assert_eq!(err.kind(), "spawn");
    }

    #[test]
    fn only_the_tail_of_a_long_stderr_is_kept() {
        let out = run_with_timeout(
            &mut sh("head -c 20000 /dev/zero | tr '\\0' x >&2; echo END >&2"),
            Duration::from_secs(30),
        )
        .expect("runs");
        assert!(out.stderr.len() <= STDERR_TAIL && out.stderr.trim_end().ends_with("END"));
    }
}
