//! Glance, the image service (file store on a volume).

use ankyra_model::Version;

use crate::deploy::{
    CloudContext, ConfigFile, Job, JobWhen, ProcessSpec, Registration, SecretSpec, Smoke,
    VolumeMount,
};
use crate::ini::Ini;
use crate::openstack::{authtoken, conf_file, db_job, db_url, endpoint, job, PASSWORD_LEN};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules,
};
use crate::wsgi::{WsgiApp, VENV};

/// The Glance service.
pub struct Glance;

static COMPONENTS: &[ComponentDef] = &[ComponentDef {
    name: "glance",
    service: "glance",
    kind: ComponentKind::Api,
    ports: &[Port {
        name: "public",
        port: 9292,
    }],
    after: &["keystone"],
    default_replicas: 1,
}];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["30.0.0", "30.1.0", "30.2.0"]),
        ("2025.2", &["31.0.0", "31.1.0"]),
        ("2026.1", &["32.0.0"]),
        ("2026.2", &["33.0.0"]),
    ],
};

impl Service for Glance {
    fn name(&self) -> &'static str {
        "glance"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image(
            "glance",
            "glance",
            version,
            release,
            (9292, "/"),
            vec!["qemu-utils"],
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
        &["glance"]
    }
    fn check_path(&self, _component: &str) -> Option<&'static str> {
        Some("/healthcheck")
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "glance").then(|| {
            // glance-api refuses to run standalone: WSGI it is.
            WsgiApp {
                app: "glance.wsgi.api:application",
                port: 9292,
                workers: 1,
                env: vec![("OS_GLANCE_CONFIG_DIR".into(), CONF_DIR.into())],
                files: vec![glance_api_conf(cx)],
                volumes: vec![VolumeMount {
                    volume: "glance-images".into(),
                    target: IMAGES.into(),
                }],
                probe: ("/healthcheck", &[200]),
            }
            .process()
        })
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        if component != "glance" {
            return Vec::new();
        }
        vec![
            db_job(cx, "glance", "glance", DB_PASSWORD, self.databases()),
            job(
                "glance db_sync",
                "glance",
                &["glance-manage", "db_sync"],
                JobWhen::Before,
            ),
            // Namespaces already loaded are skipped.
            job(
                "glance db_load_metadefs",
                "glance",
                &["glance-manage", "db_load_metadefs"],
                JobWhen::Before,
            ),
        ]
    }
    fn upgrade_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        if component != "glance" {
            return Vec::new();
        }
        // Glance's zero-downtime path: expand and migrate now, contract at finalize.
        vec![
            job(
                "glance db expand",
                "glance",
                &["glance-manage", "db", "expand"],
                JobWhen::Before,
            ),
            job(
                "glance db migrate",
                "glance",
                &["glance-manage", "db", "migrate"],
                JobWhen::Before,
            ),
        ]
    }
    fn finalize_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        if component != "glance" {
            return Vec::new();
        }
        vec![job(
            "glance db contract",
            "glance",
            &["glance-manage", "db", "contract"],
            JobWhen::Before,
        )]
    }
    fn smoke(&self, component: &str) -> Option<Smoke> {
        (component == "glance").then_some(Smoke::Get {
            path: "/v2/images",
            headers: &[],
        })
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(Registration {
            service_type: "image".into(),
            service_name: "glance".into(),
            url: endpoint(cx, 9292),
            user: Some(("glance".into(), SERVICE_PASSWORD.into())),
        })
    }
}

/// Glance's database password.
pub const DB_PASSWORD: &str = "glance-db-password";
/// The password of keystone user `glance`.
pub const SERVICE_PASSWORD: &str = "glance-service-password";
const CONF_DIR: &str = "/etc/glance";
/// The file store, on a volume.
const IMAGES: &str = "/var/lib/glance/images";

/// `glance-api.conf` (glance-manage reads it too), overrides merged.
pub fn glance_api_conf(cx: &CloudContext) -> ConfigFile {
    let mut ini = Ini::new();
    ini.set("DEFAULT", "use_stderr", "true")
        .set("DEFAULT", "enabled_backends", "file:file")
        // The wheel installs the paste file and metadefs under the venv.
        .set(
            "DEFAULT",
            "metadata_source_path",
            format!("{VENV}/etc/glance/metadefs/"),
        )
        .set(
            "database",
            "connection",
            db_url(cx, "glance", DB_PASSWORD, "glance"),
        )
        .set("database", "max_retries", "-1")
        .section(
            "keystone_authtoken",
            &authtoken(cx, "glance", SERVICE_PASSWORD),
        )
        .set("paste_deploy", "flavor", "keystone")
        .set(
            "paste_deploy",
            "config_file",
            format!("{VENV}/etc/glance/glance-api-paste.ini"),
        )
        .set("glance_store", "default_backend", "file")
        .set("file", "filesystem_store_datadir", format!("{IMAGES}/"))
        .set(
            "os_glance_staging_store",
            "filesystem_store_datadir",
            format!("{IMAGES}/staging/"),
        )
        .set(
            "os_glance_tasks_store",
            "filesystem_store_datadir",
            format!("{IMAGES}/tasks/"),
        )
        .set("oslo_concurrency", "lock_path", "/var/lib/glance/lock");
    conf_file(cx, CONF_DIR, "glance-api.conf", ini)
}
