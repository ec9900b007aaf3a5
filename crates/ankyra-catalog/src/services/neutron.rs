//! Neutron: only its API (ML2, no agents). Nova cannot show or delete a
//! server without a `network` endpoint, even with no networking.

use ankyra_model::Version;

use crate::types::{pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The Neutron service.
pub struct Neutron;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "neutron-server",
    service: "neutron",
    kind: ComponentKind::Api,
    ports: &[Port { name: "public", port: 9696 }],
    after: &["keystone"],
    default_replicas: 1,
}];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["26.0.0", "26.0.1", "26.0.2", "26.0.3", "26.0.4", "26.0.5", "26.0.6"]),
        ("2025.2", &["27.0.0", "27.0.1", "27.0.2", "27.0.3", "27.0.4"]),
        ("2026.1", &["28.0.0", "28.0.1", "28.0.2"]),
        ("2026.2", &["29.0.0"]),
    ],
};

impl Service for Neutron {
    fn name(&self) -> &'static str {
        "neutron"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image("neutron", "neutron", version, release, (9696, "/"), vec![])
    }
}
