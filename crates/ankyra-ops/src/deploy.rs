//! `apply`, `status`, `serve`, `destroy`: the verbs that touch the container engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ankyra_engine::{ApplyOutcome, Engine, Reporter, StatusReport};
use ankyra_store::{Store, StoreError};
use serde::Serialize;

use crate::revisions::{commit_record, resolved_revision};
use crate::{load_record, Http, OpsError};

/// The async runtime the engine's verbs run on (two cores: two workers).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, OpsError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| OpsError::Runtime { source })
}

/// Where a store's clouds keep their files (configs, clouds.yaml): beside the store.
pub fn state_dir(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

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
pub fn apply(
    store: &mut dyn Store,
    state: &Path,
    file: &Path,
    author: &str,
    message: &str,
    reporter: Arc<dyn Reporter>,
) -> Result<Applied, OpsError> {
    let loaded = load_record(file)?;
    let commit = commit_record(store, &loaded.record, &loaded.resolved, author, message)?;
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let engine =
            Engine::connect_to(state.to_path_buf(), reporter, &loaded.resolved.engine).await?;
        engine.ensure_images(&loaded.resolved).await?;
        engine
            .apply(
                store,
                &loaded.resolved,
                commit.revision.number,
                ankyra_engine::ApplyOptions {
                    bootstrap: true,
                    restore_snapshot: false,
                },
            )
            .await
    })?;
    Ok(Applied {
        revision: commit.revision.number,
        new_revision: commit.created,
        outcome,
    })
}

pub(crate) fn latest_number(store: &dyn Store, cloud: &str) -> Result<u64, OpsError> {
    store.latest(cloud)?.map(|r| r.number).ok_or_else(|| {
        OpsError::Store(StoreError::UnknownCloud {
            cloud: cloud.into(),
        })
    })
}

/// Plans a resolved record against what runs on the engine; changes nothing.
pub fn plan_running(
    store: &mut dyn Store,
    state: &Path,
    resolved: &ankyra_catalog::ResolvedRecord,
) -> Result<ankyra_plan::Plan, OpsError> {
    let rt = runtime()?;
    Ok(rt.block_on(async {
        let engine = Engine::connect_to(
            state.to_path_buf(),
            Arc::new(ankyra_engine::NoReporter),
            &resolved.engine,
        )
        .await?;
        engine.plan(store, resolved).await
    })?)
}

/// Each component's desired and running version, instances and health.
pub fn status(store: &dyn Store, state: &Path, cloud: &str) -> Result<StatusReport, OpsError> {
    let number = latest_number(store, cloud)?;
    let resolved = resolved_revision(&store.revision(cloud, number)?)?;
    let rt = runtime()?;
    Ok(rt.block_on(async {
        let engine = Engine::connect_to(
            state.to_path_buf(),
            Arc::new(ankyra_engine::NoReporter),
            &resolved.engine,
        )
        .await?;
        engine.status(store, &resolved, number).await
    })?)
}

/// Removes a cloud's containers and network (volumes and files with `purge`)
/// from the engine its latest revision names (the local one for a cloud the
/// store does not know).
pub fn destroy(
    store: &dyn Store,
    state: &Path,
    cloud: &str,
    purge: bool,
) -> Result<Vec<String>, OpsError> {
    let target = match store.latest(cloud)? {
        Some(rev) => resolved_revision(&rev)?.engine,
        None => ankyra_catalog::EngineTarget::local(),
    };
    let rt = runtime()?;
    Ok(rt.block_on(async {
        let engine = Engine::connect_to(
            state.to_path_buf(),
            Arc::new(ankyra_engine::NoReporter),
            &target,
        )
        .await?;
        engine.destroy(cloud, purge).await
    })?)
}

/// The latest revision of `cloud` that was applied, if any.
fn applied_revision(store: &dyn Store, cloud: &str) -> Result<Option<u64>, OpsError> {
    Ok(store
        .history(cloud)?
        .iter()
        .rev()
        .find(|r| r.status.as_deref() == Some("applied"))
        .map(|r| r.number))
}

/// Reconciles every applied cloud (or `only`) every `interval` until SIGINT or
/// SIGTERM; with `http`, answers its read-only API meanwhile (see [`Http`]).
///
/// The token file is read or created and the address bound before the first
/// pass: a port in use fails at once.
pub fn serve(
    store: &mut dyn Store,
    state: &Path,
    only: &[String],
    interval: Duration,
    reporter: Arc<dyn Reporter>,
    http: Option<Http>,
) -> Result<(), OpsError> {
    let rt = runtime()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        // Both made before the first pass, so a signal that comes during a
        // pass is kept and ends the loop after it.
        let on_signal = |kind| signal(kind).map_err(|source| OpsError::Runtime { source });
        let mut term = on_signal(SignalKind::terminate())?;
        let mut int = on_signal(SignalKind::interrupt())?;
        let server = match http {
            None => None,
            Some(http) => {
                let token = crate::http::load_or_create_token(&http.token_file)?;
                let (listener, bound) = crate::http::bind(http.listen).await?;
                // The token file's path, never the token.
                tracing::info!(
                    token_file = %http.token_file.display(),
                    "listening on http://{bound}"
                );
                (http.on_listening)(bound, &http.token_file);
                Some(tokio::spawn(crate::http::run(listener, token.into(), http.open)))
            }
        };
        // One client per engine, made when a cloud on it is first seen; an
        // engine that cannot be reached is reported and tried again next pass.
        let mut engines: std::collections::HashMap<String, Engine> = Default::default();
        tracing::info!(interval = ?interval, "serving");
        loop {
            let clouds = if only.is_empty() {
                store.clouds()?
            } else {
                only.to_vec()
            };
            for cloud in clouds {
                let rev = match applied_revision(store, &cloud) {
                    Ok(Some(n)) => n,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(%cloud, error = %e, "cannot read the cloud's history");
                        continue;
                    }
                };
                let resolved = match store
                    .revision(&cloud, rev)
                    .map_err(OpsError::from)
                    .and_then(|r| resolved_revision(&r))
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(%cloud, error = %e, "cannot read the applied revision");
                        continue;
                    }
                };
                let key = resolved.engine.address.clone();
                if !engines.contains_key(&key) {
                    match Engine::connect_to(state.to_path_buf(), reporter.clone(), &resolved.engine)
                        .await
                    {
                        Ok(e) => {
                            engines.insert(key.clone(), e);
                        }
                        Err(e) => {
                            tracing::warn!(%cloud, error = %e, "cannot reach the cloud's engine; will retry");
                            continue;
                        }
                    }
                }
                let Some(engine) = engines.get(&key) else {
                    continue;
                };
                match engine.reconcile(store, &resolved, rev).await {
                    Ok(Some(done)) => {
                        tracing::warn!(%cloud, steps = done.plan.steps.len(), "repaired drift")
                    }
                    Ok(None) => tracing::debug!(%cloud, "as wanted"),
                    Err(e) => {
                        tracing::warn!(%cloud, error = %e, "reconciliation failed; will retry")
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = int.recv() => break,
                _ = term.recv() => break,
            }
        }
        if let Some(server) = server {
            server.abort();
        }
        tracing::info!("stopped serving");
        Ok::<(), OpsError>(())
    })
}
