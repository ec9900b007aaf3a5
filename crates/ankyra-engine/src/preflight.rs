//! The pre-flight check of a whole-cloud change: before anything is recorded
//! or touched, every component must be healthy, no earlier upgrade may be left
//! unfinalized, the database volume must hold what the schema upgrades ask
//! for, and every image must be present or buildable. What blocks is listed,
//! all of it at once, so the operator fixes it in one go.

use ankyra_catalog::services::mariadb;
use ankyra_catalog::{Catalog, ResolvedRecord};
use ankyra_store::{Migration, Store};
use serde::Serialize;

use crate::space::needed_kib;
use crate::status::ComponentStatus;
use crate::{Engine, EngineError};

/// One thing that stops a whole-cloud change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The component (or `mariadb` for the database volume).
    pub component: String,
    /// Which check: `health`, `finalize`, `disk` or `image`.
    pub check: String,
    /// What is wrong and what to do.
    pub reason: String,
}

/// What the pre-flight check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preflight {
    /// What stops the change (empty: it may go).
    pub blockers: Vec<Blocker>,
    /// What it will do on the way that is worth knowing (images to build).
    pub notes: Vec<String>,
}

impl Preflight {
    /// Whether nothing blocks.
    pub fn passed(&self) -> bool {
        self.blockers.is_empty()
    }
}

fn blocker(component: &str, check: &str, reason: String) -> Blocker {
    Blocker {
        component: component.into(),
        check: check.into(),
        reason,
    }
}

/// Every component that runs fewer healthy instances than it should.
fn health_blockers(cloud: &str, components: &[ComponentStatus]) -> Vec<Blocker> {
    components
        .iter()
        .filter(|c| c.health != "healthy" && c.desired_instances > 0)
        .map(|c| {
            blocker(
                &c.name,
                "health",
                format!(
                    "{}: {} ({} of {} instances healthy); see `ankyra status {cloud}` and repair it (`ankyra apply {cloud}`) first",
                    c.name, c.health, c.healthy, c.desired_instances
                ),
            )
        })
        .collect()
}

/// Every schema upgrade not finalized, except one to the very version the
/// target asks: going up again to where an earlier, rolled back upgrade went
/// is that same change (its expanded schema is what the target expects).
fn unfinalized_blockers(
    cloud: &str,
    migrations: &[Migration],
    target: &ResolvedRecord,
) -> Vec<Blocker> {
    migrations
        .iter()
        .filter(|m| m.finalized_at.is_none())
        .filter(|m| {
            let wanted = target
                .components
                .iter()
                .find(|c| c.name == m.component)
                .map(|c| c.version.to_string());
            wanted.as_deref() != Some(m.to_version.as_str())
        })
        .map(|m| {
            blocker(
                &m.component,
                "finalize",
                format!(
                    "{}: the upgrade {} → {} of revision {} is not finalized; run `ankyra finalize {cloud}` (or roll it back) first",
                    m.component, m.from_version, m.to_version, m.revision
                ),
            )
        })
        .collect()
}

impl Engine {
    /// Checks that the cloud, running `current` (revision `revision`), may
    /// be moved to `target`. Reads only.
    pub async fn preflight(
        &self,
        store: &dyn Store,
        current: &ResolvedRecord,
        revision: u64,
        target: &ResolvedRecord,
    ) -> Result<Preflight, EngineError> {
        let cloud = &current.cloud;
        let mut out = Preflight::default();
        let status = self.status(store, current, revision).await?;
        out.blockers
            .extend(health_blockers(cloud, &status.components));
        out.blockers.extend(unfinalized_blockers(
            cloud,
            &store.migrations(cloud)?,
            target,
        ));
        self.check_disk(current, target, &mut out).await;
        self.check_images(target, &mut out).await?;
        Ok(out)
    }

    /// Each component whose version goes up and that owns databases needs
    /// room for its schema upgrade on the database volume.
    async fn check_disk(
        &self,
        current: &ResolvedRecord,
        target: &ResolvedRecord,
        out: &mut Preflight,
    ) {
        let catalog = Catalog::get();
        for want in &target.components {
            let going_up = current
                .components
                .iter()
                .find(|c| c.name == want.name)
                .is_some_and(|c| c.version < want.version);
            let Ok((_, svc)) = catalog.component(&want.name) else {
                continue;
            };
            if !going_up || svc.databases().is_empty() {
                continue;
            }
            let Some(space) = self
                .database_space(&current.cloud, &want.name, svc.databases())
                .await
            else {
                continue;
            };
            let need = needed_kib(space.databases_kib);
            if space.free_kib < need {
                out.blockers.push(blocker(
                    mariadb::COMPONENT,
                    "disk",
                    format!(
                        "{}: the database volume has {} MiB free; a schema upgrade of {} asks for {} MiB. Free space on it or grow it first",
                        want.name,
                        space.free_kib / 1024,
                        want.name,
                        need.div_ceil(1024)
                    ),
                ));
            }
        }
    }

    /// Every image present, or built from one of Ankyra's recipes.
    async fn check_images(
        &self,
        target: &ResolvedRecord,
        out: &mut Preflight,
    ) -> Result<(), EngineError> {
        let catalog = Catalog::get();
        let mut seen = Vec::new();
        for c in &target.components {
            if seen.contains(&c.image) {
                continue;
            }
            seen.push(c.image.clone());
            if self.docker.inspect_image(&c.image).await?.is_some() {
                continue;
            }
            let buildable = catalog.component(&c.name).is_ok_and(|(_, svc)| {
                let release = svc.release_of(&c.version).unwrap_or(&target.release);
                svc.image(&c.version, release).reference() == c.image
            });
            if buildable {
                out.notes
                    .push(format!("{}: image {} will be built", c.name, c.image));
            } else {
                out.blockers.push(blocker(
                    &c.name,
                    "image",
                    format!(
                        "{}: image {} is not on the engine and Ankyra has no recipe for it (no registry is used); load it there first, or set a version Ankyra builds",
                        c.name, c.image
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(keystone: &str) -> ResolvedRecord {
        let text = format!(
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: pf\nspec:\n  release: \"2026.2\"\n  \
             components:\n    mariadb: {{}}\n    keystone:\n      version: {keystone}\n"
        );
        let record = ankyra_model::parse_record("pf.yaml", text.as_bytes()).expect("a record");
        ankyra_catalog::resolve(&record).expect("resolves")
    }

    fn migration(to: &str, finalized: bool) -> Migration {
        Migration {
            id: 1,
            cloud: "pf".into(),
            component: "keystone".into(),
            from_version: "29.1.0".into(),
            to_version: to.into(),
            revision: 2,
            created_at: String::new(),
            finalized_at: finalized.then(String::new),
            snapshot_bytes: 0,
        }
    }

    #[test]
    fn only_an_unfinalized_upgrade_elsewhere_than_the_target_blocks() {
        let want = target("30.0.0");
        // The same upgrade again (after a rollback) and a finalized one pass.
        assert!(unfinalized_blockers("pf", &[migration("30.0.0", false)], &want).is_empty());
        assert!(unfinalized_blockers("pf", &[migration("29.9.0", true)], &want).is_empty());
        let blocked = unfinalized_blockers("pf", &[migration("29.9.0", false)], &want);
        assert_eq!(blocked.len(), 1);
        assert_eq!(blocked[0].check, "finalize");
        assert!(
            blocked[0].reason.contains("ankyra finalize pf"),
            "{blocked:?}"
        );
    }

    #[test]
    fn unhealthy_components_block_healthy_and_unwanted_ones_do_not() {
        let status = |name: &str, health: &str, desired: u32| ComponentStatus {
            name: name.into(),
            desired_version: None,
            running_version: None,
            desired_instances: desired,
            instances: 0,
            healthy: 0,
            health: health.into(),
            containers: Vec::new(),
            bake: None,
            not_finalized: None,
            guests: None,
        };
        let blocked = health_blockers(
            "pf",
            &[
                status("keystone", "healthy", 1),
                status("glance", "starting", 1),
                status("nova-api", "missing", 1),
                status("old", "degraded", 0),
            ],
        );
        let names: Vec<&str> = blocked.iter().map(|b| b.component.as_str()).collect();
        assert_eq!(names, ["glance", "nova-api"]);
    }
}
