//! `plan`: what would change, step by step, against what runs on the engine
//! or against a recorded revision.

use std::path::Path;

use ankyra_plan::{plan, Plan};
use ankyra_store::Store;

use crate::engine::reading_engine;
use crate::revisions::{desired, latest, observed_from, resolved_revision};
use crate::{load_record, OpsError};

/// Plans a resolved record against what runs on the engine; changes nothing.
pub fn plan_running(
    store: &mut dyn Store,
    state: &Path,
    resolved: &ankyra_catalog::ResolvedRecord,
) -> Result<Plan, OpsError> {
    reading_engine(state, &resolved.engine, async |engine| {
        Ok(engine.plan(store, resolved).await?)
    })
}

/// Plans a record file: against what runs on the engine, or with `offline`
/// against the cloud's latest recorded revision (an empty cloud when none).
pub fn plan_file(
    store: &mut dyn Store,
    state: &Path,
    file: &Path,
    offline: bool,
) -> Result<Plan, OpsError> {
    let loaded = load_record(file)?;
    if !offline {
        return plan_running(store, state, &loaded.resolved);
    }
    let current = store.latest(loaded.record.name().as_str())?;
    Ok(plan(
        &desired(&loaded.resolved),
        &observed_from(current.as_ref())?,
    )?)
}

/// Plans a cloud's latest revision against what runs, or against revision
/// `from` (with `offline` and no `from`: the revision before it).
pub fn plan_cloud(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    from: Option<u64>,
    offline: bool,
) -> Result<Plan, OpsError> {
    let target = latest(store, cloud)?;
    if from.is_none() && !offline {
        let resolved = resolved_revision(&target)?;
        return plan_running(store, state, &resolved);
    }
    let base = match from {
        Some(n) => Some(store.revision(cloud, n)?),
        None if target.number > 1 => Some(store.revision(cloud, target.number - 1)?),
        None => None,
    };
    let want = desired(&resolved_revision(&target)?);
    Ok(plan(&want, &observed_from(base.as_ref())?)?)
}
