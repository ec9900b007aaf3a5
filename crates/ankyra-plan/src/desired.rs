//! Desired state: the concrete components a revision asks for.

use ankyra_catalog::{ComponentKind, ResolvedRecord};
use ankyra_model::{ConfigOverrides, Version};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One component as a revision wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredComponent {
    /// `keystone`, `nova-api`, ...
    pub name: String,
    /// Its service.
    pub service: String,
    /// How it is replaced.
    pub kind: ComponentKind,
    /// Position in the catalog's dependency order (lower goes first).
    pub rank: usize,
    /// Version to run.
    pub version: Version,
    /// Image reference to run.
    pub image: String,
    /// Instances.
    pub replicas: u32,
    /// Hosts the instances run on.
    pub hosts: Vec<String>,
    /// Hash of the component's configuration.
    pub config_hash: String,
    /// Config file names the record overrides (for reasons).
    pub config_files: Vec<String>,
}

/// A whole cloud as a revision wants it, components in dependency order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    /// The cloud.
    pub cloud: String,
    /// The components, in dependency order.
    pub components: Vec<DesiredComponent>,
}

/// The hash of a component's config overrides (sorted, canonical).
pub fn config_hash(config: &ConfigOverrides) -> String {
    let json = serde_json::to_string(config).unwrap_or_default();
    hex::encode(&Sha256::digest(json.as_bytes())[..12])
}

impl Desired {
    /// Desired state from a catalog-checked record.
    pub fn from_resolved(r: &ResolvedRecord, rank: impl Fn(&str) -> usize) -> Desired {
        Desired {
            cloud: r.cloud.clone(),
            components: r
                .components
                .iter()
                .map(|c| DesiredComponent {
                    name: c.name.clone(),
                    service: c.service.clone(),
                    kind: c.kind,
                    rank: rank(&c.name),
                    version: c.version.clone(),
                    image: c.image.clone(),
                    replicas: c.replicas,
                    hosts: c.hosts.clone(),
                    config_hash: config_hash(&c.config),
                    config_files: c.config.keys().cloned().collect(),
                })
                .collect(),
        }
    }

    /// A component by name.
    pub fn component(&self, name: &str) -> Option<&DesiredComponent> {
        self.components.iter().find(|c| c.name == name)
    }
}
