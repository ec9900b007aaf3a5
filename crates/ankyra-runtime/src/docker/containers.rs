//! Containers: create, start, wait, logs, remove; and one-shot jobs.

use std::collections::HashMap;

use bollard::container::{
    Config, CreateContainerOptions, ListContainersOptions, LogOutput, LogsOptions,
    RemoveContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use bollard::models::{HostConfig, Mount, MountTypeEnum};
use futures_util::{StreamExt, TryStreamExt};
use tracing::debug;

use super::files::ContainerFile;
use super::{is_not_found, Docker, DockerError};

/// A host folder or file seen inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Absolute host path.
    pub source: String,
    /// Path inside the container.
    pub target: String,
    /// Whether the container may only read it.
    pub read_only: bool,
}

/// What a container is made from.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Its name; unique on the engine.
    pub name: String,
    /// The image reference or ID.
    pub image: String,
    /// The command (overrides the image's).
    pub cmd: Option<Vec<String>>,
    /// Extra environment, `KEY=value`.
    pub env: Vec<String>,
    /// Bind mounts.
    pub binds: Vec<BindMount>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Whether it runs without any network.
    pub network_disabled: bool,
    /// The network it joins, with its aliases and fixed address.
    pub network: Option<NetworkAttachment>,
    /// Named volumes mounted into it.
    pub volumes: Vec<VolumeMount>,
    /// Whether the engine restarts it when its process exits (until stopped by hand).
    pub restart: bool,
    /// Seconds between SIGTERM and SIGKILL on stop.
    pub stop_timeout: Option<i64>,
    /// A health check command (`CMD ...`) replacing the image's.
    pub healthcheck: Option<Vec<String>>,
    /// Files copied into the container after it is created and before it starts: what
    /// a remote engine gets instead of bind mounts (it cannot see this machine's files).
    pub files: Vec<ContainerFile>,
    /// The host name inside the container (None: the engine's default, the
    /// container ID). A stable name lets a replacement keep the identity a
    /// service derives from it (nova's `host`).
    pub hostname: Option<String>,
    /// What of the host it shares (none by default).
    pub host: HostSettings,
}

/// What of the host a container shares beyond the defaults (libvirt's
/// container: guests must outlive it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// The host's PID namespace.
    pub pid: bool,
    /// The host's network namespace (then `network` must be None).
    pub network: bool,
    /// The host's cgroup namespace.
    pub cgroupns: bool,
    /// Capabilities added.
    pub cap_add: Vec<String>,
    /// Capabilities dropped.
    pub cap_drop: Vec<String>,
    /// Security options.
    pub security_opt: Vec<String>,
    /// Device cgroup rules.
    pub device_cgroup_rules: Vec<String>,
    /// Host paths bound at the same path inside, read-write.
    pub paths: Vec<String>,
    /// Paths covered by an empty tmpfs.
    pub tmpfs: Vec<String>,
}

/// A network a container joins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// The network's name.
    pub network: String,
    /// DNS aliases on that network.
    pub aliases: Vec<String>,
    /// A fixed IPv4 address on that network.
    pub ipv4: Option<String>,
}

/// A named volume seen inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// The volume's name.
    pub volume: String,
    /// Path inside the container.
    pub target: String,
}

/// How a one-shot container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Its exit code.
    pub exit_code: i64,
    /// The last lines it printed (stdout and stderr interleaved).
    pub output_tail: String,
}

impl Docker {
    /// Creates (does not start) a container, copies [`ContainerSpec::files`] into it,
    /// and returns its ID. If the copy fails the container is removed again. Never
    /// retried: a lost answer may hide a container that was made.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let mounts: Vec<Mount> = spec
            .binds
            .iter()
            .map(|b| Mount {
                source: Some(b.source.clone()),
                target: Some(b.target.clone()),
                read_only: Some(b.read_only),
                typ: Some(MountTypeEnum::BIND),
                ..Default::default()
            })
            .chain(spec.volumes.iter().map(|v| Mount {
                source: Some(v.volume.clone()),
                target: Some(v.target.clone()),
                typ: Some(MountTypeEnum::VOLUME),
                ..Default::default()
            }))
            .chain(spec.host.paths.iter().map(|p| Mount {
                source: Some(p.clone()),
                target: Some(p.clone()),
                read_only: Some(false),
                typ: Some(MountTypeEnum::BIND),
                ..Default::default()
            }))
            .collect();
        let h = &spec.host;
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let networking_config = spec
            .network
            .as_ref()
            .filter(|_| !spec.host.network)
            .map(|n| bollard::container::NetworkingConfig {
                endpoints_config: HashMap::from([(
                    n.network.clone(),
                    bollard::models::EndpointSettings {
                        aliases: (!n.aliases.is_empty()).then(|| n.aliases.clone()),
                        ipam_config: n.ipv4.as_ref().map(|ip| {
                            bollard::models::EndpointIpamConfig {
                                ipv4_address: Some(ip.clone()),
                                ..Default::default()
                            }
                        }),
                        ..Default::default()
                    },
                )]),
            });
        let config = Config::<String> {
            image: Some(spec.image.clone()),
            cmd: spec.cmd.clone(),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            labels: (!spec.labels.is_empty()).then(|| spec.labels.clone()),
            working_dir: spec.working_dir.clone(),
            hostname: spec.hostname.clone(),
            network_disabled: spec.network_disabled.then_some(true),
            stop_timeout: spec.stop_timeout,
            healthcheck: spec
                .healthcheck
                .as_ref()
                .map(|test| bollard::models::HealthConfig {
                    test: Some(test.clone()),
                    interval: Some(10_000_000_000),
                    timeout: Some(5_000_000_000),
                    retries: Some(3),
                    start_period: Some(60_000_000_000),
                    ..Default::default()
                }),
            networking_config,
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                network_mode: if h.network {
                    Some("host".into())
                } else {
                    spec.network.as_ref().map(|n| n.network.clone())
                },
                pid_mode: h.pid.then(|| "host".into()),
                cgroupns_mode: h
                    .cgroupns
                    .then_some(bollard::models::HostConfigCgroupnsModeEnum::HOST),
                cap_add: list(&h.cap_add),
                cap_drop: list(&h.cap_drop),
                security_opt: list(&h.security_opt),
                device_cgroup_rules: list(&h.device_cgroup_rules),
                tmpfs: (!h.tmpfs.is_empty())
                    .then(|| h.tmpfs.iter().map(|t| (t.clone(), String::new())).collect()),
                restart_policy: spec.restart.then_some(bollard::models::RestartPolicy {
                    name: Some(bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        debug!(name = %spec.name, image = %spec.image, "creating container");
        let created = self
            .inner
            .create_container(
                Some(CreateContainerOptions {
                    name: spec.name.clone(),
                    platform: None,
                }),
                config,
            )
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    DockerError::ImageNotFound {
                        reference: spec.image.clone(),
                    }
                } else {
                    self.api_error("create container", spec.name.clone())(e)
                }
            })?;
        if let Err(e) = self.put_files(&created.id, &spec.files).await {
            // Best effort: the copy's error is the one worth reporting.
            let _ = self.remove_container(&created.id).await;
            return Err(e);
        }
        Ok(created.id)
    }

    /// Starts a created container; one already running is fine. Retried while the
    /// engine refuses connections.
    pub async fn start_container(&self, name: &str) -> Result<(), DockerError> {
        let started = self
            .retrying("start container", name, || {
                self.inner
                    .start_container(name, None::<StartContainerOptions<String>>)
            })
            .await;
        match started {
            Ok(()) => Ok(()),
            // 304: already started.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.api_error("start container", name)(e)),
        }
    }

    /// Memory the container uses now, in bytes (None when the engine does not say).
    pub async fn memory_usage(&self, name: &str) -> Result<Option<u64>, DockerError> {
        let mut stream = self.inner.stats(
            name,
            Some(bollard::container::StatsOptions {
                stream: false,
                one_shot: true,
            }),
        );
        match stream.next().await {
            Some(Ok(s)) => Ok(s.memory_stats.usage),
            Some(Err(e)) => Err(self.api_error("container stats", name)(e)),
            None => Ok(None),
        }
    }

    /// Waits until the container stops and returns its exit code. Waiting
    /// again is safe (a stopped container answers at once with its code), so
    /// a wait broken by the engine refusing connections is retried.
    pub async fn wait_container(&self, name: &str) -> Result<i64, DockerError> {
        let code = self
            .retrying("wait container", name, || async {
                let mut stream = self
                    .inner
                    .wait_container(name, None::<WaitContainerOptions<String>>);
                match stream.next().await {
                    Some(Ok(r)) => Ok(Some(r.status_code)),
                    // bollard turns a non-zero exit into this error; it is an answer, not a failure.
                    Some(Err(bollard::errors::Error::DockerContainerWaitError {
                        code, ..
                    })) => Ok(Some(code)),
                    Some(Err(e)) => Err(e),
                    None => Ok(None),
                }
            })
            .await
            .map_err(self.api_error("wait container", name))?;
        code.ok_or_else(|| DockerError::ContainerNotFound { name: name.into() })
    }

    /// The last `tail` lines the container printed, stdout and stderr together.
    pub async fn container_logs(&self, name: &str, tail: usize) -> Result<String, DockerError> {
        let options = LogsOptions::<String> {
            stdout: true,
            stderr: true,
            tail: tail.to_string(),
            ..Default::default()
        };
        let chunks: Vec<LogOutput> = self
            .retrying("container logs", name, || {
                self.inner.logs(name, Some(options.clone())).try_collect()
            })
            .await
            .map_err(self.api_error("container logs", name))?;
        let mut out = String::new();
        for c in chunks {
            out.push_str(&String::from_utf8_lossy(&c.into_bytes()));
        }
        Ok(out)
    }

    /// Removes a container, running or not, with its anonymous volumes; a
    /// missing container is not an error.
    pub async fn remove_container(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        let removed = self
            .retrying("remove container", name, || {
                self.inner.remove_container(name, Some(options))
            })
            .await;
        match removed {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.api_error("remove container", name)(e)),
        }
    }

    /// Names of all containers (running or not) whose name contains `part`.
    pub async fn container_names_containing(&self, part: &str) -> Result<Vec<String>, DockerError> {
        let mut filters = HashMap::new();
        filters.insert("name".to_string(), vec![part.to_string()]);
        let list = self
            .retrying("list containers", part, || {
                self.inner.list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: filters.clone(),
                    ..Default::default()
                }))
            })
            .await
            .map_err(self.api_error("list containers", format!("name {part}")))?;
        Ok(list
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect())
    }

    /// Creates, starts and waits for a one-shot container; returns its exit
    /// code and last `tail` lines of output. The container is left in place
    /// (to be committed or inspected): the caller removes it.
    pub async fn run_to_completion(
        &self,
        spec: &ContainerSpec,
        tail: usize,
    ) -> Result<RunOutcome, DockerError> {
        self.create_container(spec).await?;
        self.start_container(&spec.name).await?;
        let exit_code = self.wait_container(&spec.name).await?;
        let output_tail = self.container_logs(&spec.name, tail).await?;
        debug!(name = %spec.name, exit_code, "one-shot container ended");
        Ok(RunOutcome {
            exit_code,
            output_tail,
        })
    }
}
