//! Test-only crash and fault injection. `ANKYRA_TEST_KILL_AT=<point>` makes the
//! process kill itself with SIGKILL when it reaches that point, so the crash
//! tests can prove an operation survives its own death at every step.
//! `ANKYRA_TEST_PAUSE_AT=<point>` with `ANKYRA_TEST_PAUSE_DIR=<dir>` makes it
//! wait there: it creates `<dir>/<point>.reached` and goes on once the test has
//! created `<dir>/<point>.go`, so a fault (a full disk, say) lands at a known
//! step. Not for operators.

/// Every point, in the order a keystone upgrade reaches them.
pub const POINTS: &[&str] = &[
    "journaled",
    "snapshot",
    "schema-checked",
    "schema",
    "instance-started",
    "instance-added",
    "old-parked",
    "watched",
    "standby-recorded",
];

/// How long a pause waits for the test before going on by itself.
const PAUSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Dies here (SIGKILL, no cleanup, no unwinding) when the test setting names
/// `point`, or waits here when the pause setting does.
pub fn hit(point: &str) {
    pause(point);
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

fn pause(point: &str) {
    if std::env::var("ANKYRA_TEST_PAUSE_AT").as_deref() != Ok(point) {
        return;
    }
    let Some(dir) = std::env::var_os("ANKYRA_TEST_PAUSE_DIR") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    let go = dir.join(format!("{point}.go"));
    if let Err(e) = std::fs::write(dir.join(format!("{point}.reached")), b"") {
        tracing::warn!(point, error = %e, "test pause point: cannot say it was reached");
        return;
    }
    tracing::warn!(point, "test pause point reached: waiting for the test");
    let started = std::time::Instant::now();
    // Blocking on purpose: the whole operation stands still, as the test wants.
    while !go.exists() && started.elapsed() < PAUSE_LIMIT {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
