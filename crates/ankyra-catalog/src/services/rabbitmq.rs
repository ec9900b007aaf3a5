//! RabbitMQ: nova's message queue (Debian's 3.10).

use ankyra_model::Version;

use crate::types::{ComponentDef, ComponentKind, ImageRecipe, ImageSource, Port, Service, VersionRules};

/// The RabbitMQ service.
pub struct RabbitMq;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "rabbitmq",
    service: "rabbitmq",
    kind: ComponentKind::Infra,
    ports: &[Port { name: "amqp", port: 5672 }],
    after: &[],
    default_replicas: 1,
}];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["3.10"])],
};

impl Service for RabbitMq {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        ImageRecipe {
            service: "rabbitmq",
            version: version.to_string(),
            repository: "ankyra/rabbitmq".into(),
            tag: version.to_string(),
            source: ImageSource::Debian {
                packages: vec!["rabbitmq-server"],
            },
            healthcheck: vec!["CMD".into(), "rabbitmq-diagnostics".into(), "-q".into(), "ping".into()],
        }
    }
}
