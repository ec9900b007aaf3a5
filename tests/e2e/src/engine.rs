//! The Docker Engine, through its API (bollard), blocking: what the tests look at and
//! break behind Ankyra's back.

use std::collections::HashMap;

use anyhow::{Context, Result};
use bollard::container::{
    InspectContainerOptions, KillContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StartContainerOptions, StopContainerOptions,
};
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::Docker;

/// The labels Ankyra puts on every container.
pub const LABEL_CLOUD: &str = "io.ankyra.cloud";
pub const LABEL_COMPONENT: &str = "io.ankyra.component";
pub const LABEL_VERSION: &str = "io.ankyra.version";
pub const LABEL_REVISION: &str = "io.ankyra.revision";

pub struct Engine {
    rt: tokio::runtime::Runtime,
    docker: Docker,
}

impl Engine {
    /// Connects (DOCKER_HOST or the local socket) and negotiates the API version (the
    /// engine here speaks 1.41). No engine is an error: these tests fail, never skip.
    pub fn connect() -> Result<Engine> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building a tokio runtime")?;
        let hint = "the docker e2e tests need a reachable Docker Engine (they fail, never skip)";
        let docker = Docker::connect_with_defaults().context(hint)?;
        let docker = rt.block_on(docker.negotiate_version()).context(hint)?;
        rt.block_on(docker.ping()).context(hint)?;
        Ok(Engine { rt, docker })
    }

    /// Containers (running or not) labelled with this cloud, and this component if given.
    pub fn containers(
        &self,
        cloud: &str,
        component: Option<&str>,
    ) -> Result<Vec<ContainerSummary>> {
        let mut labels = vec![format!("{LABEL_CLOUD}={cloud}")];
        if let Some(c) = component {
            labels.push(format!("{LABEL_COMPONENT}={c}"));
        }
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), labels);
        let opts = ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        };
        self.rt
            .block_on(self.docker.list_containers(Some(opts)))
            .with_context(|| format!("listing the containers of cloud {cloud}"))
    }

    pub fn inspect(&self, id: &str) -> Result<ContainerInspectResponse> {
        self.rt
            .block_on(
                self.docker
                    .inspect_container(id, None::<InspectContainerOptions>),
            )
            .with_context(|| format!("inspecting container {id}"))
    }

    /// Everything the container wrote to stdout and stderr (`docker logs`, all lines),
    /// as text.
    pub fn logs(&self, id: &str) -> Result<String> {
        use futures_util::StreamExt;
        let opts = LogsOptions::<String> {
            stdout: true,
            stderr: true,
            tail: "all".to_string(),
            ..Default::default()
        };
        self.rt
            .block_on(async {
                let mut stream = self.docker.logs(id, Some(opts));
                let mut bytes = Vec::new();
                while let Some(chunk) = stream.next().await {
                    bytes.extend_from_slice(&chunk?.into_bytes());
                }
                Ok::<_, bollard::errors::Error>(String::from_utf8_lossy(&bytes).into_owned())
            })
            .with_context(|| format!("reading the logs of container {id}"))
    }

    pub fn stop(&self, id: &str, grace_secs: i64) -> Result<()> {
        self.rt
            .block_on(
                self.docker
                    .stop_container(id, Some(StopContainerOptions { t: grace_secs })),
            )
            .with_context(|| format!("stopping container {id}"))
    }

    pub fn start(&self, id: &str) -> Result<()> {
        self.rt
            .block_on(
                self.docker
                    .start_container(id, None::<StartContainerOptions<String>>),
            )
            .with_context(|| format!("starting container {id}"))
    }

    pub fn kill(&self, id: &str) -> Result<()> {
        self.rt
            .block_on(
                self.docker
                    .kill_container(id, Some(KillContainerOptions { signal: "SIGKILL" })),
            )
            .with_context(|| format!("killing container {id}"))
    }

    /// Builds `tag` from `base` by running `script` (sh -c) in it and committing the
    /// result: how the tests make deliberately broken images. A no-op when `tag` exists.
    pub fn patched_image(&self, base: &str, tag: &str, script: &str) -> Result<()> {
        if self.rt.block_on(self.docker.inspect_image(tag)).is_ok() {
            return Ok(());
        }
        let name = format!("ankyra-e2e-patch-{}", std::process::id());
        let config = bollard::container::Config {
            image: Some(base.to_string()),
            cmd: Some(vec!["sh".to_string(), "-c".to_string(), script.to_string()]),
            ..Default::default()
        };
        self.rt
            .block_on(self.docker.create_container(
                Some(bollard::container::CreateContainerOptions {
                    name: name.clone(),
                    platform: None,
                }),
                config,
            ))
            .with_context(|| format!("creating a container of {base}"))?;
        let result = (|| -> Result<()> {
            self.start(&name)?;
            let code = self.rt.block_on(async {
                use futures_util::StreamExt;
                let mut s = self.docker.wait_container(
                    &name,
                    None::<bollard::container::WaitContainerOptions<String>>,
                );
                match s.next().await {
                    Some(Ok(r)) => r.status_code,
                    Some(Err(bollard::errors::Error::DockerContainerWaitError {
                        code, ..
                    })) => code,
                    _ => -1,
                }
            });
            anyhow::ensure!(code == 0, "patch script exited with {code}");
            let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
            self.rt
                .block_on(self.docker.commit_container(
                    bollard::image::CommitContainerOptions {
                        container: name.clone(),
                        repo: repo.to_string(),
                        tag: t.to_string(),
                        pause: true,
                        ..Default::default()
                    },
                    bollard::container::Config::<String>::default(),
                ))
                .with_context(|| format!("committing {tag}"))?;
            Ok(())
        })();
        let _ = self.remove(&name);
        result
    }

    /// Where the host keeps a named volume's files.
    pub fn volume_mountpoint(&self, name: &str) -> Result<String> {
        let v = self
            .rt
            .block_on(self.docker.inspect_volume(name))
            .with_context(|| format!("inspecting volume {name}"))?;
        Ok(v.mountpoint)
    }

    /// Runs `cmd` in the running container `id`; its exit code and output.
    pub fn exec(&self, id: &str, cmd: &[&str]) -> Result<(i64, String)> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use futures_util::StreamExt;
        self.rt
            .block_on(async {
                let exec = self
                    .docker
                    .create_exec(
                        id,
                        CreateExecOptions {
                            cmd: Some(cmd.iter().map(|c| c.to_string()).collect()),
                            attach_stdout: Some(true),
                            attach_stderr: Some(true),
                            ..Default::default()
                        },
                    )
                    .await?;
                let mut output = String::new();
                if let StartExecResults::Attached { output: mut s, .. } =
                    self.docker.start_exec(&exec.id, None).await?
                {
                    while let Some(chunk) = s.next().await {
                        output.push_str(&chunk?.to_string());
                    }
                }
                let code = self.docker.inspect_exec(&exec.id).await?.exit_code;
                Ok::<_, bollard::errors::Error>((code.unwrap_or(-1), output))
            })
            .with_context(|| format!("running {cmd:?} in container {id}"))
    }

    /// Creates a volume of the `local` driver with mount options (a device and
    /// its filesystem type: a volume on a disk of its own), labelled like the
    /// cloud's so `destroy --purge` removes it.
    pub fn create_device_volume(
        &self,
        name: &str,
        cloud: &str,
        device: &str,
        fs_type: &str,
    ) -> Result<()> {
        let opts = bollard::volume::CreateVolumeOptions {
            name: name.to_string(),
            driver: "local".to_string(),
            driver_opts: HashMap::from([
                ("type".to_string(), fs_type.to_string()),
                ("device".to_string(), device.to_string()),
            ]),
            labels: HashMap::from([(LABEL_CLOUD.to_string(), cloud.to_string())]),
        };
        self.rt
            .block_on(self.docker.create_volume(opts))
            .with_context(|| format!("creating volume {name} on {device}"))?;
        Ok(())
    }

    /// Removes a volume (absent is fine).
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        match self.rt.block_on(self.docker.remove_volume(name, None)) {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing volume {name}")),
        }
    }

    /// Force-removes a container (killing it if it runs). Its anonymous volumes stay.
    pub fn remove(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptions {
            force: true,
            v: false,
            link: false,
        };
        self.rt
            .block_on(self.docker.remove_container(id, Some(opts)))
            .with_context(|| format!("removing container {id}"))
    }
}

/// The name of a listed container, without Docker's leading `/`.
pub fn summary_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// `running`, `exited`, ... of a listed container.
pub fn summary_state(c: &ContainerSummary) -> &str {
    c.state.as_deref().unwrap_or("")
}

pub fn summary_label<'a>(c: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    c.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// When an inspected container last started (RFC 3339 text, compared as given).
pub fn started_at(c: &ContainerInspectResponse) -> String {
    c.state
        .as_ref()
        .and_then(|s| s.started_at.clone())
        .unwrap_or_default()
}

/// Whether an inspected container runs and, if it has a health check, is healthy.
pub fn running_and_healthy(c: &ContainerInspectResponse) -> (bool, Option<String>) {
    let state = c.state.as_ref();
    let running = state.and_then(|s| s.running).unwrap_or(false);
    let health = state
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .map(|s| s.to_string());
    (running, health)
}
