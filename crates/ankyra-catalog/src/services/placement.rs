//! Placement: the inventory of resource providers nova schedules onto.

use ankyra_model::Version;

use crate::deploy::{CloudContext, ConfigFile, Job, ProcessSpec, Registration, SecretSpec, Smoke};
use crate::ini::Ini;
use crate::openstack::{
    authtoken, before, conf_file, database, db_and_user_secrets, db_job, registration,
};
use crate::services::{component, jobs_of};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules,
};
use crate::wsgi::WsgiApp;

/// The Placement service.
pub struct Placement;

static COMPONENTS: &[ComponentDef] = &[component(
    "placement",
    "placement",
    ComponentKind::Api,
    &[Port {
        name: "public",
        port: 8778,
    }],
    &["keystone"],
)];

/// Versions on PyPI (package `openstack-placement`) per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        ("2025.1", &["13.0.0", "13.0.1"]),
        ("2025.2", &["14.0.0"]),
        ("2026.1", &["15.0.0"]),
        ("2026.2", &["16.0.0"]),
    ],
};

static SECRETS: [SecretSpec; 2] = db_and_user_secrets(DB_PASSWORD, SERVICE_PASSWORD);

impl Service for Placement {
    service_tables!("placement", COMPONENTS, VERSIONS);
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
        &SECRETS
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
            WsgiApp::new(
                "placement.wsgi.api:application",
                8778,
                ("OS_PLACEMENT_CONFIG_DIR", CONF_DIR),
                vec![placement_conf(cx)],
            )
            .process()
        })
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "placement", || {
            vec![
                db_job(cx, "placement", "placement", DB_PASSWORD, self.databases()),
                db_sync(),
            ]
        })
    }
    /// Schema policy: one alembic branch, one `placement-manage db sync`
    /// ([`crate::openstack::SCHEMA_POLICIES`], with its source): all of it
    /// runs here, with the new image while the old version serves, and
    /// nothing is left for finalize. Upstream writes no additive-only rule
    /// for placement; 15.0.0 → 16.0.0 carries no schema change at all.
    fn upgrade_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        jobs_of(component, "placement", || vec![db_sync()])
    }
    fn smoke(&self, component: &str) -> Option<Smoke> {
        (component == "placement").then_some(Smoke::Get {
            path: "/resource_providers",
            headers: &[("OpenStack-API-Version", "placement 1.0")],
        })
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(registration(
            cx,
            "placement",
            "placement",
            8778,
            "",
            SERVICE_PASSWORD,
        ))
    }
}

/// `placement-manage db sync` in placement's image.
fn db_sync() -> Job {
    before(
        "placement db sync",
        "placement",
        &["placement-manage", "db", "sync"],
    )
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
        .section(
            "placement_database",
            &database(cx, "placement", DB_PASSWORD, "placement"),
        )
        .section(
            "keystone_authtoken",
            &authtoken(cx, "placement", SERVICE_PASSWORD),
        );
    conf_file(cx, CONF_DIR, "placement.conf", ini)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_conf_snapshot() {
        let cx = crate::services::fixture();
        insta::assert_snapshot!(placement_conf(&cx).content);
    }
}
