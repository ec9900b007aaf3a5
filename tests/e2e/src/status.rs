//! `ankyra status CLOUD -o json`, parsed, and the checks the tests make on it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;

/// Every component `ankyra init` puts in a record (release 2026.2; nova-libvirt
/// where libvirt works, as on these machines).
pub const ALL_COMPONENTS: &[&str] = &[
    "mariadb",
    "memcached",
    "rabbitmq",
    "haproxy",
    "keystone",
    "glance",
    "placement",
    "neutron-server",
    "nova-libvirt",
    "nova-conductor",
    "nova-scheduler",
    "nova-api",
    "nova-compute",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub cloud: String,
    pub revision: u64,
    pub clouds_yaml: Option<String>,
    pub openrc: Option<String>,
    #[serde(default)]
    pub components: Vec<ComponentStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ComponentStatus {
    pub name: String,
    pub desired_version: String,
    #[serde(default)]
    pub running_version: Option<String>,
    #[serde(default)]
    pub instances: u32,
    #[serde(default)]
    pub healthy: u32,
    pub health: String,
    #[serde(default)]
    pub containers: Vec<ContainerStatus>,
    /// Parked old instances during a bake window.
    #[serde(default)]
    pub bake: Option<serde_json::Value>,
    /// `27.1.0 → 29.1.0` while an upgrade is not finalized.
    #[serde(default)]
    pub not_finalized: Option<String>,
    /// The guests libvirt runs (nova-libvirt and nova-compute of a libvirt cloud).
    #[serde(default)]
    pub guests: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContainerStatus {
    pub name: String,
    pub id: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub health: Option<String>,
}

impl Status {
    pub fn parse(json: &str) -> Result<Status> {
        serde_json::from_str(json).with_context(|| {
            format!("`ankyra status -o json` printed something that is not a status:\n{json}")
        })
    }

    pub fn component(&self, name: &str) -> Option<&ComponentStatus> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Everything that keeps this status from "every expected component healthy, running
    /// the desired version, every container running", one human-readable line each.
    pub fn problems(&self, expected: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        for name in expected {
            if self.component(name).is_none() {
                problems.push(format!("{name}: expected in status, not listed"));
            }
        }
        for c in &self.components {
            let name = &c.name;
            if c.health != "healthy" {
                problems.push(format!(
                    "{name}: expected health `healthy`, found `{}`",
                    c.health
                ));
            }
            match &c.running_version {
                Some(v) if *v == c.desired_version => {}
                other => problems.push(format!(
                    "{name}: expected running version {}, found {}",
                    c.desired_version,
                    other.as_deref().unwrap_or("none")
                )),
            }
            if c.instances == 0 || c.healthy != c.instances {
                problems.push(format!(
                    "{name}: expected every instance healthy, found {}/{} healthy",
                    c.healthy, c.instances
                ));
            }
            if c.containers.len() != c.instances as usize {
                problems.push(format!(
                    "{name}: expected {} containers, found {}",
                    c.instances,
                    c.containers.len()
                ));
            }
            for k in &c.containers {
                if k.state != "running" {
                    problems.push(format!(
                        "{name}: expected container {} running, found `{}`",
                        k.name, k.state
                    ));
                }
            }
        }
        problems
    }

    /// Container name → container ID, for every container of every component.
    pub fn container_ids(&self) -> BTreeMap<String, String> {
        self.components
            .iter()
            .flat_map(|c| c.containers.iter())
            .map(|k| (k.name.clone(), k.id.clone()))
            .collect()
    }

    /// A compact table for logs: `name desired running healthy/instances health`.
    pub fn summary(&self) -> String {
        let mut out = format!("cloud {} revision {}\n", self.cloud, self.revision);
        for c in &self.components {
            out.push_str(&format!(
                "  {:<16} {:<8} {:<8} {}/{} {}\n",
                c.name,
                c.desired_version,
                c.running_version.as_deref().unwrap_or("-"),
                c.healthy,
                c.instances,
                c.health
            ));
        }
        out
    }
}

/// What changed between two `container_ids()` maps, one line per difference.
pub fn id_changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut changes = Vec::new();
    for (name, id) in before {
        match after.get(name) {
            None => changes.push(format!("{name}: was {id}, now gone")),
            Some(new) if new != id => changes.push(format!("{name}: was {id}, now {new}")),
            Some(_) => {}
        }
    }
    for (name, id) in after {
        if !before.contains_key(name) {
            changes.push(format!("{name}: new container {id}"));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: &str = r#"{
      "cloud": "e2e-1", "revision": 1,
      "clouds_yaml": "/tmp/x/clouds.yaml", "openrc": "/tmp/x/openrc",
      "components": [
        {"name": "keystone", "desired_version": "30.0.0", "running_version": "30.0.0",
         "instances": 1, "healthy": 1, "health": "healthy",
         "containers": [{"name": "e2e-1-keystone-1", "id": "abc", "image": "ankyra/keystone:30.0.0",
                         "state": "running", "health": "healthy"}]},
        {"name": "mariadb", "desired_version": "10.11", "running_version": "10.11",
         "instances": 1, "healthy": 1, "health": "healthy",
         "containers": [{"name": "e2e-1-mariadb-1", "id": "def", "image": "ankyra/mariadb:10.11",
                         "state": "running", "health": "healthy", "extra": true}]}
      ],
      "unknown_field": 3
    }"#;

    #[test]
    fn parses_a_healthy_status() -> Result<()> {
        let s = Status::parse(HEALTHY)?;
        assert_eq!(s.cloud, "e2e-1");
        assert_eq!(s.revision, 1);
        assert_eq!(s.clouds_yaml.as_deref(), Some("/tmp/x/clouds.yaml"));
        assert!(
            s.problems(&["keystone", "mariadb"]).is_empty(),
            "{:?}",
            s.problems(&["keystone"])
        );
        let ids = s.container_ids();
        assert_eq!(ids.get("e2e-1-keystone-1").map(String::as_str), Some("abc"));
        assert!(s.summary().contains("keystone"));
        Ok(())
    }

    #[test]
    fn reports_every_problem() -> Result<()> {
        let json = r#"{"cloud": "c", "revision": 2, "clouds_yaml": null, "openrc": null,
          "components": [
            {"name": "keystone", "desired_version": "30.0.0", "running_version": "29.1.0",
             "instances": 2, "healthy": 1, "health": "degraded",
             "containers": [{"name": "c-keystone-1", "id": "a", "image": "i", "state": "exited", "health": null}]},
            {"name": "glance", "desired_version": "33.0.0", "running_version": null,
             "instances": 0, "healthy": 0, "health": "missing", "containers": []}
          ]}"#;
        let s = Status::parse(json)?;
        let p = s.problems(&["keystone", "glance", "nova-api"]);
        let all = p.join("\n");
        for want in [
            "nova-api: expected in status, not listed",
            "keystone: expected health `healthy`, found `degraded`",
            "keystone: expected running version 30.0.0, found 29.1.0",
            "keystone: expected every instance healthy, found 1/2 healthy",
            "keystone: expected 2 containers, found 1",
            "keystone: expected container c-keystone-1 running, found `exited`",
            "glance: expected running version 33.0.0, found none",
            "glance: expected health `healthy`, found `missing`",
        ] {
            assert!(all.contains(want), "expected problem `{want}` in:\n{all}");
        }
        Ok(())
    }

    #[test]
    fn rejects_garbage_with_the_text() {
        let err = Status::parse("not json")
            .map(|_| ())
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("not json")));
    }

    #[test]
    fn id_changes_lists_replaced_gone_and_new() {
        let before: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("c", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let after: BTreeMap<String, String> = [("a", "1"), ("b", "9"), ("d", "4")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let changes = id_changes(&before, &after);
        assert_eq!(
            changes,
            vec![
                "b: was 2, now 9",
                "c: was 3, now gone",
                "d: new container 4"
            ]
        );
        assert!(id_changes(&before, &before).is_empty());
    }
}
