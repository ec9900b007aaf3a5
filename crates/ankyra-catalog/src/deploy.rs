//! What a service needs to run in containers: its config files, processes,
//! bootstrap jobs and secrets. Filled in by each service module; read by the
//! engine, which stays generic.

use std::collections::BTreeMap;

use serde::Serialize;

/// Everything a service module may need to know about the cloud to render
/// its files. Built by the engine; plain data.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CloudContext {
    /// The cloud's name.
    pub cloud: String,
    /// The OpenStack release series.
    pub release: String,
    /// The address of the cloud's HAProxy on the cloud network; every API
    /// endpoint (public, internal, admin) is `http://<vip>:<port>`.
    pub vip: String,
    /// Components present in this cloud (a record may leave some out).
    pub components: Vec<String>,
    /// How nova-compute runs servers.
    pub compute_driver: ankyra_model::ComputeDriver,
    /// API backends per component (for haproxy.cfg): instance name and address.
    pub backends: BTreeMap<String, Vec<Backend>>,
    /// Secrets by name (see [`SecretSpec`]); never logged, only written to files.
    #[serde(skip)]
    pub secrets: BTreeMap<String, String>,
    /// The record's config overrides of the component being rendered:
    /// file name → section → key → value, merged over the defaults.
    pub overrides: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

/// A smoke check of one new API instance, called on its own address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Smoke {
    /// Issue an admin token on the instance and validate it there (keystone).
    Token,
    /// GET `path` with an admin token; any 2xx passes.
    Get {
        /// The path, e.g. `/v2/images`.
        path: &'static str,
        /// Extra headers (microversions).
        headers: &'static [(&'static str, &'static str)],
    },
}

/// One API instance behind HAProxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// The server name in HAProxy (the container name).
    pub name: String,
    /// Its address on the cloud network.
    pub address: String,
    /// Its port.
    pub port: u16,
    /// In rotation; `false` keeps it out (`disabled`: HAProxy's maintenance).
    pub enabled: bool,
}

/// A file the engine writes on the host and mounts read-only into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// Absolute path inside the container, e.g. `/etc/keystone/keystone.conf`.
    pub path: String,
    /// The content.
    #[serde(skip)]
    pub content: String,
    /// Whether it holds secrets (passwords, keys): written 0600 on the host.
    pub secret: bool,
}

/// A named Docker volume (prefixed with the cloud's name by the engine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeMount {
    /// Volume name without the cloud prefix, e.g. `mariadb-data`, `keystone-fernet`.
    pub volume: String,
    /// Mount point inside the container.
    pub target: String,
}

/// How the engine knows an instance is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "probe", rename_all = "kebab-case")]
pub enum Probe {
    /// An HTTP GET answering one of the expected statuses.
    Http {
        /// Port inside the container.
        port: u16,
        /// Path, e.g. `/v3`.
        path: String,
        /// Acceptable statuses.
        expect: Vec<u16>,
    },
    /// A TCP connect.
    Tcp {
        /// Port inside the container.
        port: u16,
    },
    /// A command inside the container that exits 0 when ready.
    Exec {
        /// The command.
        command: Vec<String>,
    },
}

/// How to run one instance of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessSpec {
    /// The command (argv) of the container's main process. Never holds a secret.
    pub command: Vec<String>,
    /// Environment: never a secret (config dirs, PATH-like settings only).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Named volumes.
    pub volumes: Vec<VolumeMount>,
    /// Files rendered for this process (mounted read-only at their paths).
    pub files: Vec<ConfigFile>,
    /// Readiness probe.
    pub probe: Probe,
    /// Seconds Docker waits after SIGTERM before SIGKILL.
    pub stop_timeout_secs: u32,
    /// What of the host it needs beyond an ordinary container (none for most).
    pub host: HostAccess,
}

/// What of the host a process needs beyond an ordinary container: libvirt's
/// QEMU guests must outlive its container (compute-notes.md). Part of the
/// process hash, so a change replaces the instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostAccess {
    /// The host's PID namespace (QEMU is not in the container's, so it lives on).
    pub pid: bool,
    /// The host's network namespace (taps and bridges of guests).
    pub network: bool,
    /// The host's cgroup namespace.
    pub cgroupns: bool,
    /// Linux capabilities added (`ALL` for every one).
    pub cap_add: Vec<String>,
    /// Linux capabilities dropped.
    pub cap_drop: Vec<String>,
    /// Security options (`seccomp=unconfined`, ...).
    pub security_opt: Vec<String>,
    /// Device cgroup rules (`a *:* rwm`).
    pub device_cgroup_rules: Vec<String>,
    /// Host paths bound at the same path inside (`/dev`, `/sys/fs/cgroup`).
    pub paths: Vec<String>,
    /// Paths covered by an empty tmpfs inside.
    pub tmpfs: Vec<String>,
}

/// A one-shot bootstrap command, run once in order, with the component's
/// image, files and volumes. Idempotent: the engine may re-run it after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Name shown in progress and the journal, e.g. `keystone db_sync`.
    pub name: String,
    /// The component whose image, files and volumes the job uses.
    pub component: String,
    /// The command. Never holds a secret: read secrets from mounted files.
    pub command: Vec<String>,
    /// Extra files only this job needs (e.g. an SQL script with passwords).
    pub files: Vec<ConfigFile>,
    /// When the job runs: before the component's instances start, or after they are ready.
    pub when: JobWhen,
}

/// When a bootstrap job runs relative to its component's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobWhen {
    /// Before the instances start (db sync, key setup).
    Before,
    /// After the instances are ready (registration through the API).
    After,
}

/// A secret the engine generates once (CSPRNG) and keeps in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SecretSpec {
    /// Name, e.g. `keystone-db-password`.
    pub name: &'static str,
    /// Length in characters of the generated value.
    pub length: usize,
}

/// What the engine registers in keystone for a service: its user and endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// Service type in the keystone catalog (`image`, `placement`, `compute`, `network`).
    pub service_type: String,
    /// Service name (`glance`).
    pub service_name: String,
    /// The endpoint URL (same for public, internal, admin): `http://<vip>:<port><path>`.
    pub url: String,
    /// The service user's name, and the secret holding its password.
    pub user: Option<(String, String)>,
}
