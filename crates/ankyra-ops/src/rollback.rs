//! `rollback`: put one component, or the whole cloud, back as an earlier
//! revision had it: a new revision, applied by the fastest safe path (a
//! load-balancer switch inside the bake window).

use std::path::Path;
use std::sync::Arc;

use ankyra_engine::{ApplyOptions, Reporter};
use ankyra_model::Record;
use ankyra_store::{Revision, Store};
use serde::Serialize;

use crate::deploy::{apply_revision, Applied};
use crate::revisions::{commit_on, latest, resolved_revision, stored_record};
use crate::OpsError;

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    /// The component.
    pub component: String,
    /// The revision whose component settings were taken.
    pub from_revision: u64,
    /// The version it runs again.
    pub version: String,
    /// The apply of the new revision.
    pub applied: Applied,
}

/// A component's settings (version, image, config) as one comparable string.
fn fingerprint(resolved: &ankyra_catalog::ResolvedRecord, component: &str) -> String {
    resolved
        .components
        .iter()
        .find(|c| c.name == component)
        .map(|c| {
            format!(
                "{}|{}|{}",
                c.version,
                c.image,
                serde_json::to_string(&c.config).unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

/// The component's version in a resolved record ("" when it has none).
fn version_in(resolved: &ankyra_catalog::ResolvedRecord, component: &str) -> String {
    resolved
        .components
        .iter()
        .find(|c| c.name == component)
        .map(|c| c.version.to_string())
        .unwrap_or_default()
}

/// The newest applied revision before `latest` for which `wanted` holds.
fn last_applied_where(
    store: &dyn Store,
    latest: &Revision,
    wanted: impl Fn(&Revision) -> Result<bool, OpsError>,
) -> Result<Option<Revision>, OpsError> {
    for summary in store.history(&latest.cloud)?.iter().rev() {
        if summary.number == latest.number || summary.status.as_deref() != Some("applied") {
            continue;
        }
        let rev = store.revision(&latest.cloud, summary.number)?;
        if wanted(&rev)? {
            return Ok(Some(rev));
        }
    }
    Ok(None)
}

/// The component's settings (version, image, config) in one revision.
fn component_of(rev: &Revision, component: &str) -> Result<(Record, String), OpsError> {
    let record = stored_record(rev)?;
    let resolved = ankyra_catalog::resolve(&record)?;
    Ok((record, fingerprint(&resolved, component)))
}

/// `ankyra rollback CLOUD COMPONENT [--to REV]`: a new revision equal to the
/// latest one except for `component`, which gets its settings from `to` or
/// from the last applied revision where they differed; then applied by the
/// fastest safe path (a load-balancer switch inside the bake window).
#[allow(clippy::too_many_arguments)]
pub fn rollback(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    component: &str,
    to: Option<u64>,
    restore_snapshot: bool,
    author: &str,
    reporter: Arc<dyn Reporter>,
) -> Result<RolledBack, OpsError> {
    let latest = latest(store, cloud)?;
    let (mut record, now) = component_of(&latest, component)?;
    if !record.spec.components.contains_key(component) {
        return Err(OpsError::Rollback {
            cloud: cloud.into(),
            component: component.into(),
            reason: format!(
                "revision {} has no component `{component}`; `ankyra show {cloud}` lists them",
                latest.number
            ),
        });
    }
    let target = match to {
        Some(n) => store.revision(cloud, n)?,
        None => last_applied_where(store, &latest, |rev| {
            Ok(component_of(rev, component)?.1 != now)
        })?
        .ok_or_else(|| OpsError::Rollback {
            cloud: cloud.into(),
            component: component.into(),
            reason: "no earlier applied revision runs it differently; \
                     `ankyra history` lists the revisions, `--to REV` picks one"
                .into(),
        })?,
    };
    let (old_record, _) = component_of(&target, component)?;
    let Some(old_spec) = old_record.spec.components.get(component).cloned() else {
        return Err(OpsError::Rollback {
            cloud: cloud.into(),
            component: component.into(),
            reason: format!("revision {} has no component `{component}`", target.number),
        });
    };
    record
        .spec
        .components
        .insert(component.to_string(), old_spec);
    let resolved = ankyra_catalog::resolve(&record)?;
    let version = version_in(&resolved, component);
    // Refused before anything is recorded: no revision the cloud cannot reach.
    ankyra_engine::check_downgrade(
        store,
        cloud,
        component,
        &version_in(&resolved_revision(&latest)?, component),
        &version,
        restore_snapshot,
    )?;
    // On top of the revision edited, or not at all (StoreError::Conflict).
    let commit = commit_on(
        store,
        Some(&latest),
        &record,
        &resolved,
        author,
        &format!(
            "rollback {component} to revision {} ({version})",
            target.number
        ),
    )?;
    let applied = apply_revision(
        store,
        state,
        &resolved,
        commit.revision.number,
        ApplyOptions {
            restore_snapshot,
            ..ApplyOptions::default()
        },
        reporter,
    )?;
    Ok(RolledBack {
        component: component.into(),
        from_revision: target.number,
        version,
        applied,
    })
}

/// One component a whole-cloud rollback moves.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentBack {
    /// The component.
    pub component: String,
    /// The version it ran.
    pub from: String,
    /// The version it runs again.
    pub to: String,
}

/// What a whole-cloud rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct CloudRolledBack {
    /// The revision whose components were taken.
    pub from_revision: u64,
    /// Every component that differed, in the order they went back.
    pub components: Vec<ComponentBack>,
    /// The apply of the new revision.
    pub applied: Applied,
}

fn cloud_rollback_error(cloud: &str, reason: String) -> OpsError {
    OpsError::Rollback {
        cloud: cloud.into(),
        component: "every component".into(),
        reason,
    }
}

/// The revision a whole-cloud rollback goes back to: `to`, else the newest
/// applied revision before `latest` whose record differs from it.
fn cloud_target(
    store: &dyn Store,
    latest: &Revision,
    to: Option<u64>,
) -> Result<Revision, OpsError> {
    let cloud = latest.cloud.as_str();
    if let Some(n) = to {
        return Ok(store.revision(cloud, n)?);
    }
    last_applied_where(store, latest, |rev| Ok(rev.content_hash != latest.content_hash))?
        .ok_or_else(|| {
            cloud_rollback_error(
                cloud,
                format!(
                    "no earlier applied revision differs from revision {}; `ankyra history {cloud}` lists them, `--to REV` picks one",
                    latest.number
                ),
            )
        })
}

/// `ankyra rollback CLOUD --to REV`: one new revision in which every
/// component is as REV had it (default: the last applied revision before the
/// latest that differs), applied in the reverse of the upgrade order: what
/// depends on others goes back first (nova-compute before nova's control
/// services, keystone last). Inside the bake window an API component is a
/// load-balancer switch. Going back past a finalized upgrade is refused
/// before anything is recorded, unless `restore_snapshot`.
#[allow(clippy::too_many_arguments)]
pub fn rollback_cloud(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    to: Option<u64>,
    restore_snapshot: bool,
    author: &str,
    reporter: Arc<dyn Reporter>,
) -> Result<CloudRolledBack, OpsError> {
    let latest = latest(store, cloud)?;
    let target = cloud_target(store, &latest, to)?;
    let mut record = stored_record(&latest)?;
    let old = stored_record(&target)?;
    // Components and the release they default to come from the target;
    // metadata, hosts and rollout settings stay as they are now.
    record.spec.components = old.spec.components.clone();
    record.spec.release = old.spec.release.clone();
    let resolved = ankyra_catalog::resolve(&record)?;
    let now = resolved_revision(&latest)?;
    let mut moved: Vec<ComponentBack> = Vec::new();
    for c in &resolved.components {
        if fingerprint(&now, &c.name) == fingerprint(&resolved, &c.name) {
            continue;
        }
        let from = version_in(&now, &c.name);
        let to = c.version.to_string();
        // Refused before anything is recorded: no revision the cloud cannot reach.
        ankyra_engine::check_downgrade(store, cloud, &c.name, &from, &to, restore_snapshot)?;
        moved.push(ComponentBack {
            component: c.name.clone(),
            from,
            to,
        });
    }
    if moved.is_empty() {
        return Err(cloud_rollback_error(
            cloud,
            format!(
                "revision {} runs every component as revision {} does: nothing to go back to",
                latest.number, target.number
            ),
        ));
    }
    // Reverse of the upgrade (dependency) order, as the plan runs them.
    moved.reverse();
    let commit = commit_on(
        store,
        Some(&latest),
        &record,
        &resolved,
        author,
        &format!("rollback to revision {} (whole cloud)", target.number),
    )?;
    let applied = apply_revision(
        store,
        state,
        &resolved,
        commit.revision.number,
        ApplyOptions {
            restore_snapshot,
            rollback: true,
            ..ApplyOptions::default()
        },
        reporter,
    )?;
    Ok(CloudRolledBack {
        from_revision: target.number,
        components: moved,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with revision 1 (keystone 27.1.0) and 2 (28.1.0) applied and
    /// 3 (29.1.0) failed.
    fn three_revisions(dir: &Path) -> anyhow::Result<Box<dyn Store>> {
        let mut store = ankyra_store::open(&dir.join("store.db").display().to_string())?;
        let file = dir.join("rb.yaml");
        std::fs::write(
            &file,
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: rb\nspec:\n  release: \"2025.1\"\n  \
             components:\n    mariadb: {}\n    memcached: {}\n    haproxy: {}\n    keystone:\n      version: 27.1.0\n",
        )?;
        crate::commit(&mut *store, &file, "tester", "first")?;
        store.set_revision_status("rb", 1, "applied")?;
        crate::set(
            &mut *store,
            "rb",
            &["keystone=28.1.0".into()],
            "tester",
            None,
        )?;
        store.set_revision_status("rb", 2, "applied")?;
        crate::set(
            &mut *store,
            "rb",
            &["keystone=29.1.0".into()],
            "tester",
            None,
        )?;
        store.set_revision_status("rb", 3, "failed")?;
        Ok(store)
    }

    #[test]
    fn a_whole_cloud_rollback_goes_to_the_last_applied_revision_that_differs() -> anyhow::Result<()>
    {
        let dir = tempfile::tempdir()?;
        let mut store = three_revisions(dir.path())?;
        let latest = latest(&*store, "rb")?;
        // A failed revision is never a target; the latest is never its own.
        assert_eq!(cloud_target(&*store, &latest, None)?.number, 2);
        assert_eq!(cloud_target(&*store, &latest, Some(1))?.number, 1);
        store.set_revision_status("rb", 2, "failed")?;
        assert_eq!(cloud_target(&*store, &latest, None)?.number, 1);
        store.set_revision_status("rb", 1, "failed")?;
        let err = cloud_target(&*store, &latest, None).expect_err("nothing applied");
        assert!(
            err.to_string().contains("no earlier applied revision"),
            "{err}"
        );
        Ok(())
    }
}
