//! The engine itself: connecting to a Docker Engine, rendering what an
//! operation needs (`Prepared`), observing what runs, planning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use ankyra_catalog::{
    Catalog, CloudContext, ComponentKind, ProcessSpec, ResolvedComponent, ResolvedRecord,
};
use ankyra_plan::{Desired, Plan};
use ankyra_runtime::{ContainerInfo, Docker};
use ankyra_store::{Standby, Store};

use crate::context::{ensure_network, find_network, Network};
use crate::instances::Component;
use crate::report::{Event, Reporter};
use crate::{files, observe, secrets, EngineError};

/// The secret holding keystone's admin password.
pub const ADMIN_SECRET: &str = "keystone-admin-password";

/// Runs plans on one Docker Engine: the local one, or the remote one a
/// cloud's record names (`spec.host`). Images are always built on the local
/// engine and copied to a remote one.
pub struct Engine {
    pub(crate) docker: Docker,
    /// Whether `docker` is a remote engine: files are copied into containers,
    /// images copied over.
    pub(crate) remote: bool,
    /// The /16 cloud networks are carved from on this engine.
    pub(crate) pool: crate::context::Pool,
    pub(crate) state_dir: PathBuf,
    pub(crate) reporter: Arc<dyn Reporter>,
}

/// Everything rendered for one apply.
pub(crate) struct Prepared {
    pub(crate) cloud: String,
    pub(crate) network: Network,
    pub(crate) processes: BTreeMap<String, ProcessSpec>,
    pub(crate) hashes: BTreeMap<String, String>,
    pub(crate) images: BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<String, String>,
    pub(crate) desired: Desired,
    pub(crate) rollout: ankyra_catalog::Rollout,
    /// Standby sets recorded in the store when the apply began.
    pub(crate) standby: Vec<Standby>,
    /// The load balancer's context (its overrides), for rewriting its file.
    pub(crate) lb_context: Option<CloudContext>,
    /// The containers of each standby set that still exist.
    pub(crate) standby_containers: BTreeMap<String, Vec<ContainerInfo>>,
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

    pub(crate) fn context(
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
            compute_driver: r.compute_driver,
            backends: BTreeMap::new(),
            secrets: secrets.clone(),
            overrides: BTreeMap::new(),
        }
    }

    pub(crate) async fn prepare(
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
    pub(crate) async fn active(
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
        self.plan_ordered(store, r, ankyra_plan::Order::Upgrade)
            .await
    }

    /// Plans the record against what runs, replacements in `order` (what
    /// an apply with `ApplyOptions::rollback` runs uses `Order::Rollback`).
    pub async fn plan_ordered(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        order: ankyra_plan::Order,
    ) -> Result<Plan, EngineError> {
        // Planning changes nothing: no network, no secret is created.
        let p = self.prepare(store, r, false).await?;
        let running = self.active(&p).await?;
        let mut plan = ankyra_plan::plan_ordered(&p.desired, &observe::observed(&running), order)?;
        self.count_guests(&mut plan, &running).await;
        Ok(plan)
    }

    pub(crate) fn component<'a>(
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
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Image build progress as engine events.
pub(crate) struct ImageProgress(pub(crate) Arc<dyn Reporter>);

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
