//! Neutron: only its API (ML2, no agents). Nova cannot show or delete a
//! server without a `network` endpoint, even with no networking.

use ankyra_model::Version;

use crate::deploy::{
    CloudContext, ConfigFile, Job, JobWhen, ProcessSpec, Registration, SecretSpec,
};
use crate::ini::Ini;
use crate::openstack::{
    authtoken, conf_file, db_job, db_url, endpoint, job, transport_url, PASSWORD_LEN,
};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules,
};
use crate::wsgi::{Preload, WsgiApp, VENV};

/// The Neutron service.
pub struct Neutron;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "neutron-server",
    service: "neutron",
    kind: ComponentKind::Api,
    ports: &[Port {
        name: "public",
        port: 9696,
    }],
    after: &["keystone", "rabbitmq"],
    default_replicas: 1,
}];

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

impl Service for Neutron {
    fn name(&self) -> &'static str {
        "neutron"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
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
        &[
            SecretSpec {
                name: DB_PASSWORD,
                length: PASSWORD_LEN,
            },
            SecretSpec {
                name: SERVICE_PASSWORD,
                length: PASSWORD_LEN,
            },
        ]
    }
    fn databases(&self) -> &'static [&'static str] {
        &["neutron"]
    }
    fn check_path(&self, _component: &str) -> Option<&'static str> {
        Some("/")
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "neutron-server").then(|| {
            // neutron reads sys.argv: plain gunicorn; config from
            // OS_NEUTRON_CONFIG_DIR (neutron.conf + plugins/ml2/ml2_conf.ini).
            WsgiApp {
                app: "neutron.wsgi.api:application",
                port: 9696,
                workers: 1,
                env: vec![("OS_NEUTRON_CONFIG_DIR".into(), CONF_DIR.into())],
                files: vec![neutron_conf(cx), ml2_conf(cx)],
                volumes: Vec::new(),
                probe: ("/", &[200]),
            }
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
        if component != "neutron-server" {
            return Vec::new();
        }
        let neutron_conf = format!("{CONF_DIR}/neutron.conf");
        let ml2 = format!("{CONF_DIR}/{ML2}");
        let migrate = [
            "neutron-db-manage",
            "--config-file",
            neutron_conf.as_str(),
            "--config-file",
            ml2.as_str(),
            "upgrade",
            "heads",
        ];
        vec![
            db_job(cx, "neutron", "neutron", DB_PASSWORD, self.databases()),
            job(
                "neutron db upgrade heads",
                "neutron-server",
                &migrate,
                JobWhen::Before,
            ),
        ]
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(Registration {
            service_type: "network".into(),
            service_name: "neutron".into(),
            url: endpoint(cx, 9696),
            user: Some(("neutron".into(), SERVICE_PASSWORD.into())),
        })
    }
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
        .set(
            "database",
            "connection",
            db_url(cx, "neutron", DB_PASSWORD, "neutron"),
        )
        .set("database", "max_retries", "-1")
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
}
