//! MariaDB: the database of every OpenStack service (Debian's 10.11).

use ankyra_model::Version;

use crate::deploy::{CloudContext, ConfigFile, Probe, ProcessSpec, SecretSpec, VolumeMount};
use crate::openstack::{root_client_cnf, secret, sql_quote, MARIADB_ROOT, PASSWORD_LEN};
use crate::types::{
    ComponentDef, ComponentKind, ImageRecipe, ImageSource, Port, Service, VersionRules,
};

/// The MariaDB service.
pub struct MariaDb;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "mariadb",
    service: "mariadb",
    kind: ComponentKind::Infra,
    ports: &[Port {
        name: "mysql",
        port: 3306,
    }],
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
    fn secrets(&self) -> &'static [SecretSpec] {
        &[SecretSpec {
            name: MARIADB_ROOT,
            length: PASSWORD_LEN,
        }]
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "mariadb").then(|| process(cx))
    }
}

/// Root's client options inside the mariadb container (for the probe).
const CLIENT_CNF: &str = "/etc/ankyra/mariadb/client.cnf";
/// Run at every start: root's password is always the stored secret.
const INIT_SQL: &str = "/etc/ankyra/mariadb/init.sql";
const DATADIR: &str = "/var/lib/mysql";

fn process(cx: &CloudContext) -> ProcessSpec {
    let pw = sql_quote(&secret(cx, MARIADB_ROOT));
    // One statement per line: --init-file reads line by line.
    let init = format!(
        "ALTER USER 'root'@'localhost' IDENTIFIED BY {pw};\n\
         CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY {pw};\n\
         ALTER USER 'root'@'%' IDENTIFIED BY {pw};\n\
         GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n\
         FLUSH PRIVILEGES;\n"
    );
    let script = format!(
        "set -e; \
         if [ ! -d {DATADIR}/mysql ]; then \
         mariadb-install-db --user=root --datadir={DATADIR} --auth-root-authentication-method=normal --skip-test-db >/dev/null; fi; \
         mkdir -p /run/mysqld; \
         exec mariadbd --no-defaults --user=root --datadir={DATADIR} --socket=/run/mysqld/mysqld.sock \
         --port=3306 --bind-address=0.0.0.0 --skip-name-resolve --init-file={INIT_SQL} \
         --character-set-server=utf8 --collation-server=utf8_general_ci \
         --max-connections=1000 --innodb-buffer-pool-size=128M"
    );
    ProcessSpec {
        command: vec!["sh".into(), "-c".into(), script],
        env: Vec::new(),
        workdir: None,
        volumes: vec![VolumeMount {
            volume: "mariadb-data".into(),
            target: DATADIR.into(),
        }],
        files: vec![
            ConfigFile {
                path: CLIENT_CNF.into(),
                content: root_client_cnf(cx),
                secret: true,
            },
            ConfigFile {
                path: INIT_SQL.into(),
                content: init,
                secret: true,
            },
        ],
        probe: Probe::Exec {
            command: vec![
                "mariadb-admin".into(),
                format!("--defaults-extra-file={CLIENT_CNF}"),
                "--socket=/run/mysqld/mysqld.sock".into(),
                "ping".into(),
            ],
        },
        stop_timeout_secs: 60,
    }
}
