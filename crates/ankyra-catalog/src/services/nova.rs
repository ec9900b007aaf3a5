//! Nova, the compute service: four components from one image. Upstream's
//! upgrade order is conductor, scheduler, api, compute; `after` encodes it.

use ankyra_model::Version;

use crate::types::{pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The Nova service.
pub struct Nova;

static COMPONENTS: &[ComponentDef] = &[
    ComponentDef {
        name: "nova-conductor",
        service: "nova",
        kind: ComponentKind::Worker,
        ports: &[],
        after: &["mariadb", "rabbitmq", "keystone", "placement"],
        default_replicas: 1,
    },
    ComponentDef {
        name: "nova-scheduler",
        service: "nova",
        kind: ComponentKind::Worker,
        ports: &[],
        after: &["nova-conductor"],
        default_replicas: 1,
    },
    ComponentDef {
        name: "nova-api",
        service: "nova",
        kind: ComponentKind::Api,
        ports: &[Port { name: "public", port: 8774 }],
        after: &["nova-scheduler", "neutron-server", "glance"],
        default_replicas: 1,
    },
    ComponentDef {
        name: "nova-compute",
        service: "nova",
        kind: ComponentKind::Worker,
        ports: &[],
        after: &["nova-api"],
        default_replicas: 1,
    },
];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["31.0.0", "31.0.1", "31.1.0", "31.2.0", "31.3.0", "31.3.1"]),
        ("2025.2", &["32.0.0", "32.1.0", "32.2.0", "32.2.1"]),
        ("2026.1", &["33.0.0", "33.0.1", "33.0.2"]),
        ("2026.2", &["34.0.0"]),
    ],
};

impl Service for Nova {
    fn name(&self) -> &'static str {
        "nova"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image("nova", "nova", version, release, (8774, "/"), vec![])
    }
}
