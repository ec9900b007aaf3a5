//! Running a child process with a timeout, capturing its output (and optionally echoing
//! its stderr live), so a failure can show what the program said.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

/// How to run a command.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A short name for log lines and errors (e.g. `ankyra apply`).
    pub label: String,
    /// The child is killed after this long.
    pub timeout: Duration,
    /// Echo each stderr line live to our stderr, prefixed with the label.
    pub echo_stderr: bool,
}

impl RunOptions {
    pub fn new(label: impl Into<String>, timeout: Duration) -> Self {
        Self {
            label: label.into(),
            timeout,
            echo_stderr: false,
        }
    }

    pub fn echo_stderr(mut self) -> Self {
        self.echo_stderr = true;
        self
    }
}

/// What a finished command did.
#[derive(Debug, Clone)]
pub struct Output {
    pub label: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Ok if the command exited 0, else an error holding its exit status and the tails of
    /// its stdout and stderr.
    pub fn check(&self) -> Result<&Self> {
        if self.success() {
            Ok(self)
        } else {
            Err(anyhow!("{}", self.describe_failure()))
        }
    }

    /// `LABEL exited with STATUS after Ns` plus stdout/stderr tails.
    pub fn describe_failure(&self) -> String {
        format!(
            "`{}` exited with {} after {:.1}s\n--- stdout (last lines) ---\n{}\n--- stderr (last lines) ---\n{}",
            self.label,
            self.status,
            self.elapsed.as_secs_f64(),
            tail(&self.stdout, 60),
            tail(&self.stderr, 120),
        )
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("[... {start} earlier lines ...]\n"));
    }
    out.push_str(&lines[start..].join("\n"));
    out
}

/// Runs `cmd` to completion (stdin closed), killing it after `opts.timeout`. A timeout is
/// an error carrying whatever the command printed so far.
pub fn run(cmd: &mut Command, opts: RunOptions) -> Result<Output> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{}` ({:?})", opts.label, cmd.get_program()))?;
    let mut stdout = child.stdout.take().context("child stdout")?;
    let stderr = child.stderr.take().context("child stderr")?;

    let out_thread = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let echo = opts.echo_stderr;
    let label = opts.label.clone();
    let err_thread = thread::spawn(move || {
        let mut collected = String::new();
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    if echo {
                        crate::log::raw(&format!("    | {label}: {}", text.trim_end()));
                    }
                    collected.push_str(&text);
                }
            }
        }
        collected
    });

    let mut timed_out = false;
    let mut last_beat = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for child")? {
            break status;
        }
        if started.elapsed() > opts.timeout {
            timed_out = true;
            // Our own child, by its handle (its PID).
            let _ = child.kill();
            break child.wait().context("waiting for killed child")?;
        }
        // A long, quiet command (an apply building images) still shows signs of life.
        if opts.echo_stderr && last_beat.elapsed() >= Duration::from_secs(60) {
            last_beat = Instant::now();
            crate::e2e_log!(
                "{} still running ({:.0}s)",
                opts.label,
                started.elapsed().as_secs_f64()
            );
        }
        thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    let output = Output {
        label: opts.label,
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    };
    if timed_out {
        return Err(anyhow!(
            "timed out after {:.0}s and was killed\n{}",
            opts.timeout.as_secs_f64(),
            output.describe_failure()
        ));
    }
    Ok(output)
}
