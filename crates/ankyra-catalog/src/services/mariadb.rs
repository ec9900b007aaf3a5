//! MariaDB: the database of every OpenStack service (Debian's 10.11).

use ankyra_model::Version;

use crate::deploy::{CloudContext, ConfigFile, Probe, ProcessSpec, SecretSpec, VolumeMount};
use crate::openstack::{root_client_cnf, secret, sql_quote, MARIADB_ROOT, PASSWORD_LEN};
use crate::services::{component, debian_image};
use crate::types::{ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The MariaDB service.
pub struct MariaDb;

/// The component holding every service's databases.
pub const COMPONENT: &str = "mariadb";

static COMPONENTS: &[ComponentDef] = &[component(
    "mariadb",
    COMPONENT,
    ComponentKind::Infra,
    &[Port {
        name: "mysql",
        port: 3306,
    }],
    &[],
)];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["10.11"])],
};

impl Service for MariaDb {
    service_tables!("mariadb", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        debian_image(
            "mariadb",
            version,
            vec!["mariadb-server", "mariadb-client"],
            vec![
                "CMD".into(),
                "mariadb-admin".into(),
                "--socket=/run/mysqld/mysqld.sock".into(),
                "ping".into(),
            ],
        )
    }
    fn secrets(&self) -> &'static [SecretSpec] {
        &[SecretSpec {
            name: MARIADB_ROOT,
            length: PASSWORD_LEN,
        }]
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == COMPONENT).then(|| process(cx))
    }
}

/// Root's client options inside the mariadb container (for the probe).
const CLIENT_CNF: &str = "/etc/ankyra/mariadb/client.cnf";
/// Run at every start: root's password is always the stored secret.
const INIT_SQL: &str = "/etc/ankyra/mariadb/init.sql";
/// Where MariaDB keeps its data, inside the container (the data volume's mount).
pub const DATADIR: &str = "/var/lib/mysql";
/// The volume holding DATADIR.
pub const DATA_VOLUME: &str = "mariadb-data";

/// Space on the data volume and what `databases` take on it, as the mariadb
/// container sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// The volume's size, in KiB.
    pub size_kib: u64,
    /// Free for MariaDB (it runs as root: reserved blocks count), in KiB.
    pub free_kib: u64,
    /// What the databases' files take, in KiB.
    pub databases_kib: u64,
}

/// A command run in the mariadb container that prints the data volume's size
/// and free space (POSIX `df -Pk`), then each database's size (`du -sk`:
/// one folder per database, one file per table).
pub fn space_command(databases: &[&str]) -> Vec<String> {
    let mut cmd = vec!["sh".into(), "-c".into()];
    // Database names come from the catalog, never from input: no quoting needed.
    let dirs: Vec<String> = databases.iter().map(|d| format!("{DATADIR}/{d}")).collect();
    cmd.push(format!(
        "df -Pk {DATADIR} | tail -n 1; for d in {}; do if [ -d \"$d\" ]; then du -sk \"$d\"; fi; done",
        dirs.join(" ")
    ));
    cmd
}

/// `mariadb` run in the mariadb container as root (its client options),
/// executing `sql`; prints rows tab-separated, without column names.
pub fn sql_command(sql: &str) -> Vec<String> {
    vec![
        "mariadb".into(),
        format!("--defaults-extra-file={CLIENT_CNF}"),
        "--socket=/run/mysqld/mysqld.sock".into(),
        "--batch".into(),
        "--skip-column-names".into(),
        "-e".into(),
        sql.into(),
    ]
}

/// Reads what `space_command` printed; None when it is not that.
pub fn parse_space(output: &str) -> Option<Space> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    // Filesystem 1024-blocks Used Available Capacity Mounted-on
    let df: Vec<&str> = lines.next()?.split_whitespace().collect();
    if df.len() < 6 {
        return None;
    }
    let size_kib = df[1].parse().ok()?;
    let free_kib = df[3].parse().ok()?;
    let mut databases_kib = 0u64;
    for l in lines {
        let kib: u64 = l.split_whitespace().next()?.parse().ok()?;
        databases_kib = databases_kib.saturating_add(kib);
    }
    Some(Space {
        size_kib,
        free_kib,
        databases_kib,
    })
}

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
            volume: DATA_VOLUME.into(),
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
        host: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_is_read_from_df_and_du() {
        let out = "/dev/loop3        757584 742808         0 100% /var/lib/mysql\n\
                   10364\t/var/lib/mysql/keystone\n";
        assert_eq!(
            parse_space(out),
            Some(Space {
                size_kib: 757584,
                free_kib: 0,
                databases_kib: 10364,
            })
        );
    }

    #[test]
    fn a_missing_database_folder_counts_nothing() {
        let out = "overlay 263112772 12000000 251112772 5% /var/lib/mysql\n";
        assert_eq!(parse_space(out).map(|s| s.databases_kib), Some(0));
    }

    #[test]
    fn anything_else_is_not_a_reading() {
        assert_eq!(parse_space(""), None);
        assert_eq!(parse_space("sh: 1: df: not found\n"), None);
        assert_eq!(
            parse_space("/dev/x 10 5 5 50% /var/lib/mysql\nnot-a-number /x\n"),
            None
        );
    }

    #[test]
    fn the_command_measures_only_the_databases_asked_for() {
        let cmd = space_command(&["nova", "nova_api"]);
        assert_eq!(cmd[..2], ["sh", "-c"]);
        assert!(cmd[2].starts_with("df -Pk /var/lib/mysql"));
        assert!(cmd[2].contains("/var/lib/mysql/nova /var/lib/mysql/nova_api;"));
    }
}
