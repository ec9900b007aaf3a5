//! Pieces every OpenStack service module shares: database creation jobs,
//! connection URLs, the `[keystone_authtoken]`/`[cache]` sections, config
//! files with the record's overrides merged. Service knowledge stays in
//! `services/*.rs`; this is only the common shape.

use crate::deploy::{CloudContext, ConfigFile, Job, JobWhen};
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

#[cfg(test)]
mod tests {
    use super::*;

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
