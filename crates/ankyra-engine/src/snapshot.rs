//! Database snapshots taken before a schema upgrade and restored only on the
//! operator's explicit request. The dump is made by a one-shot container of
//! the mariadb image (one transaction, so it is consistent while the old
//! version keeps writing) and kept in the store, not on a volume.

use std::path::PathBuf;

use ankyra_catalog::openstack::{restore_job, snapshot_job, SNAPSHOT_DIR};
use ankyra_catalog::{Catalog, CloudContext, Job};
use ankyra_runtime::{BindMount, ContainerSpec, NetworkAttachment};

use crate::run::{Engine, Prepared};
use crate::{files, naming, EngineError};

const DUMP_FILE: &str = "dump.sql";

impl Engine {
    fn snapshot_dir(&self, cloud: &str, service: &str) -> PathBuf {
        self.cloud_dir(cloud).join("snapshots").join(service)
    }

    /// Dumps the databases of `component`'s service; None when it owns none.
    pub(crate) async fn snapshot(
        &self,
        p: &Prepared,
        cx: &CloudContext,
        component: &str,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let Ok((_, svc)) = Catalog::get().component(component) else {
            return Ok(None);
        };
        if svc.databases().is_empty() {
            return Ok(None);
        }
        let dir = self.snapshot_dir(&cx.cloud, svc.name());
        let job = snapshot_job(cx, svc.name(), svc.databases(), DUMP_FILE);
        self.run_db_job(p, component, &job, &dir).await?;
        let path = dir.join(DUMP_FILE);
        let bytes = std::fs::read(&path).map_err(|e| EngineError::Snapshot {
            component: component.into(),
            detail: format!("cannot read the dump {}: {e}", path.display()),
        })?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Some(bytes))
    }

    /// Loads a snapshot back into `component`'s databases (what was written
    /// after it is lost: the caller has said so to the operator).
    pub(crate) async fn restore(
        &self,
        p: &Prepared,
        cx: &CloudContext,
        component: &str,
        dump: &[u8],
    ) -> Result<(), EngineError> {
        let Ok((_, svc)) = Catalog::get().component(component) else {
            return Ok(());
        };
        let dir = self.snapshot_dir(&cx.cloud, svc.name());
        files::ensure_dir(&dir)?;
        let path = dir.join(DUMP_FILE);
        files::write_in_place(&path, &String::from_utf8_lossy(dump), true)?;
        let job = restore_job(cx, svc.name(), DUMP_FILE);
        let res = self.run_db_job(p, component, &job, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        res
    }

    async fn run_db_job(
        &self,
        p: &Prepared,
        component: &str,
        job: &Job,
        dir: &std::path::Path,
    ) -> Result<(), EngineError> {
        files::ensure_dir(dir)?;
        let mut binds = files::materialize(&dir.join("files"), &job.files)?;
        binds.push(BindMount {
            source: dir.display().to_string(),
            target: SNAPSHOT_DIR.into(),
            read_only: false,
        });
        let name = naming::job(&p.cloud, "snapshot", 0);
        self.docker.remove_container(&name).await?;
        let spec = ContainerSpec {
            name: name.clone(),
            image: p.images.get("mariadb").cloned().unwrap_or_default(),
            cmd: Some(job.command.clone()),
            binds,
            labels: naming::cloud_labels(&p.cloud),
            network: Some(NetworkAttachment {
                network: p.network.name.clone(),
                aliases: vec![],
                ipv4: None,
            }),
            ..Default::default()
        };
        let outcome = self.docker.run_to_completion(&spec, 20).await;
        let _ = self.docker.remove_container(&name).await;
        let _ = std::fs::remove_dir_all(dir.join("files"));
        let outcome = outcome?;
        if outcome.exit_code != 0 {
            return Err(EngineError::Snapshot {
                component: component.into(),
                detail: format!(
                    "`{}` exited with {}:\n{}",
                    job.name, outcome.exit_code, outcome.output_tail
                ),
            });
        }
        Ok(())
    }
}
