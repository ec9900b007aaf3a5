//! The `ankyra` binary, run for real: exit code, stdout and stderr snapshotted.

#![allow(clippy::unwrap_used)]

mod concurrency;
mod errors;
mod revisions;
mod serve_http;
mod upgrade;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch folder with its own store, and the binary pointed at it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `ankyra ARGS` on this env's store, as `run` starts it (not started yet).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ankyra"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("ANKYRA_STORE", self.path("store.db"))
            .env("ANKYRA_AUTHOR", "rey")
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG");
        cmd
    }

    /// "exit: N\n--- stdout\n...\n--- stderr\n..." of a finished `ankyra`.
    pub fn describe(&self, out: &std::process::Output) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .replace(&self.dir.path().display().to_string(), "[TMP]")
    }

    /// Runs `ankyra ARGS` and returns "exit: N\n--- stdout\n...\n--- stderr\n...".
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        self.describe(&out)
    }

    /// Runs and returns parsed JSON stdout (with `-o json`).
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = Command::new(env!("CARGO_BIN_EXE_ankyra"))
            .args(&all)
            .current_dir(self.dir.path())
            .env("ANKYRA_STORE", self.path("store.db"))
            .env("ANKYRA_AUTHOR", "rey")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

/// Filters for what changes from run to run: times and hashes.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]");
    s.add_filter(r"\b[0-9a-f]{64}\b", "[HASH]");
    s.add_filter(r"\(([0-9a-f]{12})\)", "([HASH12])");
    s.add_filter(r"  [0-9a-f]{12}  ", "  [HASH12]  ");
    s
}

/// `ankyra init --name NAME` written to NAME.yaml in the env.
pub fn init(env: &Env, name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_ankyra"))
        .args(["init", "--name", name])
        .output()
        .unwrap();
    assert!(out.status.success());
    env.write(
        &format!("{name}.yaml"),
        &String::from_utf8(out.stdout).unwrap(),
    )
}

pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}
