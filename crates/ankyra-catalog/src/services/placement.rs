//! Placement: the inventory of resource providers nova schedules onto.

use ankyra_model::Version;

use crate::deploy::{
    CloudContext, ConfigFile, Job, JobWhen, ProcessSpec, Registration, SecretSpec, Smoke,
};
use crate::ini::Ini;
use crate::openstack::{authtoken, conf_file, db_job, db_url, endpoint, job, PASSWORD_LEN};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules,
};
use crate::wsgi::WsgiApp;

/// The Placement service.
pub struct Placement;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "placement",
    service: "placement",
    kind: ComponentKind::Api,
    ports: &[Port {
        name: "public",
        port: 8778,
    }],
    after: &["keystone"],
    default_replicas: 1,
}];

/// Versions on PyPI (package `openstack-placement`) per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["13.0.0", "13.0.1"]),
        ("2025.2", &["14.0.0"]),
        ("2026.1", &["15.0.0"]),
        ("2026.2", &["16.0.0"]),
    ],
};

impl Service for Placement {
    fn name(&self) -> &'static str {
        "placement"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image(
            "placement",
            "openstack-placement",
            version,
            release,
            (8778, "/"),
            vec![],
        )
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
        &["placement"]
    }
    fn check_path(&self, _component: &str) -> Option<&'static str> {
        // The root answers the version document without a token.
        Some("/")
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "placement").then(|| {
            WsgiApp {
                app: "placement.wsgi.api:application",
                port: 8778,
                workers: 1,
                env: vec![("OS_PLACEMENT_CONFIG_DIR".into(), CONF_DIR.into())],
                files: vec![placement_conf(cx)],
                volumes: Vec::new(),
                probe: ("/", &[200]),
            }
            .process()
        })
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        if component != "placement" {
            return Vec::new();
        }
        vec![
            db_job(cx, "placement", "placement", DB_PASSWORD, self.databases()),
            job(
                "placement db sync",
                "placement",
                &["placement-manage", "db", "sync"],
                JobWhen::Before,
            ),
        ]
    }
    fn smoke(&self, component: &str) -> Option<Smoke> {
        (component == "placement").then_some(Smoke::Get {
            path: "/resource_providers",
            headers: &[("OpenStack-API-Version", "placement 1.0")],
        })
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(Registration {
            service_type: "placement".into(),
            service_name: "placement".into(),
            url: endpoint(cx, 8778),
            user: Some(("placement".into(), SERVICE_PASSWORD.into())),
        })
    }
}

/// Placement's database password.
pub const DB_PASSWORD: &str = "placement-db-password";
/// The password of keystone user `placement`.
pub const SERVICE_PASSWORD: &str = "placement-service-password";
const CONF_DIR: &str = "/etc/placement";

/// `placement.conf` (placement-manage reads it too), overrides merged.
pub fn placement_conf(cx: &CloudContext) -> ConfigFile {
    let mut ini = Ini::new();
    ini.set("DEFAULT", "use_stderr", "true")
        .set("api", "auth_strategy", "keystone")
        .set(
            "placement_database",
            "connection",
            db_url(cx, "placement", DB_PASSWORD, "placement"),
        )
        .set("placement_database", "max_retries", "-1")
        .section(
            "keystone_authtoken",
            &authtoken(cx, "placement", SERVICE_PASSWORD),
        );
    conf_file(cx, CONF_DIR, "placement.conf", ini)
}
