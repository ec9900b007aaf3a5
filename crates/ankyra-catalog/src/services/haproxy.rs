//! HAProxy: the load balancer in front of every API (Debian's 2.6). Ankyra
//! changes backends through its runtime API, so it must start before the APIs.

use ankyra_model::Version;

use crate::types::{ComponentDef, ComponentKind, ImageRecipe, ImageSource, Port, Service, VersionRules};

/// The HAProxy service.
pub struct HaProxy;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "haproxy",
    service: "haproxy",
    kind: ComponentKind::LoadBalancer,
    ports: &[Port { name: "stats", port: 1984 }],
    after: &[],
    default_replicas: 1,
}];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["2.6"])],
};

impl Service for HaProxy {
    fn name(&self) -> &'static str {
        "haproxy"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        ImageRecipe {
            service: "haproxy",
            version: version.to_string(),
            repository: "ankyra/haproxy".into(),
            tag: version.to_string(),
            source: ImageSource::Debian {
                packages: vec!["haproxy"],
            },
            healthcheck: crate::types::http_healthcheck(1984, "/"),
        }
    }
}
