//! MariaDB: the database of every OpenStack service (Debian's 10.11).

use ankyra_model::Version;

use crate::types::{ComponentDef, ComponentKind, ImageRecipe, ImageSource, Port, Service, VersionRules};

/// The MariaDB service.
pub struct MariaDb;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "mariadb",
    service: "mariadb",
    kind: ComponentKind::Infra,
    ports: &[Port { name: "mysql", port: 3306 }],
    after: &[],
    default_replicas: 1,
}];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["10.11"])],
};

impl Service for MariaDb {
    fn name(&self) -> &'static str {
        "mariadb"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        ImageRecipe {
            service: "mariadb",
            version: version.to_string(),
            repository: "ankyra/mariadb".into(),
            tag: version.to_string(),
            source: ImageSource::Debian {
                packages: vec!["mariadb-server", "mariadb-client"],
            },
            healthcheck: vec![
                "CMD".into(),
                "mariadb-admin".into(),
                "--socket=/run/mysqld/mysqld.sock".into(),
                "ping".into(),
            ],
        }
    }
}
