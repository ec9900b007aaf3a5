//! Database snapshots taken before a schema upgrade and restored only on the
//! operator's explicit request. The dump is made by a one-shot container of
//! the mariadb image (one transaction, so it is consistent while the old
//! version keeps writing) and kept in the store, not on a volume.

use std::path::PathBuf;

use ankyra_catalog::openstack::{restore_job, snapshot_job, SNAPSHOT_DIR};
use ankyra_catalog::{Catalog, CloudContext, Job};
use ankyra_runtime::{BindMount, ContainerFile, ContainerSpec, NetworkAttachment};

use crate::engine::{Engine, Prepared};
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
        if let Some(dump) = self.run_db_job(p, component, &job, &dir, None).await? {
            return Ok(Some(dump));
        }
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
        let job = restore_job(cx, svc.name(), DUMP_FILE);
        if self.is_remote() {
            return self
                .run_db_job(p, component, &job, &dir, Some(dump))
                .await
                .map(|_| ());
        }
        files::ensure_dir(&dir)?;
        let path = dir.join(DUMP_FILE);
        files::write_in_place(&path, &String::from_utf8_lossy(dump), true)?;
        let res = self.run_db_job(p, component, &job, &dir, None).await;
        let _ = std::fs::remove_dir_all(&dir);
        res.map(|_| ())
    }

    /// Runs a dump or restore job in a one-shot mariadb container. On the
    /// local engine the dump goes through `dir`, mounted at SNAPSHOT_DIR; on a
    /// remote one `dump_in` is copied in and the dump copied out of the
    /// stopped container (returned).
    async fn run_db_job(
        &self,
        p: &Prepared,
        component: &str,
        job: &Job,
        dir: &std::path::Path,
        dump_in: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let mut binds = Vec::new();
        let mut copied = Vec::new();
        let dump_path = format!("{SNAPSHOT_DIR}/{DUMP_FILE}");
        if self.is_remote() {
            copied = files::to_container_files(&job.files);
            // The folder must exist for the dump to be written into it.
            copied.push(ContainerFile {
                path: format!("{SNAPSHOT_DIR}/.keep"),
                content: Vec::new(),
                mode: 0o600,
            });
            if let Some(dump) = dump_in {
                copied.push(ContainerFile {
                    path: dump_path.clone(),
                    content: dump.to_vec(),
                    mode: 0o600,
                });
            }
        } else {
            files::ensure_dir(dir)?;
            binds = files::materialize(&dir.join("files"), &job.files)?;
            binds.push(BindMount {
                source: dir.display().to_string(),
                target: SNAPSHOT_DIR.into(),
                read_only: false,
            });
        }
        let name = naming::job(&p.cloud, "snapshot", 0);
        self.docker.remove_container(&name).await?;
        let spec = ContainerSpec {
            name: name.clone(),
            image: p
                .images
                .get(ankyra_catalog::services::mariadb::COMPONENT)
                .cloned()
                .unwrap_or_default(),
            cmd: Some(job.command.clone()),
            binds,
            files: copied,
            labels: naming::cloud_labels(&p.cloud),
            network: Some(NetworkAttachment {
                network: p.network.name.clone(),
                aliases: vec![],
                ipv4: None,
            }),
            ..Default::default()
        };
        let outcome = self.docker.run_to_completion(&spec, 20).await;
        let dumped = match (&outcome, self.is_remote() && dump_in.is_none()) {
            (Ok(o), true) if o.exit_code == 0 => {
                Some(self.docker.download_file(&name, &dump_path).await)
            }
            _ => None,
        };
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
        dumped.transpose().map_err(|e| EngineError::Snapshot {
            component: component.into(),
            detail: format!("cannot copy the dump out of {name}: {e}"),
        })
    }
}
