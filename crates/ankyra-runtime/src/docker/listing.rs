//! Finding a cloud's containers by label, with their state and health; and
//! stopping and signalling them.

use std::collections::HashMap;

use bollard::container::{KillContainerOptions, ListContainersOptions, StopContainerOptions};

use super::{is_not_found, Docker, DockerError};

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Its ID.
    pub id: String,
    /// Its name, without the leading slash.
    pub name: String,
    /// The image reference it was created from.
    pub image: String,
    /// The image ID it runs.
    pub image_id: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// `running`, `exited`, `created`, `restarting`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `none` (no health check).
    pub health: String,
    /// Its IPv4 address on each network.
    pub addresses: HashMap<String, String>,
    /// Unix time it was created.
    pub created: i64,
}

impl ContainerInfo {
    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

fn health_of(status: &str) -> &'static str {
    if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("health: starting") {
        "starting"
    } else {
        "none"
    }
}

impl Docker {
    /// Every container (running or not) carrying all of `labels` (`key=value`).
    pub async fn containers_with_labels(
        &self,
        labels: &[String],
    ) -> Result<Vec<ContainerInfo>, DockerError> {
        let filters: HashMap<String, Vec<String>> =
            HashMap::from([("label".to_string(), labels.to_vec())]);
        let target = labels.join(",");
        let list = self
            .retrying("list containers", &target, || {
                self.inner.list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: filters.clone(),
                    ..Default::default()
                }))
            })
            .await
            .map_err(self.api_error("list containers", labels.join(",")))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let status = c.status.unwrap_or_default();
                ContainerInfo {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    labels: c.labels.unwrap_or_default(),
                    state: c.state.unwrap_or_default(),
                    health: health_of(&status).to_string(),
                    addresses: c
                        .network_settings
                        .and_then(|n| n.networks)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|(net, e)| {
                            e.ip_address.filter(|ip| !ip.is_empty()).map(|ip| (net, ip))
                        })
                        .collect(),
                    created: c.created.unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Stops a container (SIGTERM, then SIGKILL after `timeout` seconds); a missing or stopped one is fine.
    pub async fn stop_container(&self, name: &str, timeout: i64) -> Result<(), DockerError> {
        match self
            .retrying("stop container", name, || {
                self.inner
                    .stop_container(name, Some(StopContainerOptions { t: timeout }))
            })
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.api_error("stop container", name)(e)),
        }
    }

    /// Sends a signal to a container's main process (e.g. `SIGUSR2` to reload HAProxy).
    pub async fn signal_container(&self, name: &str, signal: &str) -> Result<(), DockerError> {
        self.inner
            .kill_container(name, Some(KillContainerOptions { signal }))
            .await
            .map_err(self.api_error("signal container", name))
    }
}

impl Docker {
    /// A container's state (`running`, `exited`, ...), or `missing`.
    pub async fn container_state(&self, name: &str) -> Result<String, DockerError> {
        match self
            .retrying("inspect container", name, || {
                self.inner
                    .inspect_container(name, None::<bollard::container::InspectContainerOptions>)
            })
            .await
        {
            Ok(c) => Ok(c
                .state
                .and_then(|s| s.status)
                .map(|s| s.to_string())
                .unwrap_or_default()),
            Err(e) if is_not_found(&e) => Ok("missing".into()),
            Err(e) => Err(self.api_error("inspect container", name)(e)),
        }
    }
}
