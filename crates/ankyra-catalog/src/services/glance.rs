//! Glance, the image service (file store on a volume).

use ankyra_model::Version;

use crate::types::{pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The Glance service.
pub struct Glance;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "glance",
    service: "glance",
    kind: ComponentKind::Api,
    ports: &[Port { name: "public", port: 9292 }],
    after: &["keystone"],
    default_replicas: 1,
}];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["30.0.0", "30.1.0", "30.2.0"]),
        ("2025.2", &["31.0.0", "31.1.0"]),
        ("2026.1", &["32.0.0"]),
        ("2026.2", &["33.0.0"]),
    ],
};

impl Service for Glance {
    fn name(&self) -> &'static str {
        "glance"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image("glance", "glance", version, release, (9292, "/"), vec!["qemu-utils"])
    }
}
