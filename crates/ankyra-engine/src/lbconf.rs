//! HAProxy's file: written from the running API instances, reloaded when
//! listeners or servers change.

use std::collections::{BTreeMap, BTreeSet};

use ankyra_catalog::{Backend, Catalog, ComponentKind, ProcessSpec, ResolvedRecord};
use ankyra_runtime::ContainerInfo;

use crate::context::Network;
use crate::engine::{Engine, Prepared};
use crate::{files, observe, EngineError};

impl Engine {
    /// API backends of every running API instance, for haproxy.cfg.
    pub(crate) fn backends(
        net: &Network,
        running: &BTreeMap<String, Vec<ContainerInfo>>,
        parked: &BTreeSet<String>,
    ) -> BTreeMap<String, Vec<Backend>> {
        let catalog = Catalog::get();
        let mut out = BTreeMap::new();
        for (name, list) in running {
            let Ok((def, _)) = catalog.component(name) else {
                continue;
            };
            if def.kind != ComponentKind::Api {
                continue;
            }
            let port = def.ports.first().map(|p| p.port).unwrap_or(80);
            let backends: Vec<Backend> = list
                .iter()
                .filter(|c| c.is_running())
                .filter_map(|c| {
                    c.addresses.get(&net.name).map(|ip| Backend {
                        name: c.name.clone(),
                        address: ip.clone(),
                        port,
                        enabled: !parked.contains(&c.name),
                    })
                })
                .collect();
            out.insert(name.clone(), backends);
        }
        out
    }

    /// Rewrites haproxy.cfg from the running API instances (parked ones
    /// `disabled`) without a reload: the runtime API made the same change,
    /// and the file makes it survive an HAProxy restart.
    pub(crate) async fn write_lb_file(&self, p: &Prepared) -> Result<(), EngineError> {
        let Some(spec) = p
            .desired
            .components
            .iter()
            .find(|c| c.kind == ComponentKind::LoadBalancer)
        else {
            return Ok(());
        };
        let Some(process) = self.lb_process(p, &spec.name).await? else {
            return Ok(());
        };
        if self.remote {
            // No shared file system: the file goes into each running HAProxy.
            let copied = files::to_container_files(&process.files);
            for c in observe::containers(&self.docker, &p.cloud)
                .await?
                .get(&spec.name)
                .into_iter()
                .flatten()
                .filter(|c| c.is_running())
            {
                self.docker.put_files(&c.name, &copied).await?;
            }
            return Ok(());
        }
        let dir = self
            .cloud_dir(&p.cloud)
            .join("files")
            .join(format!("{}-live", spec.name));
        files::materialize(&dir, &process.files)?;
        Ok(())
    }

    async fn lb_process(
        &self,
        p: &Prepared,
        component: &str,
    ) -> Result<Option<ProcessSpec>, EngineError> {
        let Ok((_, svc)) = Catalog::get().component(component) else {
            return Ok(None);
        };
        let Some(mut cx) = p.lb_context.clone() else {
            return Ok(None);
        };
        let running = observe::containers(&self.docker, &p.cloud).await?;
        let parked = p.parked.lock().await.clone();
        cx.backends = Self::backends(&p.network, &running, &parked);
        Ok(svc.process(component, &cx))
    }

    /// Rewrites haproxy.cfg and reloads HAProxy (new listeners or servers).
    pub(crate) async fn update_lb(
        &self,
        r: &ResolvedRecord,
        p: &Prepared,
    ) -> Result<(), EngineError> {
        let Some(spec) = r
            .components
            .iter()
            .find(|c| c.kind == ComponentKind::LoadBalancer)
        else {
            return Ok(());
        };
        self.write_lb_file(p).await?;
        let running = observe::containers(&self.docker, &r.cloud).await?;
        for c in running
            .get(&spec.name)
            .into_iter()
            .flatten()
            .filter(|c| c.is_running())
        {
            // HAProxy runs in master-worker mode: SIGUSR2 reloads without dropping connections.
            self.docker.signal_container(&c.name, "SIGUSR2").await?;
        }
        Ok(())
    }
}
