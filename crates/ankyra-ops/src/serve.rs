//! `serve`: keep every applied cloud as recorded (replace dead containers,
//! fix drift), optionally answering the read-only HTTP API.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ankyra_engine::{Engine, Reporter};
use ankyra_store::Store;

use crate::engine::runtime;
use crate::revisions::resolved_revision;
use crate::{Http, OpsError};

/// The revision `serve` keeps `cloud` at: the last applied one, unless the
/// cloud was destroyed or stopped after it (revisions recorded since but never
/// applied do not bring it back).
fn kept_revision(store: &dyn Store, cloud: &str) -> Result<Option<u64>, OpsError> {
    let history = store.history(cloud)?;
    let last_marked = history.iter().rev().find(|r| {
        matches!(
            r.status.as_deref(),
            Some("applied" | "destroyed" | "stopped")
        )
    });
    Ok(last_marked
        .filter(|r| r.status.as_deref() == Some("applied"))
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
    runtime()?.block_on(async {
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
                let rev = match kept_revision(store, &cloud) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destroyed_or_stopped_cloud_is_not_kept() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = ankyra_store::open(&dir.path().join("store.db").display().to_string())?;
        let file = dir.path().join("sv.yaml");
        std::fs::write(
            &file,
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: sv\nspec:\n  release: \"2025.1\"\n  \
             components:\n    mariadb: {}\n",
        )?;
        crate::commit(&mut *store, &file, "tester", "first")?;
        assert_eq!(kept_revision(&*store, "sv")?, None, "never applied");
        store.set_revision_status("sv", 1, "applied")?;
        assert_eq!(kept_revision(&*store, "sv")?, Some(1));
        for gone in ["destroyed", "stopped"] {
            store.set_revision_status("sv", 1, gone)?;
            assert_eq!(kept_revision(&*store, "sv")?, None, "{gone}");
        }
        // A revision recorded after the destroy, never applied, does not bring
        // the destroyed one back.
        crate::set(
            &mut *store,
            "sv",
            &["mariadb.replicas=1".into()],
            "tester",
            None,
        )?;
        assert_eq!(kept_revision(&*store, "sv")?, None);
        store.set_revision_status("sv", 2, "applied")?;
        assert_eq!(kept_revision(&*store, "sv")?, Some(2));
        Ok(())
    }
}
