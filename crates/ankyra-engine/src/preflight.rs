//! The pre-flight check of a whole-cloud change: before anything is recorded
//! or touched, every component must be healthy, no earlier upgrade may be left
//! unfinalized, the database volume must hold what the schema upgrades ask
//! for, and every image must be present or buildable. What blocks is listed,
//! all of it at once, so the operator fixes it in one go.

use ankyra_catalog::services::mariadb;
use ankyra_catalog::{Catalog, ResolvedRecord};
use ankyra_store::Store;
use serde::Serialize;

use crate::space::needed_kib;
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
        for c in &status.components {
            if c.health != "healthy" && c.desired_instances > 0 {
                out.blockers.push(blocker(
                    &c.name,
                    "health",
                    format!(
                        "{}: {} ({} of {} instances healthy); see `ankyra status {cloud}` and repair it (`ankyra apply {cloud}`) first",
                        c.name, c.health, c.healthy, c.desired_instances
                    ),
                ));
            }
        }
        // Going up again to where an earlier, rolled back upgrade went is that
        // same change: its expanded schema is what the target expects.
        for m in store.migrations(cloud)? {
            if m.finalized_at.is_some() {
                continue;
            }
            let target_version = target
                .components
                .iter()
                .find(|c| c.name == m.component)
                .map(|c| c.version.to_string());
            if target_version.as_deref() != Some(m.to_version.as_str()) {
                out.blockers.push(blocker(
                    &m.component,
                    "finalize",
                    format!(
                        "{}: the upgrade {} → {} of revision {} is not finalized; run `ankyra finalize {cloud}` (or roll it back) first",
                        m.component, m.from_version, m.to_version, m.revision
                    ),
                ));
            }
        }
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
