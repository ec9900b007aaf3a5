//! `ankyra status`: each component's desired and running version, instances, health.

use std::collections::{BTreeMap, BTreeSet};

use ankyra_catalog::services::libvirt;
use ankyra_catalog::ResolvedRecord;
use ankyra_runtime::ContainerInfo;
use serde::Serialize;

use ankyra_store::Store;

use crate::engine::{now_unix, Engine};
use crate::naming::LABEL_VERSION;
use crate::{observe, EngineError};

/// One container of a component.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerStatus {
    /// Its name.
    pub name: String,
    /// Its ID.
    pub id: String,
    /// The image it runs.
    pub image: String,
    /// The version it runs.
    pub version: String,
    /// `running`, `exited`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, `none`.
    pub health: String,
}

/// One component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    /// The component.
    pub name: String,
    /// The version the revision asks for (None: not in the record).
    pub desired_version: Option<String>,
    /// The version its running instances run (None: none runs; `mixed` during a change).
    pub running_version: Option<String>,
    /// Instances the revision asks for.
    pub desired_instances: u32,
    /// Running instances.
    pub instances: u32,
    /// Running instances whose health check passes.
    pub healthy: u32,
    /// `healthy`, `starting` (the rest are running and not checked by Docker yet:
    /// its first health check comes 10 s after a start), `degraded` (fewer
    /// healthy than asked) or `missing` (none runs).
    pub health: String,
    /// Its containers (parked ones included).
    pub containers: Vec<ContainerStatus>,
    /// Old instances kept running out of rotation for an instant rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bake: Option<BakeStatus>,
    /// A schema upgrade not finalized yet (`27.1.0 → 29.1.0`): `ankyra finalize` contracts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_finalized: Option<String>,
    /// Guests running on this compute, as libvirt lists them (nova-libvirt
    /// and nova-compute of a libvirt cloud): what a change of either touches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guests: Option<Vec<String>>,
}

/// The parked instances of one component during its bake window.
#[derive(Debug, Clone, Serialize)]
pub struct BakeStatus {
    /// The version they run.
    pub version: String,
    /// Their containers.
    pub containers: Vec<String>,
    /// When the window ends (seconds since the Unix epoch).
    pub until_unix: i64,
    /// Seconds left.
    pub seconds_left: i64,
    /// Memory they hold, in bytes.
    pub memory_bytes: u64,
}

/// A whole cloud.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The cloud.
    pub cloud: String,
    /// The revision shown as desired.
    pub revision: u64,
    /// The admin's clouds.yaml.
    pub clouds_yaml: Option<String>,
    /// The admin's openrc.
    pub openrc: Option<String>,
    /// Components, in dependency order.
    pub components: Vec<ComponentStatus>,
}

/// Builds the report from the desired record and the cloud's containers.
pub fn report(
    resolved: &ResolvedRecord,
    running: &BTreeMap<String, Vec<ContainerInfo>>,
    parked: &std::collections::BTreeSet<String>,
) -> Vec<ComponentStatus> {
    let mut names: Vec<String> = resolved.components.iter().map(|c| c.name.clone()).collect();
    names.extend(
        running
            .keys()
            .filter(|k| !names.contains(k))
            .cloned()
            .collect::<Vec<_>>(),
    );
    names
        .into_iter()
        .map(|name| {
            let want = resolved.components.iter().find(|c| c.name == name);
            let list = running.get(&name).cloned().unwrap_or_default();
            // Parked instances run but serve nothing: they are shown apart.
            let live: Vec<&ContainerInfo> = list
                .iter()
                .filter(|c| c.is_running() && !parked.contains(&c.name))
                .collect();
            let healthy = live
                .iter()
                .filter(|c| c.health == "healthy" || c.health == "none")
                .count() as u32;
            let versions: Vec<&str> = live
                .iter()
                .filter_map(|c| c.labels.get(LABEL_VERSION).map(String::as_str))
                .collect();
            let running_version = match versions.first() {
                Some(v) if versions.iter().all(|x| x == v) => Some(v.to_string()),
                Some(_) => Some("mixed".to_string()),
                None => None,
            };
            let starting = live.iter().filter(|c| c.health == "starting").count() as u32;
            let desired_instances = want.map(|w| w.replicas).unwrap_or(0);
            let health = if live.is_empty() && desired_instances > 0 {
                "missing"
            } else if want.is_none() || healthy + starting < desired_instances {
                "degraded"
            } else if healthy < desired_instances {
                "starting"
            } else {
                "healthy"
            };
            ComponentStatus {
                desired_version: want.map(|w| w.version.to_string()),
                running_version,
                desired_instances,
                instances: live.len() as u32,
                healthy,
                health: health.to_string(),
                containers: list
                    .iter()
                    .map(|c| ContainerStatus {
                        name: c.name.clone(),
                        id: c.id.clone(),
                        image: c.image.clone(),
                        version: c.labels.get(LABEL_VERSION).cloned().unwrap_or_default(),
                        state: c.state.clone(),
                        health: c.health.clone(),
                    })
                    .collect(),
                bake: None,
                not_finalized: None,
                guests: None,
                name,
            }
        })
        .collect()
}

impl Engine {
    /// The UUIDs of the guests the cloud's libvirt runs (None: no libvirt
    /// runs, or it did not answer).
    pub(crate) async fn guests(
        &self,
        running: &BTreeMap<String, Vec<ContainerInfo>>,
    ) -> Option<Vec<String>> {
        let c = running
            .get(libvirt::COMPONENT)?
            .iter()
            .find(|c| c.is_running())?;
        match self
            .docker
            .exec(&c.name, &libvirt::list_guests_command())
            .await
        {
            Ok((0, out)) => Some(libvirt::parse_guests(&out)),
            Ok((code, out)) => {
                tracing::debug!(code, output = %out, "virsh list failed");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "virsh list failed");
                None
            }
        }
    }

    /// Notes in the plan how many guests run, when one of its steps touches
    /// them: asking libvirt is an exec, and `serve` plans every few seconds.
    pub(crate) async fn count_guests(
        &self,
        plan: &mut ankyra_plan::Plan,
        running: &BTreeMap<String, Vec<ContainerInfo>>,
    ) {
        if plan.steps.iter().any(|s| s.guests.is_some()) {
            plan.running_guests = self.guests(running).await.map(|g| g.len() as u32);
        }
    }

    /// Each component's desired and running version, instances and health.
    pub async fn status(
        &self,
        store: &dyn Store,
        r: &ResolvedRecord,
        revision: u64,
    ) -> Result<StatusReport, EngineError> {
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let standby = store.standbys(&r.cloud)?;
        let migrations = store.migrations(&r.cloud)?;
        let parked: BTreeSet<String> = standby
            .iter()
            .flat_map(|s| s.containers.iter().cloned())
            .collect();
        let dir = self.cloud_dir(&r.cloud);
        let exists = |n: &str| {
            dir.join(n)
                .exists()
                .then(|| dir.join(n).display().to_string())
        };
        let mut components = report(r, &running, &parked);
        let guests = self.guests(&running).await;
        let now = now_unix();
        for c in &mut components {
            if let Some(sb) = standby.iter().find(|s| s.component == c.name) {
                let mut memory = 0;
                for name in &sb.containers {
                    memory += self
                        .docker
                        .memory_usage(name)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                }
                c.bake = Some(crate::status::BakeStatus {
                    version: sb.version.clone(),
                    containers: sb.containers.clone(),
                    until_unix: sb.until_unix,
                    seconds_left: sb.until_unix - now,
                    memory_bytes: memory,
                });
            }
            if c.name == libvirt::COMPONENT || (c.name == "nova-compute" && guests.is_some()) {
                c.guests = guests.clone();
            }
            // Newest first: the latest unfinalized schema upgrade of the component.
            c.not_finalized = migrations
                .iter()
                .find(|m| m.component == c.name && m.finalized_at.is_none())
                .map(|m| format!("{} → {}", m.from_version, m.to_version));
        }
        Ok(StatusReport {
            cloud: r.cloud.clone(),
            revision,
            clouds_yaml: exists("clouds.yaml"),
            openrc: exists("openrc"),
            components,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    fn keystone(replicas: u32) -> ResolvedRecord {
        let text = format!(
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: st\nspec:\n  release: \"2025.1\"\n  \
             components:\n    keystone:\n      version: 27.1.0\n      replicas: {replicas}\n"
        );
        let record = ankyra_model::parse_record("st.yaml", text.as_bytes()).expect("a record");
        ankyra_catalog::resolve(&record).expect("resolves")
    }

    fn instance(n: u32, state: &str, health: &str) -> ContainerInfo {
        ContainerInfo {
            id: format!("id{n}"),
            name: format!("st-keystone-{n}"),
            image: "ankyra/keystone:27.1.0".into(),
            image_id: String::new(),
            labels: HashMap::from([(LABEL_VERSION.to_string(), "27.1.0".to_string())]),
            state: state.into(),
            health: health.into(),
            addresses: HashMap::new(),
            created: 0,
        }
    }

    fn health_of(replicas: u32, instances: &[(&str, &str)]) -> (String, u32) {
        let list = instances
            .iter()
            .enumerate()
            .map(|(i, (state, health))| instance(i as u32 + 1, state, health))
            .collect();
        let running = BTreeMap::from([("keystone".to_string(), list)]);
        let report = report(&keystone(replicas), &running, &BTreeSet::new());
        let k = report
            .iter()
            .find(|c| c.name == "keystone")
            .expect("keystone is reported");
        (k.health.clone(), k.healthy)
    }

    #[test]
    fn instances_docker_has_not_checked_yet_are_starting_not_degraded() {
        let h = |list: &[(&str, &str)]| health_of(2, list).0;
        assert_eq!(
            h(&[("running", "healthy"), ("running", "healthy")]),
            "healthy"
        );
        assert_eq!(
            h(&[("running", "healthy"), ("running", "starting")]),
            "starting"
        );
        assert_eq!(
            h(&[("running", "starting"), ("running", "starting")]),
            "starting"
        );
        assert_eq!(
            h(&[("running", "healthy"), ("running", "unhealthy")]),
            "degraded"
        );
        assert_eq!(h(&[("running", "healthy"), ("exited", "none")]), "degraded");
        assert_eq!(h(&[("running", "healthy")]), "degraded");
        assert_eq!(h(&[]), "missing");
        assert_eq!(
            health_of(2, &[("running", "starting"), ("running", "healthy")]).1,
            1
        );
    }
}
