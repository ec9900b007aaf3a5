//! Keystone, the identity service. Every other API authenticates through it,
//! so it is upgraded first after the infrastructure.

use ankyra_model::Version;

use crate::deploy::{
    CloudContext, ConfigFile, Job, JobWhen, ProcessSpec, SecretSpec, Smoke, VolumeMount,
};
use crate::ini::Ini;
use crate::openstack::{
    before, cache, conf_file, database, db_and_user_secrets, db_job, keystone_url, KEYSTONE_ADMIN,
    REGION,
};
use crate::services::{component, jobs_of};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules,
};
use crate::wsgi::WsgiApp;

/// The Keystone service.
pub struct Keystone;

static COMPONENTS: &[ComponentDef] = &[component(
    "keystone",
    "keystone",
    ComponentKind::Api,
    &[Port {
        name: "public",
        port: 5000,
    }],
    &["mariadb", "memcached", "haproxy"],
)];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["27.0.0", "27.0.1", "27.0.2", "27.1.0"]),
        ("2025.2", &["28.0.0", "28.0.1", "28.0.2", "28.1.0"]),
        ("2026.1", &["29.0.0", "29.0.1", "29.0.2", "29.1.0"]),
        ("2026.2", &["30.0.0"]),
    ],
};

/// The database password, and the `admin` user's (for the bootstrap).
static SECRETS: [SecretSpec; 2] = db_and_user_secrets(DB_PASSWORD, KEYSTONE_ADMIN);

impl Service for Keystone {
    service_tables!("keystone", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image(
            "keystone",
            "keystone",
            version,
            release,
            (5000, "/v3"),
            vec![],
        )
    }
    fn secrets(&self) -> &'static [SecretSpec] {
        &SECRETS
    }
    fn databases(&self) -> &'static [&'static str] {
        &["keystone"]
    }
    fn check_path(&self, _component: &str) -> Option<&'static str> {
        Some("/healthcheck")
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "keystone").then(|| {
            WsgiApp {
                // A token issue spends ~350 ms hashing: two workers.
                workers: 2,
                volumes: volumes(),
                probe: ("/v3", &[200]),
                ..WsgiApp::new(
                    "keystone.wsgi.api:application",
                    5000,
                    ("OS_KEYSTONE_CONFIG_DIR", CONF_DIR),
                    vec![keystone_conf(cx)],
                )
            }
            .process()
        })
    }
    /// Schema policy: expand, migrate, contract
    /// ([`crate::openstack::SCHEMA_POLICIES`], with its source). Expand adds
    /// what the new code needs and triggers keep the old code's writes in
    /// step; migrate moves data (a no-op since alembic: data migrations
    /// joined the expand branch). Old and new versions both run on the
    /// result, which is what makes a rollback a code swap.
    fn upgrade_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "keystone", || {
            vec![
                manage_job("keystone db_sync --expand", &["db_sync", "--expand"]),
                manage_job("keystone db_sync --migrate", &["db_sync", "--migrate"]),
            ]
        })
    }
    /// Contract drops what only the old version used: after it a rollback
    /// needs the snapshot taken before the upgrade.
    fn finalize_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "keystone", || {
            vec![manage_job(
                "keystone db_sync --contract",
                &["db_sync", "--contract"],
            )]
        })
    }
    fn smoke(&self, component: &str) -> Option<Smoke> {
        (component == "keystone").then_some(Smoke::Token)
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "keystone", || {
            // Both key setups do nothing when the repository already has keys.
            let key_setup = |name: &str, command: &str| {
                let owner = ["--keystone-user", "root", "--keystone-group", "root"];
                manage_job(name, &[&[command][..], &owner].concat())
            };
            vec![
                db_job(cx, "keystone", "keystone", DB_PASSWORD, self.databases()),
                manage_job("keystone db_sync", &["db_sync"]),
                key_setup("keystone fernet_setup", "fernet_setup"),
                key_setup("keystone credential_setup", "credential_setup"),
                bootstrap_job(cx),
            ]
        })
    }
}

fn manage_job(name: &str, args: &[&str]) -> Job {
    let mut cmd = vec!["keystone-manage"];
    cmd.extend_from_slice(args);
    before(name, "keystone", &cmd)
}

/// The service's own database password.
pub const DB_PASSWORD: &str = "keystone-db-password";
const CONF_DIR: &str = "/etc/keystone";
const FERNET_KEYS: &str = "/etc/keystone/fernet-keys";
const CREDENTIAL_KEYS: &str = "/etc/keystone/credential-keys";
/// The admin password, mounted only into the bootstrap job.
const ADMIN_PASSWORD_FILE: &str = "/etc/ankyra/secrets/keystone-admin-password";

/// Key repositories, shared by every instance of every version.
fn volumes() -> Vec<VolumeMount> {
    vec![
        VolumeMount {
            volume: "keystone-fernet".into(),
            target: FERNET_KEYS.into(),
        },
        VolumeMount {
            volume: "keystone-credential".into(),
            target: CREDENTIAL_KEYS.into(),
        },
    ]
}

/// `keystone.conf`, overrides merged.
pub fn keystone_conf(cx: &CloudContext) -> ConfigFile {
    let mut ini = Ini::new();
    ini.set("DEFAULT", "use_stderr", "true")
        .section(
            "database",
            &database(cx, "keystone", DB_PASSWORD, "keystone"),
        )
        .section("cache", &cache())
        .set("token", "provider", "fernet")
        .set("token", "expiration", "3600")
        .set("fernet_tokens", "key_repository", FERNET_KEYS)
        .set("fernet_tokens", "max_active_keys", "3")
        // A separate setting: left at its default every worker exits.
        .set("fernet_receipts", "key_repository", FERNET_KEYS)
        .set("credential", "key_repository", CREDENTIAL_KEYS)
        .set("oslo_middleware", "enable_proxy_headers_parsing", "true");
    conf_file(cx, CONF_DIR, "keystone.conf", ini)
}

/// `keystone-manage bootstrap` with the admin password read from a mounted
/// file inside Python, so it is in no argv `ps` can see.
fn bootstrap_job(cx: &CloudContext) -> Job {
    let url = keystone_url(cx);
    let script = format!(
        "import sys\n\
         pw = open('{ADMIN_PASSWORD_FILE}').read().strip()\n\
         sys.argv = ['keystone-manage', 'bootstrap', '--bootstrap-password', pw,\n\
         \x20   '--bootstrap-username', 'admin', '--bootstrap-project-name', 'admin',\n\
         \x20   '--bootstrap-role-name', 'admin', '--bootstrap-region-id', '{REGION}',\n\
         \x20   '--bootstrap-admin-url', '{url}', '--bootstrap-internal-url', '{url}',\n\
         \x20   '--bootstrap-public-url', '{url}']\n\
         from keystone.cmd.manage import main\n\
         sys.exit(main())\n"
    );
    Job {
        name: "keystone bootstrap".into(),
        component: "keystone".into(),
        command: vec!["python3".into(), "-c".into(), script],
        files: vec![ConfigFile {
            path: ADMIN_PASSWORD_FILE.into(),
            content: format!("{}\n", crate::openstack::secret(cx, KEYSTONE_ADMIN)),
            secret: true,
        }],
        when: JobWhen::Before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_conf_snapshot() {
        let cx = crate::services::fixture();
        insta::assert_snapshot!(keystone_conf(&cx).content);
    }

    #[test]
    fn bootstrap_reads_the_admin_password_from_a_file() {
        let cx = crate::services::fixture();
        let jobs = Keystone.bootstrap("keystone", &cx);
        let last = jobs.last().expect("bootstrap job");
        assert!(last
            .command
            .join(" ")
            .contains("--bootstrap-public-url', 'http://10.89.0.2:5000'"));
        assert_eq!(last.files[0].content, "s3cret-keystone-admin-password\n");
    }

    #[test]
    fn versions_map_to_their_series() {
        let v: Version = "27.1.0".parse().expect("valid");
        assert_eq!(Keystone.release_of(&v), Some("2025.1"));
        assert_eq!(
            Keystone.default_version("2026.1").map(|v| v.to_string()),
            Some("29.1.0".into())
        );
    }
}
