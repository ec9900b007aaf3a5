//! Progress lines on stderr, written directly (bypassing libtest's output capture) so a CI
//! log shows what the tests are doing while they run.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Seconds since the first log line of this process.
pub fn elapsed_secs() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Writes one progress line: `[e2e  12.3s] message`.
pub fn line(args: Arguments<'_>) {
    let t = elapsed_secs();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "[e2e {t:>7.1}s] {args}");
}

/// Writes raw text (already formatted, e.g. a captured log) to stderr.
pub fn raw(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = err.write_all(b"\n");
    }
}

/// `e2e_log!("deployed {name}")`: a progress line on stderr.
#[macro_export]
macro_rules! e2e_log {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}
