//! Test-only crash injection: `ANKYRA_TEST_KILL_AT=<point>` makes the process
//! kill itself with SIGKILL when it reaches that point, so the crash tests can
//! prove an operation survives its own death at every step. Not for operators.

/// Every point, in the order a keystone upgrade reaches them.
pub const POINTS: &[&str] = &[
    "journaled",
    "snapshot",
    "schema",
    "instance-started",
    "instance-added",
    "old-parked",
    "watched",
    "standby-recorded",
];

/// Dies here (SIGKILL, no cleanup, no unwinding) when the test setting names `point`.
pub fn hit(point: &str) {
    if std::env::var("ANKYRA_TEST_KILL_AT").as_deref() != Ok(point) {
        return;
    }
    tracing::warn!(point, "test kill point reached: SIGKILL");
    // SIGKILL from outside the process: std has no safe way to send it to itself.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status();
    std::process::abort();
}
