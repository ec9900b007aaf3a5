//! Running host commands (mmdebstrap, pip) with their output kept for errors.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;
use tracing::debug;

use crate::error::{tail, ImageError};

/// Runs `program args`, returns stdout; on failure the error has the last 40
/// lines of stderr and stdout.
pub(crate) async fn run(
    program: &str,
    args: &[String],
    cwd: Option<&Path>,
) -> Result<String, ImageError> {
    let command = format!("{program} {}", args.join(" "));
    debug!(%command, "running on the host");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd.output().await.map_err(|source| ImageError::Spawn {
        command: command.clone(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(ImageError::HostCommand {
            command,
            status: out.status.to_string(),
            output: tail(&format!("{stdout}\n{stderr}"), 40),
        });
    }
    Ok(stdout)
}

/// Whether `program` is on the PATH.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}
