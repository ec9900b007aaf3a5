//! The shapes every service module fills in.

use ankyra_model::Version;
use serde::Serialize;

/// What kind of process a component is; it decides how it is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// Stateful infrastructure (database, cache, queue): replaced in place.
    Infra,
    /// The load balancer in front of every API.
    LoadBalancer,
    /// An HTTP API behind the load balancer: replaced start-first, surge never a gap.
    Api,
    /// A worker without a listening API (conductor, scheduler, compute).
    Worker,
}

/// How a component's instances are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Replace {
    /// Start the new instance beside the old one, gate it, then remove the old.
    StartFirst,
    /// Stop the old instance, then start the new one.
    StopFirst,
}

impl Replace {
    /// What a kind of component gets unless its service says otherwise: an
    /// API start-first behind HAProxy, everything else stop-first.
    pub fn default_for(kind: ComponentKind) -> Replace {
        match kind {
            ComponentKind::Api => Replace::StartFirst,
            ComponentKind::Infra | ComponentKind::LoadBalancer | ComponentKind::Worker => {
                Replace::StopFirst
            }
        }
    }
}

/// What to ask a service's own API before a new instance of a worker counts
/// as ready (its process being up proves nothing about its heartbeats).
/// The engine asks the compute API through the VIP: `binary` must be `up` in
/// the service list for the instance's host, with a heartbeat newer than
/// the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceGate {
    /// The binary in the service list (`nova-conductor`).
    pub binary: &'static str,
    /// Also require the host's resource provider in placement, with
    /// inventory, updated since the instance started.
    pub resource_provider: bool,
    /// Also require the record `enabled`: nova-compute disables itself
    /// (`AUTO: Connection to libvirt lost`) until it reaches libvirt again,
    /// and the scheduler sends nothing to a disabled compute.
    pub enabled: bool,
    /// Once per step: boot a tiny server and delete it (scheduling works).
    pub scheduling_check: bool,
    /// After the step: delete `down` service records of this binary whose
    /// host no instance has any more.
    pub retire_stale_records: bool,
    /// Components that must run for the gate to be asked at all (a new
    /// cloud's conductor starts before there is an API to ask).
    pub needs: &'static [&'static str],
    /// For a start-first replacement: the RPC queue the new instance must
    /// consume from before the old one stops (so no call waits on nobody).
    pub rpc_queue: Option<RpcQueue>,
    /// For a component another one holds a connection to (libvirt, which
    /// nova-compute uses): that one must have connected again since the new
    /// instance started.
    pub reconnect: Option<Reconnect>,
}

/// How a component's consumer says, in its log, that it lost and regained
/// its connection to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconnect {
    /// The consumer component (`nova-compute`).
    pub consumer: &'static str,
    /// A line with this says it connected (after it, the timestamp).
    pub up: &'static str,
    /// A line with this says it lost the connection.
    pub down: &'static str,
}

/// An RPC queue in the message broker, and how to count its consumers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpcQueue {
    /// The broker component (`rabbitmq`).
    pub broker: &'static str,
    /// The queue (`conductor`).
    pub queue: &'static str,
    /// A command run in the broker's container that prints `name consumers`
    /// lines, one per queue.
    pub list_command: &'static [&'static str],
}

/// What a change of a component does to the guests running on the cloud's
/// computes, as its service knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GuestEffect {
    /// Whether running guests keep running, untouched.
    pub kept: bool,
    /// Why, in a sentence for the operator.
    pub why: &'static str,
}

/// A port a component listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Port {
    /// What it is for (`public`, `mysql`, ...).
    pub name: &'static str,
    /// The TCP port inside the container.
    pub port: u16,
}

/// One component (a process kind) of a service.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ComponentDef {
    /// The name used in records, e.g. `nova-conductor`.
    pub name: &'static str,
    /// The service it belongs to, e.g. `nova`.
    pub service: &'static str,
    /// How it is replaced.
    pub kind: ComponentKind,
    /// Ports it listens on.
    pub ports: &'static [Port],
    /// Components that must be running before this one starts or changes.
    pub after: &'static [&'static str],
    /// Instances when the record does not say.
    pub default_replicas: u32,
}

/// Known versions of a service and how they may change.
#[derive(Debug, Clone, Copy)]
pub struct VersionRules {
    /// Per release series (oldest first): the versions of this service in it, oldest first.
    pub by_release: &'static [(&'static str, &'static [&'static str])],
}

/// Where an image's contents come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum ImageSource {
    /// Debian packages installed on the base root file system.
    Debian {
        /// Packages to install.
        packages: Vec<&'static str>,
    },
    /// An upstream OpenStack release from PyPI in a virtualenv.
    Pypi {
        /// The PyPI package (`keystone`, `openstack-placement`).
        package: &'static str,
        /// The release series whose constraints pin the libraries.
        release: String,
        /// Extra packages every OpenStack image carries (WSGI server, DB driver, cache client).
        extras: Vec<&'static str>,
        /// Debian packages the service needs at run time beside Python.
        debs: Vec<&'static str>,
    },
}

/// Everything needed to build one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRecipe {
    /// The service, e.g. `nova` (one image serves all nova components).
    pub service: &'static str,
    /// The version of the service.
    pub version: String,
    /// The local repository, e.g. `ankyra/keystone`.
    pub repository: String,
    /// The tag, the version.
    pub tag: String,
    /// Where the contents come from.
    pub source: ImageSource,
    /// The health check command baked into the image.
    pub healthcheck: Vec<String>,
}

impl ImageRecipe {
    /// The recipe of Ankyra's own image of `service`,
    /// `ankyra/<service>:<version>`.
    pub fn ankyra(
        service: &'static str,
        version: &Version,
        source: ImageSource,
        healthcheck: Vec<String>,
    ) -> ImageRecipe {
        ImageRecipe {
            service,
            version: version.to_string(),
            repository: format!("ankyra/{service}"),
            tag: version.to_string(),
            source,
            healthcheck,
        }
    }
    /// `repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// What Ankyra knows about one service. Implemented once per module in `services/`.
pub trait Service: Sync {
    /// The service's name, e.g. `keystone`.
    fn name(&self) -> &'static str;
    /// Its components.
    fn components(&self) -> &'static [ComponentDef];
    /// Its known versions.
    fn versions(&self) -> &'static VersionRules;
    /// The recipe of the image that runs `version` of this service.
    fn image(&self, version: &Version, release: &str) -> ImageRecipe;
    /// Secrets this service needs (generated once per cloud, kept in the store).
    fn secrets(&self) -> &'static [crate::SecretSpec] {
        &[]
    }
    /// How to run one instance of `component` (None: the catalog cannot run it yet).
    fn process(&self, _component: &str, _cx: &crate::CloudContext) -> Option<crate::ProcessSpec> {
        None
    }
    /// Bootstrap jobs of `component`, in order.
    fn bootstrap(&self, _component: &str, _cx: &crate::CloudContext) -> Vec<crate::Job> {
        Vec::new()
    }
    /// Schema jobs of an upgrade, run with the NEW image while the old
    /// version still serves (expand, migrate); never contract.
    fn upgrade_jobs(&self, component: &str, cx: &crate::CloudContext) -> Vec<crate::Job> {
        // Without expand/migrate phases the service's own sync is all there is
        // (its database already exists: the creation job, run in the mariadb
        // image, is left out).
        self.bootstrap(component, cx)
            .into_iter()
            .filter(|j| j.when == crate::JobWhen::Before && j.component == component)
            .collect()
    }
    /// Jobs that finish an upgrade once the operator trusts it (contract).
    fn finalize_jobs(&self, _component: &str, _cx: &crate::CloudContext) -> Vec<crate::Job> {
        Vec::new()
    }
    /// The check a new API instance must pass before it takes traffic.
    fn smoke(&self, _component: &str) -> Option<crate::Smoke> {
        None
    }
    /// How instances of `component` (of `kind`) are replaced.
    fn replace_strategy(&self, _component: &str, kind: ComponentKind) -> Replace {
        Replace::default_for(kind)
    }
    /// The host name of the instance of `component` in `slot` (1, 2, ...):
    /// stable, so a replacement takes over the identity the service keeps
    /// for it. None: the container engine's default (the container ID).
    fn instance_host(
        &self,
        _component: &str,
        _cx: &crate::CloudContext,
        _slot: u32,
    ) -> Option<String> {
        None
    }
    /// What to ask the service before a new instance of `component` counts
    /// as ready (None: its readiness probe is enough).
    fn service_gate(&self, _component: &str) -> Option<ServiceGate> {
        None
    }
    /// What replacing (or, with `removing`, removing) `component` does to
    /// running guests (None: nothing, it does not touch them).
    fn guest_effect(&self, _component: &str, _removing: bool) -> Option<GuestEffect> {
        None
    }
    /// What to register in keystone for this service.
    fn registration(&self, _cx: &crate::CloudContext) -> Option<crate::Registration> {
        None
    }
    /// The path HAProxy checks on an API component (`option httpchk GET <path>`).
    fn check_path(&self, _component: &str) -> Option<&'static str> {
        None
    }
    /// The databases this service owns in MariaDB (created by its first job).
    fn databases(&self) -> &'static [&'static str] {
        &[]
    }
    /// The release series a version belongs to, found from the version table.
    fn release_of(&self, version: &Version) -> Option<&'static str> {
        self.versions()
            .by_release
            .iter()
            .find(|(_, vs)| {
                vs.iter()
                    .any(|v| v.parse::<Version>().ok().as_ref() == Some(version))
            })
            .map(|(r, _)| *r)
    }
    /// Every known version, oldest first.
    fn known_versions(&self) -> Vec<Version> {
        let mut out: Vec<Version> = self
            .versions()
            .by_release
            .iter()
            .flat_map(|(_, vs)| vs.iter().filter_map(|v| v.parse().ok()))
            .collect();
        out.sort();
        out
    }
    /// The newest version of this service in `release`.
    fn default_version(&self, release: &str) -> Option<Version> {
        self.versions()
            .by_release
            .iter()
            .find(|(r, _)| *r == release)
            // Infrastructure is versioned by Debian, not by the OpenStack series.
            .or_else(|| self.versions().by_release.last())
            .and_then(|(_, vs)| vs.last())
            .and_then(|v| v.parse().ok())
    }
}

/// The extras every OpenStack image carries.
pub fn openstack_extras() -> Vec<&'static str> {
    vec!["gunicorn", "PyMySQL", "python-memcached"]
}

/// A health check that asks an HTTP endpoint inside the container.
pub fn http_healthcheck(port: u16, path: &str) -> Vec<String> {
    vec![
        "CMD".into(),
        "python3".into(),
        "-c".into(),
        format!(
            "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=5); sys.exit(0)"
        ),
    ]
}

/// The recipe of an OpenStack service image built from PyPI.
pub fn pypi_image(
    service: &'static str,
    package: &'static str,
    version: &Version,
    release: &str,
    health: (u16, &str),
    debs: Vec<&'static str>,
) -> ImageRecipe {
    ImageRecipe::ankyra(
        service,
        version,
        ImageSource::Pypi {
            package,
            release: release.to_string(),
            extras: openstack_extras(),
            debs,
        },
        http_healthcheck(health.0, health.1),
    )
}
