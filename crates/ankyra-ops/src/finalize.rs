//! `finalize`: make an upgrade final (contract the schema, retire the parked
//! instances) for one component or for everything pending on the cloud.

use std::path::Path;
use std::sync::Arc;

use ankyra_engine::{Event, Finalized, Reporter};
use ankyra_store::Store;

use crate::engine::on_engine;
use crate::revisions::latest_resolved;
use crate::OpsError;

/// `ankyra finalize CLOUD COMPONENT`: contract the schema of the version that runs.
pub fn finalize(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    component: &str,
    reporter: Arc<dyn Reporter>,
) -> Result<Finalized, OpsError> {
    let (number, resolved) = latest_resolved(store, cloud)?;
    on_engine(state, &resolved.engine, reporter, async |engine| {
        Ok(engine.finalize(store, &resolved, number, component).await?)
    })
}

/// The components with something to finalize (a schema upgrade not
/// finalized, or old instances parked for a rollback), in the upgrade order.
fn pending(
    store: &dyn Store,
    resolved: &ankyra_catalog::ResolvedRecord,
) -> Result<Vec<String>, OpsError> {
    let migrations = store.migrations(&resolved.cloud)?;
    let standbys = store.standbys(&resolved.cloud)?;
    Ok(resolved
        .components
        .iter()
        .map(|c| c.name.clone())
        .filter(|name| {
            migrations
                .iter()
                .any(|m| &m.component == name && m.finalized_at.is_none())
                || standbys.iter().any(|s| &s.component == name)
        })
        .collect())
}

/// `ankyra finalize CLOUD`: finalizes every pending component in the
/// upgrade (dependency) order, one at a time; the first failure stops it
/// (what was finalized stays so, the rest stays pending and is listed).
pub fn finalize_cloud(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<Finalized>, OpsError> {
    let (number, resolved) = latest_resolved(store, cloud)?;
    let todo = pending(store, &resolved)?;
    reporter.event(Event::Progress {
        component: cloud.into(),
        message: if todo.is_empty() {
            "nothing to finalize".into()
        } else {
            format!("finalizing {}", todo.join(", "))
        },
    });
    on_engine(state, &resolved.engine, reporter, async |engine| {
        let mut done = Vec::new();
        for component in &todo {
            done.push(engine.finalize(store, &resolved, number, component).await?);
        }
        Ok(done)
    })
}
