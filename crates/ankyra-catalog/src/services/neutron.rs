//! Neutron: only its API (ML2, no agents). Nova cannot show or delete a
//! server without a `network` endpoint, even with no networking.

use ankyra_model::Version;

use crate::deploy::{
    CloudContext, ConfigFile, Job, JobWhen, ProcessSpec, Registration, SecretSpec,
};
use crate::ini::Ini;
use crate::openstack::{
    authtoken, conf_file, database, db_and_user_secrets, db_job, job, registration, transport_url,
};
use crate::services::{component, jobs_of};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules,
};
use crate::wsgi::{Preload, WsgiApp, VENV};

/// The Neutron service.
pub struct Neutron;

/// The only component: the API server.
const SERVER: &str = "neutron-server";

static COMPONENTS: &[ComponentDef] = &[component(
    "neutron",
    SERVER,
    ComponentKind::Api,
    &[Port {
        name: "public",
        port: 9696,
    }],
    &["keystone", "rabbitmq"],
)];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        (
            "2025.1",
            &[
                "26.0.0", "26.0.1", "26.0.2", "26.0.3", "26.0.4", "26.0.5", "26.0.6",
            ],
        ),
        (
            "2025.2",
            &["27.0.0", "27.0.1", "27.0.2", "27.0.3", "27.0.4"],
        ),
        ("2026.1", &["28.0.0", "28.0.1", "28.0.2"]),
        ("2026.2", &["29.0.0"]),
    ],
};

static SECRETS: [SecretSpec; 2] = db_and_user_secrets(DB_PASSWORD, SERVICE_PASSWORD);

impl Service for Neutron {
    service_tables!("neutron", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        let mut recipe = pypi_image("neutron", "neutron", version, release, (9696, "/"), vec![]);
        // neutron-db-manage's sanity checks import neutron.privileged, which
        // needs pyroute2, although neutron (29) no longer requires it.
        if let crate::ImageSource::Pypi { extras, .. } = &mut recipe.source {
            extras.push("pyroute2");
        }
        recipe
    }
    fn secrets(&self) -> &'static [SecretSpec] {
        &SECRETS
    }
    fn databases(&self) -> &'static [&'static str] {
        &["neutron"]
    }
    fn check_path(&self, _component: &str) -> Option<&'static str> {
        Some("/")
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == SERVER).then(|| {
            // neutron reads sys.argv: plain gunicorn; config from
            // OS_NEUTRON_CONFIG_DIR (neutron.conf + plugins/ml2/ml2_conf.ini).
            WsgiApp::new(
                "neutron.wsgi.api:application",
                9696,
                ("OS_NEUTRON_CONFIG_DIR", CONF_DIR),
                vec![neutron_conf(cx), ml2_conf(cx)],
            )
            .process()
            // Without service plugins nothing loads every DB model, and the
            // ports API then fails on `Port.port_forwardings`: load and map them all.
            .preload(
                "import neutron.db.migration.models.head, sqlalchemy.orm  # noqa: F401\n\
                 sqlalchemy.orm.configure_mappers()",
            )
        })
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, SERVER, || {
            vec![
                db_job(cx, "neutron", "neutron", DB_PASSWORD, self.databases()),
                // A new database: both branches to their heads at once.
                db_manage("neutron db upgrade heads", "heads"),
            ]
        })
    }
    /// Schema policy: two alembic branches, `expand` and `contract`
    /// ([`crate::openstack::SCHEMA_POLICIES`], with its source). Only the
    /// `expand` branch runs here, with the new image while the old version
    /// serves: its migrations are additive, so the old code runs on the
    /// result and a rollback is a code swap. (`upgrade heads`, which the
    /// bootstrap uses, would also run `contract`.)
    fn upgrade_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, SERVER, || {
            vec![db_manage("neutron db upgrade --expand", "--expand")]
        })
    }
    /// The `contract` branch, once the operator trusts the new version: it
    /// may drop what the old code still reads. Upstream asks for every
    /// neutron-server to be stopped while contract migrations run
    /// (`neutron-db-manage has_offline_migrations` says whether any are
    /// pending); none were added since Newton (contract head `5c85685d616d`
    /// in 28.0.2 and 29.0.0), so this is a no-op between recent releases.
    fn finalize_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, SERVER, || {
            vec![db_manage("neutron db upgrade --contract", "--contract")]
        })
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(registration(
            cx,
            "network",
            "neutron",
            9696,
            "",
            SERVICE_PASSWORD,
        ))
    }
}

/// `neutron-db-manage --config-file neutron.conf --config-file ml2_conf.ini
/// upgrade <target>` (`heads`, `--expand` or `--contract`) in neutron-server's
/// image. Alembic applies each revision once, so it may run again.
fn db_manage(name: &str, target: &str) -> Job {
    let neutron_conf = format!("{CONF_DIR}/neutron.conf");
    let ml2 = format!("{CONF_DIR}/{ML2}");
    job(
        name,
        SERVER,
        &[
            "neutron-db-manage",
            "--config-file",
            &neutron_conf,
            "--config-file",
            &ml2,
            "upgrade",
            target,
        ],
        JobWhen::Before,
    )
}

/// Neutron's database password.
pub const DB_PASSWORD: &str = "neutron-db-password";
/// The password of keystone user `neutron`.
pub const SERVICE_PASSWORD: &str = "neutron-service-password";
const CONF_DIR: &str = "/etc/neutron";
const ML2: &str = "plugins/ml2/ml2_conf.ini";

/// `neutron.conf`: the API only, no agents and no notifications to nova.
pub fn neutron_conf(cx: &CloudContext) -> ConfigFile {
    let mut ini = Ini::new();
    ini.set("DEFAULT", "use_stderr", "true")
        .set("DEFAULT", "core_plugin", "ml2")
        .set("DEFAULT", "service_plugins", "")
        .set("DEFAULT", "auth_strategy", "keystone")
        .set(
            "DEFAULT",
            "api_paste_config",
            format!("{VENV}/etc/neutron/api-paste.ini"),
        )
        .set("DEFAULT", "notify_nova_on_port_status_changes", "false")
        .set("DEFAULT", "notify_nova_on_port_data_changes", "false")
        .set("DEFAULT", "transport_url", transport_url(cx))
        .section("database", &database(cx, "neutron", DB_PASSWORD, "neutron"))
        .section(
            "keystone_authtoken",
            &authtoken(cx, "neutron", SERVICE_PASSWORD),
        )
        .set("oslo_concurrency", "lock_path", "/var/lib/neutron/lock");
    conf_file(cx, CONF_DIR, "neutron.conf", ini)
}

/// `ml2_conf.ini`: flat type only, no mechanism or extension drivers. No
/// secret in it.
pub fn ml2_conf(cx: &CloudContext) -> ConfigFile {
    let mut ini = Ini::new();
    ini.set("ml2", "type_drivers", "flat")
        // `tenant_network_types` until 2025.2, `project_network_types` after.
        .set("ml2", "tenant_network_types", "")
        .set("ml2", "project_network_types", "")
        .set("ml2", "mechanism_drivers", "")
        .set("ml2", "extension_drivers", "")
        .set("ml2_type_flat", "flat_networks", "*");
    let mut file = conf_file(cx, CONF_DIR, "ml2_conf.ini", ini);
    file.path = format!("{CONF_DIR}/{ML2}");
    file.secret = false;
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ml2_conf_snapshot() {
        let cx = crate::services::fixture();
        let f = ml2_conf(&cx);
        assert_eq!(f.path, "/etc/neutron/plugins/ml2/ml2_conf.ini");
        insta::assert_snapshot!(f.content);
    }

    #[test]
    fn neutron_conf_snapshot() {
        let cx = crate::services::fixture();
        insta::assert_snapshot!(neutron_conf(&cx).content);
    }

    #[test]
    fn an_upgrade_expands_and_only_finalize_contracts() {
        let cx = crate::services::fixture();
        let argv = |jobs: Vec<Job>| -> Vec<String> {
            jobs.into_iter().map(|j| j.command.join(" ")).collect()
        };
        let manage = "neutron-db-manage --config-file /etc/neutron/neutron.conf \
                      --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade";
        assert_eq!(
            argv(Neutron.upgrade_jobs(SERVER, &cx)),
            [format!("{manage} --expand")]
        );
        assert_eq!(
            argv(Neutron.finalize_jobs(SERVER, &cx)),
            [format!("{manage} --contract")]
        );
        // A new database gets both branches at once.
        assert_eq!(
            argv(Neutron.bootstrap(SERVER, &cx)).last(),
            Some(&format!("{manage} heads"))
        );
        assert!(Neutron.upgrade_jobs("nova-api", &cx).is_empty());
    }
}
