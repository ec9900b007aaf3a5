//! Keystone, the identity service. Every other API authenticates through it,
//! so it is upgraded first after the infrastructure.

use ankyra_model::Version;

use crate::types::{pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The Keystone service.
pub struct Keystone;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "keystone",
    service: "keystone",
    kind: ComponentKind::Api,
    ports: &[Port { name: "public", port: 5000 }],
    after: &["mariadb", "memcached", "haproxy"],
    default_replicas: 1,
}];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["27.0.0", "27.0.1", "27.0.2", "27.1.0"]),
        ("2025.2", &["28.0.0", "28.0.1", "28.0.2", "28.1.0"]),
        ("2026.1", &["29.0.0", "29.0.1", "29.0.2", "29.1.0"]),
        ("2026.2", &["30.0.0"]),
    ],
};

impl Service for Keystone {
    fn name(&self) -> &'static str {
        "keystone"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image("keystone", "keystone", version, release, (5000, "/v3"), vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_their_series() {
        let v: Version = "27.1.0".parse().expect("valid");
        assert_eq!(Keystone.release_of(&v), Some("2025.1"));
        assert_eq!(Keystone.default_version("2026.1").map(|v| v.to_string()), Some("29.1.0".into()));
    }
}
