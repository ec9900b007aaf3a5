//! Running a command inside a running container (readiness probes).

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::{Docker, DockerError};

impl Docker {
    /// Runs `cmd` in the running container `name`; returns its exit code and output.
    pub async fn exec(&self, name: &str, cmd: &[String]) -> Result<(i64, String), DockerError> {
        let exec = self
            .inner
            .create_exec(
                name,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(self.api_error("create exec", name))?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = self
            .inner
            .start_exec(&exec.id, None)
            .await
            .map_err(self.api_error("start exec", name))?
        {
            while let Some(Ok(chunk)) = stream.next().await {
                output.push_str(&chunk.to_string());
            }
        }
        let inspect = self
            .inner
            .inspect_exec(&exec.id)
            .await
            .map_err(self.api_error("inspect exec", name))?;
        Ok((inspect.exit_code.unwrap_or(-1), output))
    }
}
