//! Placement: the inventory of resource providers nova schedules onto.

use ankyra_model::Version;

use crate::types::{pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The Placement service.
pub struct Placement;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "placement",
    service: "placement",
    kind: ComponentKind::Api,
    ports: &[Port { name: "public", port: 8778 }],
    after: &["keystone"],
    default_replicas: 1,
}];

/// Versions on PyPI (package `openstack-placement`) per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["13.0.0", "13.0.1"]),
        ("2025.2", &["14.0.0"]),
        ("2026.1", &["15.0.0"]),
        ("2026.2", &["16.0.0"]),
    ],
};

impl Service for Placement {
    fn name(&self) -> &'static str {
        "placement"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image("placement", "openstack-placement", version, release, (8778, "/"), vec![])
    }
}
