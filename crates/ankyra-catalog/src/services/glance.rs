//! Glance, the image service (file store on a volume).

use ankyra_model::Version;

use crate::deploy::{
    CloudContext, ConfigFile, Job, ProcessSpec, Registration, SecretSpec, Smoke, VolumeMount,
};
use crate::ini::Ini;
use crate::openstack::{
    authtoken, before, conf_file, database, db_and_user_secrets, db_job, registration,
};
use crate::services::{component, jobs_of};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules,
};
use crate::wsgi::{WsgiApp, VENV};

/// The Glance service.
pub struct Glance;

static COMPONENTS: &[ComponentDef] = &[component(
    "glance",
    "glance",
    ComponentKind::Api,
    &[Port {
        name: "public",
        port: 9292,
    }],
    &["keystone"],
)];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["30.0.0", "30.1.0", "30.2.0"]),
        ("2025.2", &["31.0.0", "31.1.0"]),
        ("2026.1", &["32.0.0"]),
        ("2026.2", &["33.0.0"]),
    ],
};

static SECRETS: [SecretSpec; 2] = db_and_user_secrets(DB_PASSWORD, SERVICE_PASSWORD);

impl Service for Glance {
    service_tables!("glance", COMPONENTS, VERSIONS);
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
        &SECRETS
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
                volumes: vec![VolumeMount {
                    volume: "glance-images".into(),
                    target: IMAGES.into(),
                }],
                probe: ("/healthcheck", &[200]),
                ..WsgiApp::new(
                    "glance.wsgi.api:application",
                    9292,
                    ("OS_GLANCE_CONFIG_DIR", CONF_DIR),
                    vec![glance_api_conf(cx)],
                )
            }
            .process()
        })
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "glance", || {
            vec![
                db_job(cx, "glance", "glance", DB_PASSWORD, self.databases()),
                manage("glance db_sync", &["db_sync"]),
                // Namespaces already loaded are skipped.
                manage("glance db_load_metadefs", &["db_load_metadefs"]),
            ]
        })
    }
    /// Schema policy: expand, migrate, contract
    /// ([`crate::openstack::SCHEMA_POLICIES`], with its source), glance's
    /// zero-downtime path: expand and migrate now, with the new image while
    /// the old version serves; contract at finalize.
    fn upgrade_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "glance", || {
            vec![
                manage("glance db expand", &["db", "expand"]),
                manage("glance db migrate", &["db", "migrate"]),
            ]
        })
    }
    /// Contract drops what only the old version used.
    fn finalize_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "glance", || {
            vec![manage("glance db contract", &["db", "contract"])]
        })
    }
    fn smoke(&self, component: &str) -> Option<Smoke> {
        (component == "glance").then_some(Smoke::Get {
            path: "/v2/images",
            headers: &[],
        })
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(registration(
            cx,
            "image",
            "glance",
            9292,
            "",
            SERVICE_PASSWORD,
        ))
    }
}

/// `glance-manage ARGS` in glance's image (glance-api.conf holds the database).
fn manage(name: &str, args: &[&str]) -> Job {
    before(name, "glance", &[&["glance-manage"][..], args].concat())
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
        .section("database", &database(cx, "glance", DB_PASSWORD, "glance"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glance_api_conf_snapshot() {
        let cx = crate::services::fixture();
        insta::assert_snapshot!(glance_api_conf(&cx).content);
    }
}
