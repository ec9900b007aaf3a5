//! Apply, reconcile, status and destroy: the engine's entry points.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ankyra_catalog::{
    Backend, Catalog, CloudContext, ComponentKind, ProcessSpec, ResolvedComponent, ResolvedRecord,
};
use ankyra_plan::{Change, Desired, Plan, Step, StepKind};
use ankyra_runtime::{ContainerInfo, Docker};
use ankyra_store::{Standby, StepState, Store};
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

/// A rollback inside the bake window: a load-balancer switch.
#[derive(Debug, Clone, Serialize)]
pub struct Switch {
    /// The component.
    pub component: String,
    /// From the first runtime API call to the last old instance out of rotation.
    pub seconds: f64,
}

/// Old instances left running out of rotation after an upgrade.
#[derive(Debug, Clone, Serialize)]
pub struct Parked {
    /// The component.
    pub component: String,
    /// Their containers.
    pub containers: Vec<String>,
    /// The version they run.
    pub version: String,
    /// When the bake window ends (seconds since the Unix epoch).
    pub until_unix: i64,
}

/// How an apply may change the cloud.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Run bootstrap jobs of new components (databases, keys, users).
    pub bootstrap: bool,
    /// Allow going back past a finalized schema by restoring the snapshot
    /// taken before that upgrade (what was written since is lost).
    pub restore_snapshot: bool,
}

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
    /// Rollbacks done as load-balancer switches.
    pub switches: Vec<Switch>,
    /// Old instances kept for the bake window.
    pub parked: Vec<Parked>,
    /// Database snapshots taken before schema upgrades (component, bytes).
    pub snapshots: Vec<(String, u64)>,
}

/// What one step leaves for the store.
#[derive(Default)]
struct StepOutcome {
    parked: Option<Vec<ContainerInfo>>,
    switched: Option<f64>,
    clear_standby: bool,
}

/// Runs plans on one Docker Engine: the local one, or the remote one a
/// cloud's record names (`spec.host`). Images are always built on the local
/// engine and copied to a remote one.
pub struct Engine {
    pub(crate) docker: Docker,
    /// Whether `docker` is a remote engine: files are copied into containers,
    /// images copied over.
    remote: bool,
    /// The /16 cloud networks are carved from on this engine.
    pool: crate::context::Pool,
    state_dir: PathBuf,
    pub(crate) reporter: Arc<dyn Reporter>,
}

/// Everything rendered for one apply.
pub(crate) struct Prepared {
    pub(crate) cloud: String,
    pub(crate) network: Network,
    processes: BTreeMap<String, ProcessSpec>,
    hashes: BTreeMap<String, String>,
    pub(crate) images: BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<String, String>,
    desired: Desired,
    pub(crate) rollout: ankyra_catalog::Rollout,
    /// Standby sets recorded in the store when the apply began.
    standby: Vec<Standby>,
    /// The load balancer's context (its overrides), for rewriting its file.
    lb_context: Option<CloudContext>,
    /// The containers of each standby set that still exist.
    standby_containers: BTreeMap<String, Vec<ContainerInfo>>,
    /// Instances out of rotation (maintenance in HAProxy, `disabled` in its file).
    pub(crate) parked: tokio::sync::Mutex<BTreeSet<String>>,
}

impl Engine {
    /// An engine on the local Docker Engine, keeping files under `state_dir`.
    pub async fn connect(
        state_dir: PathBuf,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Engine, EngineError> {
        let docker = Docker::connect().await?;
        Ok(Engine {
            docker,
            remote: false,
            pool: ankyra_catalog::DEFAULT_SUBNET_POOL,
            state_dir,
            reporter,
        })
    }

    /// An engine on the container engine `target` (a record's `spec.host`):
    /// the local one, or a remote one over TCP (with TLS), which must answer
    /// within seconds or the error names its address.
    pub async fn connect_to(
        state_dir: PathBuf,
        reporter: Arc<dyn Reporter>,
        target: &ankyra_catalog::EngineTarget,
    ) -> Result<Engine, EngineError> {
        if target.is_local() {
            let mut engine = Engine::connect(state_dir, reporter).await?;
            engine.pool = target.subnet_pool;
            return Ok(engine);
        }
        let address = ankyra_runtime::EngineAddress {
            url: target.address.clone(),
            tls: target.tls.as_ref().map(|t| ankyra_runtime::TlsFiles {
                ca: PathBuf::from(&t.ca),
                cert: PathBuf::from(&t.cert),
                key: PathBuf::from(&t.key),
            }),
        };
        let docker = Docker::connect_to(&address).await?;
        Ok(Engine {
            docker,
            remote: true,
            pool: target.subnet_pool,
            state_dir,
            reporter,
        })
    }

    /// How config files reach containers on this engine.
    pub(crate) fn delivery(&self) -> files::Delivery {
        if self.remote {
            files::Delivery::Copy
        } else {
            files::Delivery::Bind
        }
    }

    /// Whether the cloud's engine is a remote one.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The Docker client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub(crate) fn cloud_dir(&self, cloud: &str) -> PathBuf {
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

    async fn prepare(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        create: bool,
    ) -> Result<Prepared, EngineError> {
        let (network, secrets) = if create {
            (
                ensure_network(&self.docker, &r.cloud, self.pool).await?,
                secrets::ensure(store, &r.cloud)?,
            )
        } else {
            (
                find_network(&self.docker, &r.cloud, self.pool).await?,
                secrets::existing(store, &r.cloud)?,
            )
        };
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let standby = store.standbys(&r.cloud)?;
        let parked: BTreeSet<String> = standby
            .iter()
            .flat_map(|s| s.containers.iter().cloned())
            .collect();
        let catalog = Catalog::get();
        let mut processes = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        let mut images = BTreeMap::new();
        let mut lb_context = None;
        for c in &r.components {
            let (_, svc) = catalog
                .component(&c.name)
                .map_err(|_| EngineError::NotRunnable {
                    component: c.name.clone(),
                })?;
            let mut cx = self.context(r, &network, &secrets);
            cx.overrides = c.config.clone();
            if c.kind == ComponentKind::LoadBalancer {
                cx.backends = Self::backends(&network, &running, &parked);
                lb_context = Some(cx.clone());
            }
            let process = svc
                .process(&c.name, &cx)
                .ok_or_else(|| EngineError::NotRunnable {
                    component: c.name.clone(),
                })?;
            // HAProxy's file follows the running backends: its hash is the
            // record's overrides only. For every other component a change of
            // files, command or environment replaces the instances.
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
            cloud: r.cloud.clone(),
            network,
            processes,
            hashes,
            images,
            secrets,
            desired,
            rollout: r.rollout,
            lb_context,
            standby_containers: standby
                .iter()
                .map(|sb| {
                    let infos = running
                        .get(&sb.component)
                        .into_iter()
                        .flatten()
                        .filter(|c| sb.containers.contains(&c.name))
                        .cloned()
                        .collect();
                    (sb.component.clone(), infos)
                })
                .collect(),
            standby,
            parked: tokio::sync::Mutex::new(parked),
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
            // A version's image is built on its own release's libraries, whatever
            // the record's default release: one tag, one image.
            let release = svc.release_of(&c.version).unwrap_or(&r.release);
            let recipe = svc.image(&c.version, release);
            if recipe.reference() == c.image && !recipes.contains(&recipe) {
                recipes.push(recipe);
            }
        }
        // Images are built on the local engine; only a command that builds
        // connects to it when the cloud is remote (status or plan need not).
        let builder = if self.remote {
            Docker::connect().await?
        } else {
            self.docker.clone()
        };
        let reporter = ImageProgress(self.reporter.clone());
        ankyra_images::build(
            &builder,
            &recipes,
            &ankyra_images::BuildOptions::default(),
            &reporter,
        )
        .await?;
        if self.remote {
            // No registry: the images go over the engine API, once each.
            let mut images: Vec<&str> = r.components.iter().map(|c| c.image.as_str()).collect();
            images.sort_unstable();
            images.dedup();
            for image in images {
                self.reporter.event(Event::Progress {
                    component: "images".into(),
                    message: format!("{image} → {}", self.docker.host()),
                });
                builder.copy_image(&self.docker, image).await?;
            }
        }
        Ok(())
    }

    /// What runs in rotation: parked instances (kept for a rollback) are not
    /// part of the cloud the planner sees.
    async fn active(
        &self,
        p: &Prepared,
    ) -> Result<BTreeMap<String, Vec<ContainerInfo>>, EngineError> {
        let parked = p.parked.lock().await.clone();
        let mut running = observe::containers(&self.docker, &p.cloud).await?;
        for list in running.values_mut() {
            list.retain(|c| !parked.contains(&c.name));
        }
        running.retain(|_, l| !l.is_empty());
        Ok(running)
    }

    /// Plans the record against what runs.
    pub async fn plan(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
    ) -> Result<Plan, EngineError> {
        // Planning changes nothing: no network, no secret is created.
        let p = self.prepare(store, r, false).await?;
        let running = self.active(&p).await?;
        Ok(ankyra_plan::plan(&p.desired, &observe::observed(&running))?)
    }

    /// The cloud's lock. A lock held by a process of this host that no longer
    /// exists (killed mid-operation) is taken over, with a warning; any other
    /// holder is an error naming who and since when.
    fn take_lock(
        &self,
        store: &mut dyn Store,
        cloud: &str,
    ) -> Result<ankyra_store::LockInfo, EngineError> {
        match store.acquire_lock(cloud, &owner(), LOCK_TTL) {
            Err(ankyra_store::StoreError::Locked {
                owner: holder,
                since,
                ..
            }) if holder_is_dead(&holder) => {
                self.reporter.event(Event::Progress {
                    component: "lock".into(),
                    message: format!(
                        "taking over the lock of {holder} (since {since}): that process no longer runs"
                    ),
                });
                store.force_unlock(cloud)?;
                Ok(store.acquire_lock(cloud, &owner(), LOCK_TTL)?)
            }
            other => Ok(other?),
        }
    }

    /// Deploys or converges a cloud to `revision` of its record, changing only what the plan says.
    pub async fn apply(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        options: ApplyOptions,
    ) -> Result<ApplyOutcome, EngineError> {
        let lock = self.take_lock(store, &r.cloud)?;
        let result = self
            .apply_locked(store, r, revision, options, lock.token)
            .await;
        let _ = store.release_lock(&r.cloud, lock.token);
        result
    }

    /// Refuses to go back past a finalized (contracted) schema unless the
    /// snapshot taken before that upgrade is to be restored; returns the
    /// snapshots to restore, by component.
    fn check_downgrades(
        store: &dyn Store,
        cloud: &str,
        plan: &Plan,
        options: ApplyOptions,
    ) -> Result<BTreeMap<String, u64>, EngineError> {
        let mut restore = BTreeMap::new();
        for step in &plan.steps {
            for ch in &step.changes {
                if let Change::Version { from, to, .. } = ch {
                    if let Some(id) = check_downgrade(
                        store,
                        cloud,
                        &step.component,
                        from,
                        to,
                        options.restore_snapshot,
                    )? {
                        restore.insert(step.component.clone(), id);
                    }
                }
            }
        }
        Ok(restore)
    }

    async fn apply_locked(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        options: ApplyOptions,
        token: u64,
    ) -> Result<ApplyOutcome, EngineError> {
        let mut p = self.prepare(store, r, true).await?;
        if self.expire(store, &p).await? {
            // What was retired is gone: see the cloud afresh.
            p = self.prepare(store, r, true).await?;
        }
        let running = self.active(&p).await?;
        let plan = ankyra_plan::plan(&p.desired, &observe::observed(&running))?;
        let restore = Self::check_downgrades(store, &r.cloud, &plan, options)?;
        self.reporter.event(Event::Planned {
            steps: plan.steps.len(),
        });
        if let Some(op) = store.unfinished_operation(&r.cloud)? {
            // A run that died: what runs is re-observed and re-planned, so it is safe to supersede.
            store.journal_resume(op.id, token)?;
            store.journal_end(op.id, "superseded")?;
        }
        let op = store.journal_begin(&r.cloud, revision, "apply", token)?;
        crate::killpoint::hit("journaled");
        let mut index = 0u32;
        let mut failure = None;
        let mut switches = Vec::new();
        let mut parked_out = Vec::new();
        let mut snapshots = Vec::new();
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
            // Snapshots first, one at a time: the store is not shared by the steps.
            for (i, step) in &wave {
                let before = self
                    .before_step(store, r, &p, step, &restore, revision, &mut snapshots)
                    .await;
                if let Err(e) = before {
                    self.step_failed(store, op, index + *i as u32, &step.component, &e)?;
                    failure = Some(e);
                    break 'waves;
                }
            }
            let results = join_all(
                wave.iter()
                    .map(|(_, step)| self.run_step(r, &p, step, revision, options.bootstrap)),
            )
            .await;
            let reload_lb = wave.iter().any(|(_, s)| {
                s.kind != StepKind::Replace
                    && p.desired
                        .component(&s.component)
                        .is_none_or(|c| c.kind == ComponentKind::Api)
            });
            if reload_lb {
                self.update_lb(r, &p).await?;
            }
            for ((i, step), res) in wave.iter().zip(results) {
                match res {
                    Ok(out) => {
                        if out.clear_standby {
                            store.clear_standby(&r.cloud, &step.component)?;
                        }
                        if let Some(seconds) = out.switched {
                            switches.push(Switch {
                                component: step.component.clone(),
                                seconds,
                            });
                        }
                        let mut parked = out.parked;
                        if restore.contains_key(&step.component) {
                            // Their version is past the restored schema: never to be switched back to.
                            if let Some(old) = parked.take() {
                                let names: Vec<String> =
                                    old.iter().map(|c| c.name.clone()).collect();
                                self.retire(&p, &step.component, &names).await?;
                            }
                        }
                        if let Some(old) = parked {
                            let sb = Standby {
                                cloud: r.cloud.clone(),
                                component: step.component.clone(),
                                containers: old.iter().map(|c| c.name.clone()).collect(),
                                version: old
                                    .first()
                                    .and_then(|c| c.labels.get(naming::LABEL_VERSION).cloned())
                                    .unwrap_or_default(),
                                from_revision: old
                                    .first()
                                    .and_then(|c| c.labels.get(naming::LABEL_REVISION))
                                    .and_then(|n| n.parse().ok())
                                    .unwrap_or(0),
                                to_revision: revision,
                                until_unix: now_unix() + p.rollout.bake_window.as_secs() as i64,
                            };
                            store.put_standby(&sb)?;
                            crate::killpoint::hit("standby-recorded");
                            parked_out.push(Parked {
                                component: sb.component,
                                containers: sb.containers,
                                version: sb.version,
                                until_unix: sb.until_unix,
                            });
                        }
                        store.journal_step(
                            op,
                            index + *i as u32,
                            &step.component,
                            StepState::Done,
                            "",
                        )?
                    }
                    Err(e) => {
                        self.step_failed(store, op, index + *i as u32, &step.component, &e)?;
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
            switches,
            parked: parked_out,
            snapshots,
        })
    }

    /// Journals a step as failed with its reason, and says so.
    fn step_failed(
        &self,
        store: &mut dyn Store,
        op: u64,
        n: u32,
        component: &str,
        e: &EngineError,
    ) -> Result<(), EngineError> {
        store.journal_step(op, n, component, StepState::Failed, &e.to_string())?;
        self.reporter.event(Event::StepFailed {
            component: component.into(),
            reason: e.to_string(),
        });
        Ok(())
    }

    /// What comes before a step, one step at a time: the snapshot restore a
    /// downgrade past a finalized schema asked for, or, before a schema
    /// upgrade, a check of the database volume's free space and a snapshot.
    #[allow(clippy::too_many_arguments)]
    async fn before_step(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        p: &Prepared,
        step: &Step,
        restore: &BTreeMap<String, u64>,
        revision: u64,
        snapshots: &mut Vec<(String, u64)>,
    ) -> Result<(), EngineError> {
        if let Some(id) = restore.get(&step.component) {
            let dump = store.snapshot(*id)?;
            self.reporter.event(Event::Progress {
                component: step.component.clone(),
                message: format!(
                    "restoring the database snapshot of migration {id} ({} bytes): later writes are lost",
                    dump.len()
                ),
            });
            let cx = self.context(r, &p.network, &p.secrets);
            self.restore(p, &cx, &step.component, &dump).await?;
            if let Some((from, to)) = step.changes.iter().find_map(|ch| match ch {
                Change::Version { from, to, .. } => Some((from.clone(), to.clone())),
                _ => None,
            }) {
                // The schema is back at `to`: recorded, and final, as a migration down.
                store.record_migration(&r.cloud, &step.component, &from, &to, revision, &[])?;
                store.finalize_migrations(&r.cloud, &step.component)?;
            }
        } else if let Some((from, to)) = self.needs_snapshot(p, step) {
            // No snapshot for an upgrade the database volume has no room for.
            self.check_schema_space(p, &step.component).await?;
            self.reporter.event(Event::Progress {
                component: step.component.clone(),
                message: "snapshot of its database before the schema upgrade".into(),
            });
            let cx = self.context(r, &p.network, &p.secrets);
            if let Some(bytes) = self.snapshot(p, &cx, &step.component).await? {
                store.record_migration(&r.cloud, &step.component, &from, &to, revision, &bytes)?;
                snapshots.push((step.component.clone(), bytes.len() as u64));
                crate::killpoint::hit("snapshot");
            }
        }
        Ok(())
    }

    /// A version change of a component with schema jobs, not undone by a
    /// switch to parked instances: (from, to) when a snapshot must come first.
    fn needs_snapshot(&self, p: &Prepared, step: &Step) -> Option<(String, String)> {
        if step.kind != StepKind::Replace {
            return None;
        }
        let (from, to) = step.changes.iter().find_map(|ch| match ch {
            Change::Version { from, to, .. } if is_upgrade(ch) => Some((from.clone(), to.clone())),
            _ => None,
        })?;
        if self.matching_standby(p, &step.component).is_some() {
            return None;
        }
        let (_, svc) = Catalog::get().component(&step.component).ok()?;
        let cx = CloudContext {
            cloud: p.cloud.clone(),
            ..Default::default()
        };
        (!svc.upgrade_jobs(&step.component, &cx).is_empty() && !svc.databases().is_empty())
            .then_some((from, to))
    }

    /// The component's parked instances when they run exactly what is wanted
    /// now (same version, image and config): a rollback inside the bake window.
    fn matching_standby<'a>(
        &self,
        p: &'a Prepared,
        component: &str,
    ) -> Option<&'a [ContainerInfo]> {
        let want = p.desired.component(component)?;
        let sb = p.standby.iter().find(|s| s.component == component)?;
        let infos = p.standby_containers.get(component)?;
        let all_there = infos.len() == sb.containers.len() && !infos.is_empty();
        let same = infos.iter().all(|c| {
            c.labels.get(naming::LABEL_VERSION) == Some(&want.version.to_string())
                && c.labels.get(naming::LABEL_IMAGE) == Some(&want.image)
                && c.labels.get(naming::LABEL_CONFIG) == Some(&want.config_hash)
        });
        (all_there && same).then_some(infos.as_slice())
    }

    /// Retires standby sets whose bake window has ended.
    async fn expire(&self, store: &mut dyn Store, p: &Prepared) -> Result<bool, EngineError> {
        let now = now_unix();
        let mut any = false;
        for sb in &p.standby {
            if sb.until_unix > now {
                continue;
            }
            self.reporter.event(Event::Progress {
                component: sb.component.clone(),
                message: format!(
                    "bake window over: removing the parked {} instances",
                    sb.version
                ),
            });
            self.retire(p, &sb.component, &sb.containers).await?;
            store.clear_standby(&p.cloud, &sb.component)?;
            any = true;
        }
        Ok(any)
    }

    /// `ankyra finalize`: runs the component's contract jobs with the image it
    /// runs now, marks its migrations finalized and retires its parked instances.
    pub async fn finalize(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        component: &str,
    ) -> Result<Finalized, EngineError> {
        let lock = self.take_lock(store, &r.cloud)?;
        let result = self
            .finalize_locked(store, r, revision, component, lock.token)
            .await;
        let _ = store.release_lock(&r.cloud, lock.token);
        result
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
            delivery: self.delivery(),
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
    ) -> Result<StepOutcome, EngineError> {
        let started = Instant::now();
        self.reporter.event(Event::StepStarted {
            component: step.component.clone(),
            action: format!("{:?}", step.kind).to_lowercase(),
        });
        // One listing: every instance (for numbering and removal) and those in rotation.
        let every = observe::containers(&self.docker, &r.cloud).await?;
        let parked = p.parked.lock().await.clone();
        let existing: Vec<ContainerInfo> = every
            .get(&step.component)
            .into_iter()
            .flatten()
            .filter(|c| !parked.contains(&c.name))
            .cloned()
            .collect();
        let mut out = StepOutcome::default();
        if step.kind == StepKind::Remove {
            for c in every.get(&step.component).into_iter().flatten() {
                self.docker.stop_container(&c.name, 30).await?;
                self.docker.remove_container(&c.name).await?;
            }
            out.clear_standby = true;
            self.reporter.event(Event::StepDone {
                component: step.component.clone(),
                seconds: started.elapsed().as_secs_f64(),
            });
            return Ok(out);
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
        let cx = self.context(r, &p.network, &p.secrets);
        let jobs = catalog
            .component(&spec.name)
            .map(|(_, svc)| svc.bootstrap(&spec.name, &cx))
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
        // Numbers never repeat while a parked instance may still hold one.
        let next = every
            .get(&step.component)
            .into_iter()
            .flatten()
            .map(observe::instance_number)
            .max()
            .unwrap_or(0)
            + 1;
        c.ensure_volumes().await?;
        // Schema jobs run only going up: going back is a code swap onto the
        // expanded schema (the old code cannot even read the newer revision).
        let version_changed = step.changes.iter().any(is_upgrade);
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
            StepKind::Replace if spec.kind == ComponentKind::Api => {
                if let Some(standby) = self.matching_standby(p, &spec.name) {
                    // Inside the bake window: a load-balancer switch, no container starts.
                    out.switched = Some(self.switch_back(p, &c, standby, &existing).await?);
                    out.clear_standby = true;
                } else {
                    if let Some(sb) = p.standby.iter().find(|s| s.component == spec.name) {
                        // One standby generation at a time: the older one goes.
                        self.retire(p, &spec.name, &sb.containers).await?;
                        out.clear_standby = true;
                    }
                    if version_changed {
                        // Expand and migrate with the NEW image while the old version serves.
                        self.schema_upgrade(p, &c, &spec.name, &cx).await?;
                        crate::killpoint::hit("schema");
                    }
                    let rolled = self.roll(p, &c, &existing, next).await?;
                    if p.rollout.bake_window.is_zero() || rolled.parked.is_empty() {
                        let names: Vec<String> =
                            rolled.parked.iter().map(|c| c.name.clone()).collect();
                        self.retire(p, &spec.name, &names).await?;
                    } else {
                        out.parked = Some(rolled.parked);
                        out.clear_standby = false;
                    }
                }
                if version_changed {
                    c.run_jobs(&after).await?;
                }
            }
            StepKind::Replace => {
                if version_changed {
                    self.schema_upgrade(p, &c, &spec.name, &cx).await?;
                }
                for old in &existing {
                    c.remove(old).await?;
                }
                for n in 0..spec.replicas {
                    c.start_instance(next + n, fixed_ip).await?;
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
        Ok(out)
    }

    /// The schema jobs of an upgrade, after a last look at the database
    /// volume (it may have filled since the snapshot); a job that fails for
    /// lack of space says so.
    async fn schema_upgrade(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        component: &str,
        cx: &CloudContext,
    ) -> Result<(), EngineError> {
        let jobs = Catalog::get()
            .component(component)
            .map(|(_, svc)| svc.upgrade_jobs(component, cx))
            .unwrap_or_default();
        if jobs.is_empty() {
            return Ok(());
        }
        self.check_schema_space(p, component).await?;
        crate::killpoint::hit("schema-checked");
        match c.run_jobs(&jobs.iter().collect::<Vec<_>>()).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain_job_failure(p, component, e).await),
        }
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
    async fn update_lb(&self, r: &ResolvedRecord, p: &Prepared) -> Result<(), EngineError> {
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

    /// One reconciliation of `serve` (also the end of bake windows): the same plan and steps as apply, without
    /// bootstrap jobs (the cloud was bootstrapped when it was applied).
    pub async fn reconcile(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
    ) -> Result<Option<ApplyOutcome>, EngineError> {
        let plan = self.plan(store, r).await?;
        // A bake window that ended is work too: apply retires the parked instances.
        let now = now_unix();
        let bake_over = store
            .standbys(&r.cloud)?
            .iter()
            .any(|s| s.until_unix <= now);
        if plan.is_empty() && !bake_over {
            return Ok(None);
        }
        self.apply(store, r, revision, ApplyOptions::default())
            .await
            .map(Some)
    }

    /// Each component's desired and running version, instances and health.
    pub async fn status(
        &self,
        store: &dyn Store,
        r: &ResolvedRecord,
        revision: u64,
    ) -> Result<StatusReport, EngineError> {
        let running = observe::containers(&self.docker, &r.cloud).await?;
        let standby = store.standbys(&r.cloud)?;
        let migrations = store.migrations(&r.cloud)?;
        let parked: BTreeSet<String> = standby
            .iter()
            .flat_map(|s| s.containers.iter().cloned())
            .collect();
        let dir = self.cloud_dir(&r.cloud);
        let exists = |n: &str| {
            dir.join(n)
                .exists()
                .then(|| dir.join(n).display().to_string())
        };
        let mut components = report(r, &running, &parked);
        let now = now_unix();
        for c in &mut components {
            if let Some(sb) = standby.iter().find(|s| s.component == c.name) {
                let mut memory = 0;
                for name in &sb.containers {
                    memory += self
                        .docker
                        .memory_usage(name)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                }
                c.bake = Some(crate::status::BakeStatus {
                    version: sb.version.clone(),
                    containers: sb.containers.clone(),
                    until_unix: sb.until_unix,
                    seconds_left: sb.until_unix - now,
                    memory_bytes: memory,
                });
            }
            // Newest first: the latest unfinalized schema upgrade of the component.
            c.not_finalized = migrations
                .iter()
                .find(|m| m.component == c.name && m.finalized_at.is_none())
                .map(|m| format!("{} → {}", m.from_version, m.to_version));
        }
        Ok(StatusReport {
            cloud: r.cloud.clone(),
            revision,
            clouds_yaml: exists("clouds.yaml"),
            openrc: exists("openrc"),
            components,
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

/// Whether `component` may go from version `from` back to `to`: not past a
/// finalized (contracted) schema upgrade, unless its snapshot is restored.
/// Returns the migration whose snapshot to restore.
pub fn check_downgrade(
    store: &dyn Store,
    cloud: &str,
    component: &str,
    from: &str,
    to: &str,
    restore_snapshot: bool,
) -> Result<Option<u64>, EngineError> {
    use ankyra_model::Version;
    let (Ok(from_v), Ok(to_v)) = (from.parse::<Version>(), to.parse::<Version>()) else {
        return Ok(None);
    };
    if to_v >= from_v {
        return Ok(None);
    }
    // Upgrades of this component that moved its schema past the target, newest first.
    // A restore is recorded as a migration down to its target: what came
    // before it no longer describes the schema.
    let past: Vec<ankyra_store::Migration> = store
        .migrations(cloud)?
        .into_iter()
        .filter(|m| m.component == component)
        .take_while(|m| m.to_version.parse::<Version>().is_ok_and(|v| v > to_v))
        .collect();
    let Some(m) = past.iter().find(|m| m.finalized_at.is_some()).cloned() else {
        // Nothing contracted: the target runs on the expanded schema.
        return Ok(None);
    };
    if restore_snapshot {
        // The newest snapshot taken at or below the target loses the least.
        let snap = past
            .iter()
            .find(|m| m.from_version.parse::<Version>().is_ok_and(|v| v <= to_v))
            .or_else(|| past.last())
            .map(|m| m.id)
            .unwrap_or(m.id);
        return Ok(Some(snap));
    }
    Err(EngineError::Refused {
        component: component.into(),
        to: to.into(),
        reason: format!(
            "the upgrade {} → {} was finalized ({}): its schema was contracted and {to} \
             cannot run on it. Use --restore-snapshot to restore the database snapshot taken \
             before that upgrade (revision {}); everything written to {component}'s database \
             since then is lost",
            m.from_version,
            m.to_version,
            m.finalized_at.clone().unwrap_or_default(),
            m.revision
        ),
    })
}

/// A version change to a newer version (unparsable versions count as one:
/// running the idempotent sync is the safe side).
fn is_upgrade(ch: &Change) -> bool {
    match ch {
        Change::Version { from, to, .. } => {
            match (
                from.parse::<ankyra_model::Version>(),
                to.parse::<ankyra_model::Version>(),
            ) {
                (Ok(f), Ok(t)) => t > f,
                _ => true,
            }
        }
        _ => false,
    }
}

/// How long a lock lasts without a heartbeat.
const LOCK_TTL: Duration = Duration::from_secs(3600);

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Who holds a lock: `user@host:pid`.
pub fn owner() -> String {
    format!(
        "{}@{}:{}",
        std::env::var("USER").unwrap_or_else(|_| "ankyra".into()),
        hostname(),
        std::process::id()
    )
}

/// Whether a lock holder (`user@host:pid`) is a process of this host that is gone.
pub fn holder_is_dead(holder: &str) -> bool {
    let Some((_, at)) = holder.rsplit_once('@') else {
        return false;
    };
    let Some((host, pid)) = at.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == hostname()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gone_process_of_this_host_loses_its_lock() {
        let host = hostname();
        assert!(holder_is_dead(&format!("rey@{host}:4000000000")));
        assert!(!holder_is_dead(&owner()), "this very process is alive");
        assert!(!holder_is_dead("rey@some-other-host:4000000000"));
        assert!(
            !holder_is_dead("rey@4000000000"),
            "old format: never taken over"
        );
        assert!(!holder_is_dead("garbage"));
    }

    #[test]
    fn only_a_newer_version_is_an_upgrade() {
        let v = |from: &str, to: &str| Change::Version {
            from: from.into(),
            to: to.into(),
            jump: ankyra_catalog::Jump::Point,
        };
        assert!(is_upgrade(&v("27.1.0", "29.1.0")));
        assert!(is_upgrade(&v("27.0.2", "27.1.0")));
        assert!(
            !is_upgrade(&v("29.1.0", "27.1.0")),
            "a rollback is a code swap"
        );
        assert!(
            is_upgrade(&v("?", "27.1.0")),
            "unknown: run the idempotent sync"
        );
        assert!(!is_upgrade(&Change::Removed));
    }
}
