//! `apply`, `status`, `destroy`: the verbs that converge a cloud to a
//! revision or look at what runs.

use std::path::Path;
use std::sync::Arc;

use ankyra_catalog::ResolvedRecord;
use ankyra_engine::{ApplyOptions, ApplyOutcome, Reporter, StatusReport};
use ankyra_store::Store;
use serde::Serialize;

use crate::engine::{on_engine, reading_engine};
use crate::revisions::{commit_record, latest_resolved, resolved_revision};
use crate::{load_record, OpsError};

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The revision recorded (or the unchanged latest one).
    pub revision: u64,
    /// Whether a new revision was recorded.
    pub new_revision: bool,
    /// What the engine did.
    pub outcome: ApplyOutcome,
}

/// Records the file as a revision, builds missing images and converges the cloud to it.
/// A change that cannot keep the guests running is refused before anything is
/// recorded, unless `stop_guests` (the operator confirmed it).
pub fn apply(
    store: &mut dyn Store,
    state: &Path,
    file: &Path,
    author: &str,
    message: &str,
    stop_guests: bool,
    reporter: Arc<dyn Reporter>,
) -> Result<Applied, OpsError> {
    let loaded = load_record(file)?;
    if !stop_guests {
        // A cloud that does not run yet cannot be planned against: nothing to keep.
        if let Ok(plan) = crate::plan::plan_running(store, state, &loaded.resolved) {
            if let Some(e) = ankyra_engine::guests_at_risk(&plan) {
                return Err(e.into());
            }
        }
    }
    let commit = commit_record(store, &loaded.record, &loaded.resolved, author, message)?;
    let options = ApplyOptions {
        bootstrap: true,
        stop_guests,
        ..ApplyOptions::default()
    };
    let applied = apply_revision(
        store,
        state,
        &loaded.resolved,
        commit.revision.number,
        options,
        reporter,
    )?;
    Ok(Applied {
        new_revision: commit.created,
        ..applied
    })
}

/// Applies the latest revision of `cloud` (after `set`).
pub fn apply_latest(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    options: ApplyOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Applied, OpsError> {
    let (number, resolved) = latest_resolved(store, cloud)?;
    apply_revision(store, state, &resolved, number, options, reporter)
}

/// Applies revision `number`, whose record the caller has resolved (the one
/// it just recorded: never a revision another writer put on top since).
pub(crate) fn apply_revision(
    store: &mut dyn Store,
    state: &Path,
    resolved: &ResolvedRecord,
    number: u64,
    options: ApplyOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Applied, OpsError> {
    let outcome = on_engine(state, &resolved.engine, reporter, async |engine| {
        engine.ensure_images(resolved).await?;
        Ok(engine.apply(store, resolved, number, options).await?)
    })?;
    Ok(Applied {
        revision: number,
        new_revision: false,
        outcome,
    })
}

/// Each component's desired and running version, instances and health.
pub fn status(store: &dyn Store, state: &Path, cloud: &str) -> Result<StatusReport, OpsError> {
    let (number, resolved) = latest_resolved(store, cloud)?;
    reading_engine(state, &resolved.engine, async |engine| {
        Ok(engine.status(store, &resolved, number).await?)
    })
}

/// Removes a cloud's containers and network (volumes and files with `purge`)
/// from the engine its latest revision names (the local one for a cloud the
/// store does not know). A purged cloud is marked `destroyed` in the store,
/// so the fleet no longer counts it as running.
pub fn destroy(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    purge: bool,
) -> Result<Vec<String>, OpsError> {
    let latest = store.latest(cloud)?;
    let target = match &latest {
        Some(rev) => resolved_revision(rev)?.engine,
        None => ankyra_catalog::EngineTarget::local(),
    };
    let removed = reading_engine(state, &target, async |engine| {
        Ok(engine.destroy(cloud, purge).await?)
    })?;
    if let Some(rev) = latest {
        store.set_revision_status(
            cloud,
            rev.number,
            if purge { "destroyed" } else { "stopped" },
        )?;
    }
    Ok(removed)
}
