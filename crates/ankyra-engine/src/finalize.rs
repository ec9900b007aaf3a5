//! `ankyra finalize`: contract a component's schema for the version it runs.

use ankyra_catalog::{Catalog, ResolvedRecord};
use ankyra_store::{StepState, Store};
use serde::Serialize;

use crate::engine::Engine;
use crate::{naming, EngineError};

/// What `ankyra finalize` did.
#[derive(Debug, Clone, Serialize)]
pub struct Finalized {
    /// The component.
    pub component: String,
    /// The version whose schema is now final.
    pub version: String,
    /// The contract jobs that ran.
    pub jobs: Vec<String>,
    /// Migrations marked finalized.
    pub migrations: u64,
}

impl Engine {
    /// `ankyra finalize`: runs the component's contract jobs with the image it
    /// runs now, marks its migrations finalized and retires its parked instances.
    pub async fn finalize(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        component: &str,
    ) -> Result<Finalized, EngineError> {
        self.with_lock(store, &r.cloud, async |store, token| {
            self.finalize_locked(store, r, revision, component, token)
                .await
        })
        .await
    }

    async fn finalize_locked(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        component: &str,
        token: u64,
    ) -> Result<Finalized, EngineError> {
        let p = self.prepare(store, r, false).await?;
        let spec = r
            .components
            .iter()
            .find(|c| c.name == component)
            .ok_or_else(|| EngineError::NotRunnable {
                component: component.into(),
            })?;
        let running = self.active(&p).await?;
        let runs_wanted = running.get(component).is_some_and(|l| {
            !l.is_empty()
                && l.iter()
                    .all(|c| c.labels.get(naming::LABEL_VERSION) == Some(&spec.version.to_string()))
        });
        if !runs_wanted {
            return Err(EngineError::Refused {
                component: component.into(),
                to: spec.version.to_string(),
                reason: "finalize contracts the schema for the version the record asks for, \
                         and that version does not run yet: run `ankyra apply` first"
                    .into(),
            });
        }
        let op = store.journal_begin(&r.cloud, revision, "finalize", token)?;
        store.journal_step(op, 0, component, StepState::Started, "contract")?;
        let result = async {
            let c =
                self.component(r, &p, spec, revision)
                    .ok_or_else(|| EngineError::NotRunnable {
                        component: component.into(),
                    })?;
            if let Some(sb) = p.standby.iter().find(|s| s.component == component) {
                // The old code cannot run on a contracted schema: the parked instances go first.
                self.retire(&p, component, &sb.containers).await?;
            }
            let jobs = Catalog::get()
                .component(component)
                .map(|(_, svc)| {
                    svc.finalize_jobs(component, &self.context(r, &p.network, &p.secrets))
                })
                .unwrap_or_default();
            let refs: Vec<&ankyra_catalog::Job> = jobs.iter().collect();
            c.run_jobs(&refs).await?;
            Ok::<Vec<String>, EngineError>(jobs.iter().map(|j| j.name.clone()).collect())
        }
        .await;
        match result {
            Ok(jobs) => {
                store.clear_standby(&r.cloud, component)?;
                let migrations = store.finalize_migrations(&r.cloud, component)?;
                store.journal_step(op, 0, component, StepState::Done, "")?;
                store.journal_end(op, "done")?;
                Ok(Finalized {
                    component: component.into(),
                    version: spec.version.to_string(),
                    jobs,
                    migrations,
                })
            }
            Err(e) => {
                store.journal_step(op, 0, component, StepState::Failed, &e.to_string())?;
                store.journal_end(op, "failed")?;
                Err(e)
            }
        }
    }
}
