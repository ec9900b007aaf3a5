//! Apply, reconcile, status and destroy: the engine's entry points.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ankyra_catalog::{
    Backend, Catalog, CloudContext, ComponentKind, ProcessSpec, ResolvedComponent, ResolvedRecord,
};
use ankyra_plan::{Change, Desired, Plan, Step, StepKind};
use ankyra_runtime::{ContainerInfo, Docker};
use ankyra_store::{StepState, Store};
use futures_util::future::join_all;
use serde::Serialize;

use crate::context::{ensure_network, find_network, Network};
use crate::identity::Identity;
use crate::instances::Component;
use crate::report::{Event, Reporter};
use crate::status::{report, StatusReport};
use crate::{access, files, naming, observe, secrets, EngineError};

/// The secret holding keystone's admin password.
pub const ADMIN_SECRET: &str = "keystone-admin-password";

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyOutcome {
    /// The cloud.
    pub cloud: String,
    /// The revision now running.
    pub revision: u64,
    /// The plan that ran.
    pub plan: Plan,
    /// The admin's clouds.yaml, when keystone runs.
    pub clouds_yaml: Option<String>,
    /// The admin's openrc, when keystone runs.
    pub openrc: Option<String>,
}

/// Runs plans on one Docker Engine.
pub struct Engine {
    docker: Docker,
    state_dir: PathBuf,
    reporter: Arc<dyn Reporter>,
}

/// Everything rendered for one apply.
struct Prepared {
    network: Network,
    processes: BTreeMap<String, ProcessSpec>,
    hashes: BTreeMap<String, String>,
    images: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    desired: Desired,
}

impl Engine {
    /// An engine on the local Docker Engine, keeping files under `state_dir`.
    pub async fn connect(
        state_dir: PathBuf,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Engine, EngineError> {
        Ok(Engine {
            docker: Docker::connect().await?,
            state_dir,
            reporter,
        })
    }

    /// The Docker client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    fn cloud_dir(&self, cloud: &str) -> PathBuf {
        self.state_dir.join("clouds").join(cloud)
    }

    fn context(
        &self,
        r: &ResolvedRecord,
        net: &Network,
        secrets: &BTreeMap<String, String>,
    ) -> CloudContext {
        CloudContext {
            cloud: r.cloud.clone(),
            release: r.release.clone(),
            vip: net.vip.clone(),
            components: r.components.iter().map(|c| c.name.clone()).collect(),
            backends: BTreeMap::new(),
            secrets: secrets.clone(),
            overrides: BTreeMap::new(),
        }
    }

    /// API backends of every running API instance, for haproxy.cfg.
    fn backends(
        net: &Network,
        running: &BTreeMap<String, Vec<ContainerInfo>>,
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
                    })
                })
                .collect();
            out.insert(name.clone(), backends);
        }
        out
    }

    async fn prepare(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        create: bool,
    ) -> Result<Prepared, EngineError> {
        let (network, secrets) = if create {
            (
                ensure_network(&self.docker, &r.cloud).await?,
                secrets::ensure(store, &r.cloud)?,
            )
        } else {
            (
                find_network(&self.docker, &r.cloud).await?,
                secrets::existing(store, &r.cloud)?,
            )
        };
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let catalog = Catalog::get();
        let mut processes = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        let mut images = BTreeMap::new();
        for c in &r.components {
            let (_, svc) = catalog
                .component(&c.name)
                .map_err(|_| EngineError::NotRunnable {
                    component: c.name.clone(),
                })?;
            let mut cx = self.context(r, &network, &secrets);
            cx.overrides = c.config.clone();
            if c.kind == ComponentKind::LoadBalancer {
                cx.backends = Self::backends(&network, &running);
            }
            let process = svc
                .process(&c.name, &cx)
                .ok_or_else(|| EngineError::NotRunnable {
                    component: c.name.clone(),
                })?;
            // HAProxy's file follows the running backends: its hash is the record's overrides only.
            // A change of files, command or environment replaces the instances.
            // HAProxy's file follows the running backends: it is hashed apart.
            let hash = if c.kind == ComponentKind::LoadBalancer {
                ankyra_plan::config_hash(&c.config)
            } else {
                files::hash_process(&process)
            };
            hashes.insert(c.name.clone(), hash);
            processes.insert(c.name.clone(), process);
            images.insert(c.name.clone(), c.image.clone());
        }
        let mut desired = Desired::from_resolved(r, |c| catalog.rank(c));
        for d in &mut desired.components {
            if let Some(h) = hashes.get(&d.name) {
                d.config_hash = h.clone();
            }
        }
        Ok(Prepared {
            network,
            processes,
            hashes,
            images,
            secrets,
            desired,
        })
    }

    /// Builds the images the record needs that are missing locally.
    pub async fn ensure_images(&self, r: &ResolvedRecord) -> Result<(), EngineError> {
        let catalog = Catalog::get();
        let mut recipes = Vec::new();
        for c in &r.components {
            let Ok((_, svc)) = catalog.component(&c.name) else {
                continue;
            };
            let recipe = svc.image(&c.version, &r.release);
            if recipe.reference() == c.image && !recipes.contains(&recipe) {
                recipes.push(recipe);
            }
        }
        let reporter = ImageProgress(self.reporter.clone());
        ankyra_images::build(
            &self.docker,
            &recipes,
            &ankyra_images::BuildOptions::default(),
            &reporter,
        )
        .await?;
        Ok(())
    }

    /// Plans the record against what runs.
    pub async fn plan(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
    ) -> Result<Plan, EngineError> {
        // Planning changes nothing: no network, no secret is created.
        let p = self.prepare(store, r, false).await?;
        let running = observe::containers(&self.docker, &r.cloud).await?;
        Ok(ankyra_plan::plan(&p.desired, &observe::observed(&running))?)
    }

    /// Deploys or converges a cloud to `revision` of its record, changing only what the plan says.
    pub async fn apply(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        bootstrap: bool,
    ) -> Result<ApplyOutcome, EngineError> {
        let owner = format!(
            "{}@{}",
            std::env::var("USER").unwrap_or_else(|_| "ankyra".into()),
            std::process::id()
        );
        let lock = store.acquire_lock(&r.cloud, &owner, Duration::from_secs(3600))?;
        let result = self
            .apply_locked(store, r, revision, bootstrap, lock.token)
            .await;
        let _ = store.release_lock(&r.cloud, lock.token);
        result
    }

    async fn apply_locked(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        bootstrap: bool,
        token: u64,
    ) -> Result<ApplyOutcome, EngineError> {
        let p = self.prepare(store, r, true).await?;
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let plan = ankyra_plan::plan(&p.desired, &observe::observed(&running))?;
        self.reporter.event(Event::Planned {
            steps: plan.steps.len(),
        });
        if let Some(op) = store.unfinished_operation(&r.cloud)? {
            // A run that died: what runs is re-observed and re-planned, so it is safe to supersede.
            store.journal_resume(op.id, token)?;
            store.journal_end(op.id, "superseded")?;
        }
        let op = store.journal_begin(&r.cloud, revision, "apply", token)?;
        let mut index = 0u32;
        let mut failure = None;
        'waves: for wave in waves(&plan) {
            for s in &wave {
                store.journal_step(
                    op,
                    index + s.0 as u32,
                    &s.1.component,
                    StepState::Started,
                    &s.1.reason(),
                )?;
            }
            let results = join_all(
                wave.iter()
                    .map(|(_, step)| self.run_step(r, &p, step, revision, bootstrap)),
            )
            .await;
            let touched_api = wave.iter().any(|(_, s)| {
                p.desired
                    .component(&s.component)
                    .is_none_or(|c| c.kind == ComponentKind::Api)
            });
            if touched_api {
                self.update_lb(r, &p).await?;
            }
            for ((i, step), res) in wave.iter().zip(results) {
                match res {
                    Ok(()) => store.journal_step(
                        op,
                        index + *i as u32,
                        &step.component,
                        StepState::Done,
                        "",
                    )?,
                    Err(e) => {
                        store.journal_step(
                            op,
                            index + *i as u32,
                            &step.component,
                            StepState::Failed,
                            &e.to_string(),
                        )?;
                        self.reporter.event(Event::StepFailed {
                            component: step.component.clone(),
                            reason: e.to_string(),
                        });
                        failure.get_or_insert(e);
                    }
                }
            }
            if failure.is_some() {
                break 'waves;
            }
            index += wave.len() as u32;
        }
        if let Some(e) = failure {
            store.journal_end(op, "failed")?;
            let _ = store.set_revision_status(&r.cloud, revision, "failed");
            return Err(e);
        }
        store.journal_end(op, "done")?;
        store.set_revision_status(&r.cloud, revision, "applied")?;
        let (clouds_yaml, openrc) = match p.secrets.get(ADMIN_SECRET) {
            Some(pw) if p.processes.contains_key("keystone") => {
                let (c, o) =
                    access::write(&self.cloud_dir(&r.cloud), &r.cloud, &p.network.vip, pw)?;
                (Some(c.display().to_string()), Some(o.display().to_string()))
            }
            _ => (None, None),
        };
        Ok(ApplyOutcome {
            cloud: r.cloud.clone(),
            revision,
            plan,
            clouds_yaml,
            openrc,
        })
    }

    async fn register(
        &self,
        r: &ResolvedRecord,
        p: &Prepared,
        component: &str,
    ) -> Result<(), EngineError> {
        let catalog = Catalog::get();
        let Ok((_, svc)) = catalog.component(component) else {
            return Ok(());
        };
        let cx = self.context(r, &p.network, &p.secrets);
        let Some(reg) = svc.registration(&cx) else {
            return Ok(());
        };
        let admin = p.secrets.get(ADMIN_SECRET).cloned().unwrap_or_default();
        let password = reg
            .user
            .as_ref()
            .and_then(|(_, secret)| p.secrets.get(secret))
            .map(String::as_str);
        self.reporter.event(Event::Progress {
            component: component.into(),
            message: format!("registering {} in keystone", reg.service_type),
        });
        // HAProxy marks a new keystone up after its checks pass (rise 2 x 2 s): wait for it.
        let started = Instant::now();
        let id = loop {
            match Identity::login(&p.network.vip, &admin).await {
                Ok(id) => break id,
                Err(e) if started.elapsed() < Duration::from_secs(120) => {
                    tracing::debug!(error = %e, "keystone not reachable through HAProxy yet");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e),
            }
        };
        id.register(&reg, password).await
    }

    fn component<'a>(
        &'a self,
        r: &'a ResolvedRecord,
        p: &'a Prepared,
        spec: &'a ResolvedComponent,
        revision: u64,
    ) -> Option<Component<'a>> {
        let process = p.processes.get(&spec.name)?;
        let hash = p.hashes.get(&spec.name)?;
        let files_dir = if spec.kind == ComponentKind::LoadBalancer {
            self.cloud_dir(&r.cloud)
                .join("files")
                .join(format!("{}-live", spec.name))
        } else {
            self.cloud_dir(&r.cloud)
                .join("files")
                .join(format!("{}-{hash}", spec.name))
        };
        Some(Component {
            docker: &self.docker,
            reporter: self.reporter.as_ref(),
            cloud: &r.cloud,
            revision,
            network: &p.network,
            files_dir,
            spec,
            process,
            config_hash: hash,
            images: &p.images,
        })
    }

    async fn run_step(
        &self,
        r: &ResolvedRecord,
        p: &Prepared,
        step: &Step,
        revision: u64,
        bootstrap: bool,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        self.reporter.event(Event::StepStarted {
            component: step.component.clone(),
            action: format!("{:?}", step.kind).to_lowercase(),
        });
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let existing = running.get(&step.component).cloned().unwrap_or_default();
        if step.kind == StepKind::Remove {
            for c in &existing {
                self.docker.stop_container(&c.name, 30).await?;
                self.docker.remove_container(&c.name).await?;
            }
            self.reporter.event(Event::StepDone {
                component: step.component.clone(),
                seconds: started.elapsed().as_secs_f64(),
            });
            return Ok(());
        }
        let spec = r
            .components
            .iter()
            .find(|c| c.name == step.component)
            .ok_or_else(|| EngineError::NotRunnable {
                component: step.component.clone(),
            })?;
        let c = self
            .component(r, p, spec, revision)
            .ok_or_else(|| EngineError::NotRunnable {
                component: step.component.clone(),
            })?;
        let catalog = Catalog::get();
        let jobs = catalog
            .component(&spec.name)
            .map(|(_, svc)| svc.bootstrap(&spec.name, &self.context(r, &p.network, &p.secrets)))
            .unwrap_or_default();
        let before: Vec<_> = jobs
            .iter()
            .filter(|j| j.when == ankyra_catalog::JobWhen::Before)
            .collect();
        let after: Vec<_> = jobs
            .iter()
            .filter(|j| j.when == ankyra_catalog::JobWhen::After)
            .collect();
        let fixed_ip = (spec.kind == ComponentKind::LoadBalancer).then_some(p.network.vip.as_str());
        let next = existing
            .iter()
            .map(observe::instance_number)
            .max()
            .unwrap_or(0)
            + 1;
        c.ensure_volumes().await?;
        let version_changed = step
            .changes
            .iter()
            .any(|ch| matches!(ch, Change::Version { .. }));
        match step.kind {
            StepKind::Create => {
                // The service's user and endpoints exist before its first process
                // starts (nova's conductor talks to placement as `nova`).
                self.register(r, p, &spec.name).await?;
                if bootstrap {
                    c.run_jobs(&before).await?;
                }
                for n in 1..=spec.replicas {
                    c.start_instance(next + n - 1, fixed_ip).await?;
                }
                if bootstrap {
                    c.run_jobs(&after).await?;
                }
            }
            StepKind::Replace => {
                if version_changed {
                    // Schema changes run with the NEW image, before its instances start.
                    c.run_jobs(&before).await?;
                }
                if spec.kind == ComponentKind::Api {
                    // Start-first: the new instances pass their gate before the old go.
                    for n in 0..spec.replicas {
                        c.start_instance(next + n, None).await?;
                    }
                    self.update_lb(r, p).await?;
                    for old in &existing {
                        c.remove(old).await?;
                    }
                } else {
                    for old in &existing {
                        c.remove(old).await?;
                    }
                    for n in 0..spec.replicas {
                        c.start_instance(next + n, fixed_ip).await?;
                    }
                }
                if version_changed {
                    c.run_jobs(&after).await?;
                }
            }
            StepKind::Scale | StepKind::Repair => {
                let (live, dead): (Vec<_>, Vec<_>) = existing
                    .iter()
                    .partition(|x| x.is_running() && x.health != "unhealthy");
                for d in dead {
                    c.remove(d).await?;
                }
                let keep = spec.replicas as usize;
                for extra in live.iter().skip(keep) {
                    c.remove(extra).await?;
                }
                for n in 0..keep.saturating_sub(live.len()) as u32 {
                    c.start_instance(next + n, fixed_ip).await?;
                }
            }
            StepKind::Remove => {}
        }
        self.reporter.event(Event::StepDone {
            component: step.component.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
        Ok(())
    }

    /// Rewrites haproxy.cfg from the running API instances and reloads HAProxy.
    async fn update_lb(&self, r: &ResolvedRecord, p: &Prepared) -> Result<(), EngineError> {
        let Some(spec) = r
            .components
            .iter()
            .find(|c| c.kind == ComponentKind::LoadBalancer)
        else {
            return Ok(());
        };
        let Ok((_, svc)) = Catalog::get().component(&spec.name) else {
            return Ok(());
        };
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let mut cx = self.context(r, &p.network, &p.secrets);
        cx.overrides = spec.config.clone();
        cx.backends = Self::backends(&p.network, &running);
        let Some(process) = svc.process(&spec.name, &cx) else {
            return Ok(());
        };
        let dir = self
            .cloud_dir(&r.cloud)
            .join("files")
            .join(format!("{}-live", spec.name));
        files::materialize(&dir, &process.files)?;
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

    /// One reconciliation of `serve`: the same plan and steps as apply, without
    /// bootstrap jobs (the cloud was bootstrapped when it was applied).
    pub async fn reconcile(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
    ) -> Result<Option<ApplyOutcome>, EngineError> {
        let plan = self.plan(store, r).await?;
        if plan.is_empty() {
            return Ok(None);
        }
        self.apply(store, r, revision, false).await.map(Some)
    }

    /// Each component's desired and running version, instances and health.
    pub async fn status(
        &self,
        r: &ResolvedRecord,
        revision: u64,
    ) -> Result<StatusReport, EngineError> {
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let dir = self.cloud_dir(&r.cloud);
        let exists = |n: &str| {
            dir.join(n)
                .exists()
                .then(|| dir.join(n).display().to_string())
        };
        Ok(StatusReport {
            cloud: r.cloud.clone(),
            revision,
            clouds_yaml: exists("clouds.yaml"),
            openrc: exists("openrc"),
            components: report(r, &running),
        })
    }

    /// Removes a cloud's containers and network; its volumes and files only with `purge`.
    pub async fn destroy(&self, cloud: &str, purge: bool) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for c in self
            .docker
            .containers_with_labels(&[format!("{}={cloud}", naming::LABEL_CLOUD)])
            .await?
        {
            self.docker.stop_container(&c.name, 20).await?;
            self.docker.remove_container(&c.name).await?;
            removed.push(c.name);
        }
        self.docker.remove_network(&naming::network(cloud)).await?;
        if purge {
            for v in self
                .docker
                .volumes_with_label(naming::LABEL_CLOUD, cloud)
                .await?
            {
                self.docker.remove_volume(&v).await?;
                removed.push(v);
            }
            files::remove_all(&self.cloud_dir(cloud));
        }
        Ok(removed)
    }
}

/// Steps grouped into waves: a step runs once every component it comes after
/// (and that this plan touches) has finished. Removals run in a last wave.
fn waves(plan: &Plan) -> Vec<Vec<(usize, &Step)>> {
    let catalog = Catalog::get();
    let touched: Vec<&str> = plan.steps.iter().map(|s| s.component.as_str()).collect();
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out: Vec<Vec<(usize, &Step)>> = Vec::new();
    let mut removals = Vec::new();
    for (i, s) in plan.steps.iter().enumerate() {
        if s.kind == StepKind::Remove {
            removals.push((i, s));
            continue;
        }
        let deps = catalog
            .component(&s.component)
            .map(|(d, _)| d.after)
            .unwrap_or(&[]);
        let l = deps
            .iter()
            .filter(|d| touched.contains(d))
            .filter_map(|d| level.get(d).map(|l| l + 1))
            .max()
            .unwrap_or(0);
        level.insert(&s.component, l);
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push((i, s));
    }
    if !removals.is_empty() {
        out.push(removals);
    }
    out.retain(|w| !w.is_empty());
    out
}

/// Image build progress as engine events.
struct ImageProgress(Arc<dyn Reporter>);

impl ankyra_images::Reporter for ImageProgress {
    fn event(&self, e: ankyra_images::ImageEvent) {
        let message = match e {
            ankyra_images::ImageEvent::Started { reference } => format!("building {reference}"),
            ankyra_images::ImageEvent::Step { reference, step } => format!("{reference}: {step}"),
            ankyra_images::ImageEvent::Done { image } => format!("{} ready", image.reference),
            ankyra_images::ImageEvent::Failed { reference, error } => {
                format!("{reference} failed: {error}")
            }
        };
        self.0.event(Event::Progress {
            component: "images".into(),
            message,
        });
    }
}
