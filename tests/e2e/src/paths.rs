//! Where the binaries under test are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process::{run, RunOptions};

/// The workspace root (this crate lives in `tests/e2e`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The `ankyra` binary: `$ANKYRA_BIN`, else `$CARGO_TARGET_DIR/debug/ankyra`, else
/// `<workspace>/target/debug/ankyra`. Tests in another crate cannot use
/// `CARGO_BIN_EXE_ankyra`, so CI builds it first (`cargo build -p ankyra`).
pub fn ankyra_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ANKYRA_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("ANKYRA_BIN={} does not exist or is not a file", p.display());
        }
        return Ok(p);
    }
    let mut tried = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        tried.push(PathBuf::from(dir).join("debug/ankyra"));
    }
    tried.push(workspace_root().join("target/debug/ankyra"));
    for p in &tried {
        if p.is_file() {
            return Ok(p.clone());
        }
    }
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "the ankyra binary is missing (looked at {}): build it first with `cargo build -p ankyra`, \
         or point ANKYRA_BIN at it",
        tried.join(", ")
    )
}

/// The `openstack` client: `$OPENSTACK_BIN`, else whatever
/// `scripts/ensure-openstackclient.sh` installs (a venv in the Ankyra cache; quick when present).
pub fn openstack_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("OPENSTACK_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "OPENSTACK_BIN={} does not exist or is not a file",
                p.display()
            );
        }
        return Ok(p);
    }
    let script = workspace_root().join("scripts/ensure-openstackclient.sh");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&script);
    let out = run(
        &mut cmd,
        RunOptions::new("ensure-openstackclient", Duration::from_secs(15 * 60)).echo_stderr(),
    )?;
    out.check().context("installing python-openstackclient")?;
    let path = out
        .stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(PathBuf::from)
        .with_context(|| format!("{} printed no path", script.display()))?;
    if !path.is_file() {
        bail!(
            "{} printed {}, which is not a file",
            script.display(),
            path.display()
        );
    }
    Ok(path)
}
