//! Pieces every OpenStack service module shares: database creation jobs,
//! connection URLs, the `[keystone_authtoken]`/`[cache]` sections, config
//! files with the record's overrides merged. Service knowledge stays in
//! `services/*.rs`; this is only the common shape.

use crate::deploy::{CloudContext, ConfigFile, Job, JobWhen, Registration, SecretSpec};
use crate::ini::{oslo_escape, url_encode, Ini};

/// The secret holding MariaDB's root password.
pub const MARIADB_ROOT: &str = "mariadb-root-password";
/// The secret holding the password of RabbitMQ's `openstack` user.
pub const RABBITMQ_PASSWORD: &str = "rabbitmq-password";
/// The secret holding keystone's `admin` password.
pub const KEYSTONE_ADMIN: &str = "keystone-admin-password";
/// The RabbitMQ user every service connects as.
pub const RABBITMQ_USER: &str = "openstack";
/// The keystone region.
pub const REGION: &str = "RegionOne";
/// Where database jobs find the root client options (inside the job only).
pub const DB_CLIENT_CNF: &str = "/etc/ankyra/db/client.cnf";

/// Length of generated passwords.
pub const PASSWORD_LEN: usize = 32;

/// The two secrets of an OpenStack API service: its database user's password
/// and its keystone user's password, both [`PASSWORD_LEN`] long. A service
/// module keeps them in a static:
/// `static SECRETS: [SecretSpec; 2] = db_and_user_secrets(DB_PASSWORD, SERVICE_PASSWORD);`
pub const fn db_and_user_secrets(
    db_password: &'static str,
    user_password: &'static str,
) -> [SecretSpec; 2] {
    [
        SecretSpec {
            name: db_password,
            length: PASSWORD_LEN,
        },
        SecretSpec {
            name: user_password,
            length: PASSWORD_LEN,
        },
    ]
}

/// What to register in keystone for a service whose keystone user has the
/// service's name: one endpoint `http://<vip>:<port><path>` (public, internal
/// and admin alike), and the user with the password in `user_password`.
pub fn registration(
    cx: &CloudContext,
    service_type: &str,
    service_name: &str,
    port: u16,
    path: &str,
    user_password: &str,
) -> Registration {
    Registration {
        service_type: service_type.into(),
        service_name: service_name.into(),
        url: format!("{}{path}", endpoint(cx, port)),
        user: Some((service_name.into(), user_password.into())),
    }
}

/// A secret's value. The engine fills `cx.secrets` with every declared
/// secret before rendering; a missing one renders empty (and fails loudly
/// at the first login), it is never invented here.
pub fn secret(cx: &CloudContext, name: &str) -> String {
    cx.secrets.get(name).cloned().unwrap_or_default()
}

/// `http://<vip>:<port>`: every API endpoint goes through HAProxy.
pub fn endpoint(cx: &CloudContext, port: u16) -> String {
    format!("http://{}:{port}", cx.vip)
}

/// Keystone's URL, as every service reaches it.
pub fn keystone_url(cx: &CloudContext) -> String {
    endpoint(cx, 5000)
}

/// A MariaDB string literal.
pub fn sql_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A value in a MariaDB option file.
fn cnf_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `[client]` options with the root password, for `--defaults-extra-file`.
pub fn root_client_cnf(cx: &CloudContext) -> String {
    format!(
        "[client]\nuser = root\npassword = {}\n",
        cnf_quote(&secret(cx, MARIADB_ROOT))
    )
}

/// `mysql+pymysql://user:PW@mariadb/db?charset=utf8`, escaped for oslo.config.
pub fn db_url(cx: &CloudContext, user: &str, password_secret: &str, db: &str) -> String {
    oslo_escape(&format!(
        "mysql+pymysql://{user}:{}@mariadb:3306/{db}?charset=utf8",
        url_encode(&secret(cx, password_secret))
    ))
}

/// A `[database]`-like section: the connection to `db` as `user`, and
/// retrying for ever while MariaDB restarts (`max_retries = -1`).
pub fn database(
    cx: &CloudContext,
    user: &str,
    password_secret: &str,
    db: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("connection", db_url(cx, user, password_secret, db)),
        ("max_retries", "-1".into()),
    ]
}

/// `rabbit://openstack:PW@rabbitmq:5672/`, escaped for oslo.config.
pub fn transport_url(cx: &CloudContext) -> String {
    oslo_escape(&format!(
        "rabbit://{RABBITMQ_USER}:{}@rabbitmq:5672/",
        url_encode(&secret(cx, RABBITMQ_PASSWORD))
    ))
}

/// The job creating a service's databases and its user (idempotent: every
/// statement is "if not exists" or resets to the current secret). Runs in a
/// one-shot container of the `mariadb` image.
pub fn db_job(
    cx: &CloudContext,
    service: &str,
    user: &str,
    password_secret: &str,
    dbs: &[&str],
) -> Job {
    let pw = sql_quote(&secret(cx, password_secret));
    let mut sql = String::new();
    for db in dbs {
        sql.push_str(&format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8;\n"
        ));
    }
    for host in ["%", "localhost"] {
        sql.push_str(&format!(
            "CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY {pw};\n"
        ));
        sql.push_str(&format!(
            "ALTER USER '{user}'@'{host}' IDENTIFIED BY {pw};\n"
        ));
        for db in dbs {
            sql.push_str(&format!(
                "GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'{host}';\n"
            ));
        }
    }
    sql.push_str("FLUSH PRIVILEGES;\n");
    let script = format!("/etc/ankyra/db/{service}.sql");
    Job {
        name: format!("{service} create databases"),
        component: "mariadb".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("mariadb --defaults-extra-file={DB_CLIENT_CNF} -h mariadb < {script}"),
        ],
        files: vec![
            ConfigFile {
                path: DB_CLIENT_CNF.into(),
                content: root_client_cnf(cx),
                secret: true,
            },
            ConfigFile {
                path: script,
                content: sql,
                secret: true,
            },
        ],
        when: JobWhen::Before,
    }
}

/// Where snapshot jobs read and write dumps (a writable directory the engine mounts).
pub const SNAPSHOT_DIR: &str = "/var/lib/ankyra-snapshot";

/// A consistent dump (one transaction) of `dbs` into `SNAPSHOT_DIR/<file>`,
/// in a one-shot container of the `mariadb` image.
pub fn snapshot_job(cx: &CloudContext, service: &str, dbs: &[&str], file: &str) -> Job {
    Job {
        name: format!("{service} database snapshot"),
        component: "mariadb".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "mariadb-dump --defaults-extra-file={DB_CLIENT_CNF} -h mariadb \
                 --single-transaction --hex-blob --routines --triggers --add-drop-database \
                 --databases {} > {SNAPSHOT_DIR}/{file}.partial && \
                 mv {SNAPSHOT_DIR}/{file}.partial {SNAPSHOT_DIR}/{file}",
                dbs.join(" ")
            ),
        ],
        files: vec![ConfigFile {
            path: DB_CLIENT_CNF.into(),
            content: root_client_cnf(cx),
            secret: true,
        }],
        when: JobWhen::Before,
    }
}

/// Loads a dump made by [`snapshot_job`] back (it drops and recreates the databases).
pub fn restore_job(cx: &CloudContext, service: &str, file: &str) -> Job {
    Job {
        name: format!("{service} database restore"),
        component: "mariadb".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "mariadb --defaults-extra-file={DB_CLIENT_CNF} -h mariadb < {SNAPSHOT_DIR}/{file}"
            ),
        ],
        files: vec![ConfigFile {
            path: DB_CLIENT_CNF.into(),
            content: root_client_cnf(cx),
            secret: true,
        }],
        when: JobWhen::Before,
    }
}

/// A job running `command` (no secrets) in `component`'s container.
pub fn job(name: &str, component: &str, command: &[&str], when: JobWhen) -> Job {
    Job {
        name: name.into(),
        component: component.into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        files: Vec::new(),
        when,
    }
}

/// A job run before `component`'s instances start, in its image (schema
/// syncs, key setups). `command` holds no secret.
pub fn before(name: &str, component: &str, command: &[&str]) -> Job {
    job(name, component, command, JobWhen::Before)
}

/// keystoneauth password options for a service user in project `service`.
pub fn password_auth(
    cx: &CloudContext,
    user: &str,
    password_secret: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("auth_type", "password".into()),
        ("auth_url", keystone_url(cx)),
        ("project_domain_name", "Default".into()),
        ("user_domain_name", "Default".into()),
        ("project_name", "service".into()),
        ("username", user.into()),
        ("password", oslo_escape(&secret(cx, password_secret))),
        ("region_name", REGION.into()),
    ]
}

/// `[keystone_authtoken]`: how an API validates tokens.
pub fn authtoken(
    cx: &CloudContext,
    user: &str,
    password_secret: &str,
) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("www_authenticate_uri", keystone_url(cx)),
        ("memcached_servers", "memcached:11211".into()),
    ];
    out.extend(password_auth(cx, user, password_secret));
    out
}

/// `[cache]` with memcached (python-memcached is in every image).
pub fn cache() -> Vec<(&'static str, String)> {
    vec![
        ("enabled", "true".into()),
        ("backend", "oslo_cache.memcache_pool".into()),
        ("memcache_servers", "memcached:11211".into()),
    ]
}

/// A rendered oslo.config file at `dir/name`, with the record's overrides of
/// `name` merged over the defaults. Secret: these files hold passwords.
pub fn conf_file(cx: &CloudContext, dir: &str, name: &str, mut ini: Ini) -> ConfigFile {
    ini.merge(cx.overrides.get(name));
    ConfigFile {
        path: format!("{dir}/{name}"),
        content: ini.render(),
        secret: true,
    }
}

/// How a service's database schema changes from one release to the next:
/// it decides what an upgrade runs with the new image while the old version
/// still serves (`upgrade_jobs`), and what waits for `ankyra finalize`
/// (`finalize_jobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaPhases {
    /// Separate expand, migrate and contract commands: expand and migrate
    /// during the upgrade (the old code runs on the result), contract at
    /// finalize (it may drop what the old code reads).
    ExpandMigrateContract,
    /// Two alembic branches: `expand` (additive) during the upgrade,
    /// `contract` at finalize.
    ExpandContract,
    /// One sync command; upstream's policy keeps schema migrations additive
    /// (an element is dropped releases after its last use), so all of it
    /// runs during the upgrade and nothing is left for finalize.
    Additive,
    /// One sync command over one linear alembic branch and no written
    /// upstream policy: all of it runs during the upgrade, nothing at
    /// finalize; each release's migrations must be read before trusting a
    /// rollback as a code swap.
    SingleBranch,
}

/// One service's [`SchemaPhases`], the commands, and where upstream says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaPolicy {
    /// The service.
    pub service: &'static str,
    /// How its schema changes.
    pub phases: SchemaPhases,
    /// What its `upgrade_jobs` run (with the new image, the old one serving).
    pub upgrade: &'static str,
    /// What its `finalize_jobs` run.
    pub finalize: &'static str,
    /// Where upstream states it (and what was read in the releases' wheels).
    pub source: &'static str,
}

/// The schema policy of every OpenStack service in the catalog.
///
/// | service | phases | upgrade | finalize |
/// |---|---|---|---|
/// | keystone | expand / migrate / contract | `keystone-manage db_sync --expand`, `--migrate` | `db_sync --contract` |
/// | glance | expand / migrate / contract | `glance-manage db expand`, `db migrate` | `db contract` |
/// | neutron | expand / contract branches | `neutron-db-manage upgrade --expand` | `upgrade --contract` |
/// | nova | additive by policy | `nova-manage api_db sync`, `db sync` | nothing |
/// | placement | one branch, no written policy | `placement-manage db sync` | nothing |
pub static SCHEMA_POLICIES: &[SchemaPolicy] = &[
    SchemaPolicy {
        service: "keystone",
        phases: SchemaPhases::ExpandMigrateContract,
        upgrade: "keystone-manage db_sync --expand; keystone-manage db_sync --migrate",
        finalize: "keystone-manage db_sync --contract",
        source: "https://docs.openstack.org/keystone/latest/admin/upgrading.html \
                 (the zero-downtime approach, since Newton); two alembic branches since Yoga, migrate \
                 folded into expand: \
                 https://docs.openstack.org/keystone/zed/contributor/database-migrations.html",
    },
    SchemaPolicy {
        service: "glance",
        phases: SchemaPhases::ExpandMigrateContract,
        upgrade: "glance-manage db expand; glance-manage db migrate",
        finalize: "glance-manage db contract",
        source: "https://docs.openstack.org/glance/zed/admin/zero-downtime-db-upgrade.html \
                 (\"The Expand-Migrate-Contract Cycle\"; upstream still calls rolling \
                 upgrades experimental: \
                 https://docs.openstack.org/developer/glance/rollingupgrades.html)",
    },
    SchemaPolicy {
        service: "neutron",
        phases: SchemaPhases::ExpandContract,
        upgrade: "neutron-db-manage upgrade --expand",
        finalize: "neutron-db-manage upgrade --contract",
        source: "https://docs.openstack.org/ocata/networking-guide/migration-database.html, \
                 https://docs.openstack.org/neutron/zed/contributor/alembic_migrations.html \
                 (expand is strictly additive and safe while neutron-server runs; contract \
                 is not: upstream stops every server for it, `has_offline_migrations` says \
                 whether any is pending). Contract head 5c85685d616d (Newton) in 28.0.2 and \
                 29.0.0: none since.",
    },
    SchemaPolicy {
        service: "nova",
        phases: SchemaPhases::Additive,
        upgrade: "nova-manage api_db sync; nova-manage db sync",
        finalize: "",
        source: "openstack/nova doc/source/admin/upgrades.rst, \
                 https://docs.openstack.org/nova/latest/admin/upgrades.html (\"Migration \
                 policy\": schema migrations additive, applied to a running system before \
                 the code is upgraded; a column is removed at the start of N+2; data moves \
                 by `nova-manage db online_data_migrations`)",
    },
    SchemaPolicy {
        service: "placement",
        phases: SchemaPhases::SingleBranch,
        upgrade: "placement-manage db sync",
        finalize: "",
        source: "openstack/placement doc/source/admin/upgrade-notes.rst \
                 (`placement-manage db sync` after the new code is installed); no upstream \
                 statement that migrations are additive was found. The 15.0.0 and 16.0.0 \
                 wheels hold the same five revisions, head a082b8bb98d0 (2022-09, drops \
                 redundant indexes): 2026.1 → 2026.2 changes no schema.",
    },
];

/// The schema policy of `service`, if it has a database of its own.
pub fn schema_policy(service: &str) -> Option<&'static SchemaPolicy> {
    SCHEMA_POLICIES.iter().find(|p| p.service == service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_openstack_service_has_a_schema_policy_its_jobs_follow() {
        let cx = crate::services::fixture();
        for svc in crate::ALL {
            // Infrastructure creates no schema of its own.
            if svc.databases().is_empty() {
                continue;
            }
            let policy = schema_policy(svc.name())
                .unwrap_or_else(|| panic!("{} has no schema policy", svc.name()));
            let jobs = |f: &dyn Fn(&str) -> Vec<Job>| -> Vec<String> {
                svc.components()
                    .iter()
                    .flat_map(|c| f(c.name))
                    .map(|j| j.command.join(" "))
                    .collect()
            };
            let upgrade = jobs(&|c| svc.upgrade_jobs(c, &cx));
            let finalize = jobs(&|c| svc.finalize_jobs(c, &cx));
            assert!(!upgrade.is_empty(), "{}", svc.name());
            for j in &upgrade {
                assert!(!j.contains("contract"), "{}: {j}", svc.name());
            }
            match policy.phases {
                SchemaPhases::ExpandMigrateContract | SchemaPhases::ExpandContract => {
                    assert!(upgrade.iter().any(|j| j.contains("expand")), "{upgrade:?}");
                    assert!(
                        finalize.iter().all(|j| j.contains("contract")),
                        "{finalize:?}"
                    );
                    assert!(!finalize.is_empty(), "{}", svc.name());
                }
                SchemaPhases::Additive | SchemaPhases::SingleBranch => {
                    assert!(finalize.is_empty(), "{}: {finalize:?}", svc.name());
                }
            }
        }
    }

    #[test]
    fn db_job_keeps_the_password_in_files() {
        let mut cx = CloudContext::default();
        cx.secrets.insert("x-db".into(), "p'w".into());
        cx.secrets.insert(MARIADB_ROOT.into(), "root\"pw".into());
        let j = db_job(&cx, "x", "x", "x-db", &["x"]);
        assert!(j.command.join(" ").contains("/etc/ankyra/db/x.sql"));
        assert!(j.files[1].content.contains("IDENTIFIED BY 'p\\'w'"));
        assert!(j.files[0].content.contains("password = \"root\\\"pw\""));
        assert!(j.files.iter().all(|f| f.secret));
    }
}
