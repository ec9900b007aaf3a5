//! `apply CLOUD`, `rollback` and `finalize`: changing a running cloud to a
//! recorded revision, going back, and making an upgrade final.

use std::path::Path;
use std::sync::Arc;

use ankyra_engine::{ApplyOptions, Engine, Finalized, Reporter};
use ankyra_model::Record;
use ankyra_store::{Revision, Store};
use serde::Serialize;

use crate::deploy::{latest_number, runtime, Applied};
use crate::revisions::{commit_on, resolved_revision, stored_record};
use crate::OpsError;

/// Applies the latest revision of `cloud` (after `set` or `rollback`).
pub fn apply_latest(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    options: ApplyOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Applied, OpsError> {
    let number = latest_number(store, cloud)?;
    let resolved = resolved_revision(&store.revision(cloud, number)?)?;
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let engine = Engine::connect_to(state.to_path_buf(), reporter, &resolved.engine).await?;
        engine.ensure_images(&resolved).await?;
        engine.apply(store, &resolved, number, options).await
    })?;
    Ok(Applied {
        revision: number,
        new_revision: false,
        outcome,
    })
}

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

/// The component's settings (version, image, config) in one revision.
fn component_of(rev: &Revision, component: &str) -> Result<(Record, String), OpsError> {
    let record = stored_record(rev)?;
    let resolved = resolved_revision(rev)?;
    let fingerprint = resolved
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
        .unwrap_or_default();
    Ok((record, fingerprint))
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
    let latest = store.revision(cloud, latest_number(store, cloud)?)?;
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
        None => {
            let mut found = None;
            for summary in store.history(cloud)?.iter().rev() {
                if summary.number == latest.number || summary.status.as_deref() != Some("applied") {
                    continue;
                }
                let rev = store.revision(cloud, summary.number)?;
                if component_of(&rev, component)?.1 != now {
                    found = Some(rev);
                    break;
                }
            }
            found.ok_or_else(|| OpsError::Rollback {
                cloud: cloud.into(),
                component: component.into(),
                reason: "no earlier applied revision runs it differently; \
                         `ankyra history` lists the revisions, `--to REV` picks one"
                    .into(),
            })?
        }
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
    let version_in = |r: &ankyra_catalog::ResolvedRecord| {
        r.components
            .iter()
            .find(|c| c.name == component)
            .map(|c| c.version.to_string())
            .unwrap_or_default()
    };
    let version = version_in(&resolved);
    // Refused before anything is recorded: no revision the cloud cannot reach.
    ankyra_engine::check_downgrade(
        store,
        cloud,
        component,
        &version_in(&resolved_revision(&latest)?),
        &version,
        restore_snapshot,
    )?;
    // On top of the revision edited, or not at all (StoreError::Conflict).
    commit_on(
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
    let applied = apply_latest(
        store,
        state,
        cloud,
        ApplyOptions {
            bootstrap: false,
            restore_snapshot,
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

/// `ankyra finalize CLOUD COMPONENT`: contract the schema of the version that runs.
pub fn finalize(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    component: &str,
    reporter: Arc<dyn Reporter>,
) -> Result<Finalized, OpsError> {
    let number = latest_number(store, cloud)?;
    let resolved = resolved_revision(&store.revision(cloud, number)?)?;
    let rt = runtime()?;
    Ok(rt.block_on(async {
        let engine = Engine::connect_to(state.to_path_buf(), reporter, &resolved.engine).await?;
        engine.finalize(store, &resolved, number, component).await
    })?)
}
