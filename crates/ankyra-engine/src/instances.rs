//! Starting, gating, stopping instances and running bootstrap jobs of one
//! component. Shared, read-only context; safe to run for several components
//! at once.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use ankyra_catalog::{Job, ProcessSpec, ResolvedComponent};
use ankyra_runtime::{
    ContainerInfo, ContainerSpec, Docker, HostSettings, NetworkAttachment, VolumeMount,
};

use crate::context::Network;
use crate::naming::{
    self, LABEL_CLOUD, LABEL_COMPONENT, LABEL_CONFIG, LABEL_IMAGE, LABEL_INSTANCE, LABEL_REVISION,
    LABEL_VERSION,
};
use crate::report::{Event, Reporter};
use crate::{files, probe, EngineError};

/// The runtime's form of what of the host a process needs.
fn host_settings(h: &ankyra_catalog::HostAccess) -> HostSettings {
    HostSettings {
        pid: h.pid,
        network: h.network,
        cgroupns: h.cgroupns,
        cap_add: h.cap_add.clone(),
        cap_drop: h.cap_drop.clone(),
        security_opt: h.security_opt.clone(),
        device_cgroup_rules: h.device_cgroup_rules.clone(),
        paths: h.paths.clone(),
        tmpfs: h.tmpfs.clone(),
    }
}

/// How long an instance may take to pass its readiness gate.
pub const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Everything needed to run one component of one cloud.
pub struct Component<'a> {
    pub docker: &'a Docker,
    pub reporter: &'a dyn Reporter,
    pub cloud: &'a str,
    pub revision: u64,
    pub network: &'a Network,
    pub files_dir: PathBuf,
    /// How config files reach its containers.
    pub delivery: files::Delivery,
    pub spec: &'a ResolvedComponent,
    pub process: &'a ProcessSpec,
    pub config_hash: &'a str,
    /// Images of every component, for jobs that run another component's image.
    pub images: &'a BTreeMap<String, String>,
}

impl Component<'_> {
    pub(crate) fn say(&self, message: impl Into<String>) {
        self.reporter.event(Event::Progress {
            component: self.spec.name.clone(),
            message: message.into(),
        });
    }

    fn volumes(&self) -> Vec<VolumeMount> {
        self.process
            .volumes
            .iter()
            .map(|v| VolumeMount {
                volume: naming::volume(self.cloud, &v.volume),
                target: v.target.clone(),
            })
            .collect()
    }

    /// Creates the component's named volumes (idempotent).
    pub async fn ensure_volumes(&self) -> Result<(), EngineError> {
        for v in &self.process.volumes {
            let mut labels = naming::cloud_labels(self.cloud);
            labels.insert(LABEL_COMPONENT.into(), self.spec.name.clone());
            self.docker
                .ensure_volume(&naming::volume(self.cloud, &v.volume), labels)
                .await?;
        }
        Ok(())
    }

    fn labels(&self, n: u32) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_CLOUD.to_string(), self.cloud.to_string()),
            (LABEL_COMPONENT.to_string(), self.spec.name.clone()),
            (LABEL_VERSION.to_string(), self.spec.version.to_string()),
            (LABEL_IMAGE.to_string(), self.spec.image.clone()),
            (LABEL_REVISION.to_string(), self.revision.to_string()),
            (LABEL_CONFIG.to_string(), self.config_hash.to_string()),
            (LABEL_INSTANCE.to_string(), n.to_string()),
        ])
    }

    /// Starts instance number `n` and waits until it passes its readiness gate.
    pub async fn start_instance(
        &self,
        n: u32,
        fixed_ip: Option<&str>,
    ) -> Result<ContainerInfo, EngineError> {
        self.start_in_slot(n, fixed_ip, None).await
    }

    /// The host name of the instance in `slot`, when the catalog fixes one.
    pub fn slot_host(&self, slot: u32) -> Option<String> {
        let cx = ankyra_catalog::CloudContext {
            cloud: self.cloud.to_string(),
            ..Default::default()
        };
        ankyra_catalog::Catalog::get()
            .component(&self.spec.name)
            .ok()
            .and_then(|(_, svc)| svc.instance_host(&self.spec.name, &cx, slot))
    }

    /// Starts instance number `n` in `slot` (its host name, when the catalog
    /// fixes one per slot) and waits until it passes its readiness gate.
    pub async fn start_in_slot(
        &self,
        n: u32,
        fixed_ip: Option<&str>,
        slot: Option<u32>,
    ) -> Result<ContainerInfo, EngineError> {
        let name = naming::instance(self.cloud, &self.spec.name, n);
        let mut labels = self.labels(n);
        if let Some(slot) = slot {
            labels.insert(naming::LABEL_SLOT.into(), slot.to_string());
        }
        let hostname = slot.and_then(|s| self.slot_host(s));
        // A leftover with this name (a crash between create and record) is replaced.
        self.docker.remove_container(&name).await?;
        let delivered = files::deliver(self.delivery, &self.files_dir, &self.process.files)?;
        let spec = ContainerSpec {
            name: name.clone(),
            image: self.spec.image.clone(),
            cmd: Some(self.process.command.clone()),
            env: self
                .process
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            binds: delivered.binds,
            files: delivered.files,
            labels,
            hostname,
            working_dir: self.process.workdir.clone(),
            // A process on the host's network joins no cloud network.
            network: (!self.process.host.network).then(|| NetworkAttachment {
                network: self.network.name.clone(),
                aliases: vec![self.spec.name.clone()],
                ipv4: fixed_ip.map(str::to_string),
            }),
            host: host_settings(&self.process.host),
            volumes: self.volumes(),
            restart: true,
            stop_timeout: Some(i64::from(self.process.stop_timeout_secs)),
            // Docker's health check is the process's own readiness probe: one
            // image serves several processes (nova), and an API's root may answer 300.
            healthcheck: Some(health_command(&self.process.probe)),
            ..Default::default()
        };
        self.say(format!("starting {name}"));
        self.docker.create_container(&spec).await?;
        self.docker.start_container(&name).await?;
        let info = self.find(&name).await?;
        let address = info
            .addresses
            .get(&self.network.name)
            .cloned()
            .unwrap_or_default();
        self.say(format!("waiting for {name} to be ready"));
        probe::wait_ready(
            self.docker,
            &self.spec.name,
            &name,
            &address,
            &self.process.probe,
            READY_TIMEOUT,
        )
        .await?;
        self.find(&name).await
    }

    async fn find(&self, name: &str) -> Result<ContainerInfo, EngineError> {
        let list = self
            .docker
            .containers_with_labels(&[
                format!("{LABEL_CLOUD}={}", self.cloud),
                format!("{LABEL_COMPONENT}={}", self.spec.name),
            ])
            .await?;
        list.into_iter().find(|c| c.name == name).ok_or_else(|| {
            EngineError::Docker(ankyra_runtime::DockerError::ContainerNotFound {
                name: name.to_string(),
            })
        })
    }

    /// Stops and removes a container.
    pub async fn remove(&self, c: &ContainerInfo) -> Result<(), EngineError> {
        self.say(format!("stopping {}", c.name));
        self.docker
            .stop_container(&c.name, i64::from(self.process.stop_timeout_secs))
            .await?;
        self.docker.remove_container(&c.name).await?;
        Ok(())
    }

    /// Runs bootstrap jobs in order, each in a one-shot container; stops at the first failure.
    pub async fn run_jobs(&self, jobs: &[&Job]) -> Result<(), EngineError> {
        for (i, job) in jobs.iter().enumerate() {
            self.say(format!("job: {}", job.name));
            let own = job.component == self.spec.name;
            let mut delivered = if own {
                files::deliver(self.delivery, &self.files_dir, &self.process.files)?
            } else {
                files::Delivered::default()
            };
            let job_dir = self.files_dir.join(format!("job-{i}"));
            delivered.extend(files::deliver(self.delivery, &job_dir, &job.files)?);
            let image = if own {
                self.spec.image.clone()
            } else {
                self.images.get(&job.component).cloned().unwrap_or_default()
            };
            let name = naming::job(self.cloud, &self.spec.name, i);
            self.docker.remove_container(&name).await?;
            let spec = ContainerSpec {
                name: name.clone(),
                image,
                cmd: Some(job.command.clone()),
                env: if own {
                    self.process
                        .env
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect()
                } else {
                    Vec::new()
                },
                binds: delivered.binds,
                files: delivered.files,
                labels: naming::cloud_labels(self.cloud),
                working_dir: None,
                network: Some(NetworkAttachment {
                    network: self.network.name.clone(),
                    aliases: vec![],
                    ipv4: None,
                }),
                volumes: if own { self.volumes() } else { Vec::new() },
                ..Default::default()
            };
            let outcome = self.docker.run_to_completion(&spec, 40).await;
            let _ = self.docker.remove_container(&name).await;
            let _ = std::fs::remove_dir_all(&job_dir);
            let outcome = outcome?;
            if outcome.exit_code != 0 {
                return Err(EngineError::JobFailed {
                    component: self.spec.name.clone(),
                    job: job.name.clone(),
                    code: outcome.exit_code,
                    output: outcome.output_tail,
                });
            }
        }
        Ok(())
    }
}

/// The readiness probe as a Docker health check command (every image has python3).
fn health_command(probe: &ankyra_catalog::Probe) -> Vec<String> {
    use ankyra_catalog::Probe;
    match probe {
        Probe::Exec { command } => std::iter::once("CMD".to_string())
            .chain(command.iter().cloned())
            .collect(),
        Probe::Http { port, path, expect } => {
            let codes: Vec<String> = expect.iter().map(u16::to_string).collect();
            vec![
                "CMD".into(),
                "python3".into(),
                "-c".into(),
                format!(
                    "import sys, urllib.request, urllib.error\n\
                     try:\n    code = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=5).status\n\
                     except urllib.error.HTTPError as e:\n    code = e.code\n\
                     sys.exit(0 if code in ({},) else 1)",
                    codes.join(", ")
                ),
            ]
        }
        Probe::Tcp { port } => vec![
            "CMD".into(),
            "python3".into(),
            "-c".into(),
            format!("import socket; socket.create_connection(('127.0.0.1', {port}), 3)"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_probes_become_python_health_checks_that_accept_the_expected_codes() {
        let cmd = health_command(&ankyra_catalog::Probe::Http {
            port: 9292,
            path: "/".into(),
            expect: vec![200, 300],
        });
        assert_eq!(cmd[..3], ["CMD", "python3", "-c"]);
        assert!(cmd[3].contains("http://127.0.0.1:9292/"));
        assert!(cmd[3].contains("(200, 300,)"));
    }
}
