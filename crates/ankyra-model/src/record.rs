//! The typed cloud record: what the operator writes, after parsing.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SourceFile;
use crate::{CloudName, ImageRef, Seconds, Span, Spanned, Version};

/// The only `apiVersion` this build reads.
pub const API_VERSION: &str = "ankyra/v1";
/// The only `kind` this build reads.
pub const KIND: &str = "Cloud";
/// The name of the host every record has: the local Docker Engine.
pub const LOCAL_HOST: &str = "local";

/// Config overrides: file name → section → key → value, merged over the catalog's defaults.
pub type ConfigOverrides = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

/// A whole cloud: the contract from which Ankyra deploys and changes it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Ankyra cloud record")]
pub struct Record {
    /// Always `ankyra/v1`.
    #[schemars(regex(pattern = r"^ankyra/v1$"))]
    pub api_version: String,
    /// Always `Cloud`.
    #[schemars(regex(pattern = r"^Cloud$"))]
    pub kind: String,
    /// Name and labels.
    pub metadata: Metadata,
    /// What the cloud runs.
    pub spec: Spec,
    /// The file this record was read from, for errors found after parsing.
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Option<Arc<SourceFile>>,
}

/// Name and labels of a cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The cloud's name: lowercase letters, digits and -, starting with a letter.
    pub name: Spanned<CloudName>,
    /// Free labels used to select clouds in a fleet (`region: eu-west`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What a cloud runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The OpenStack release (series) whose versions are the default, e.g. `2026.1`.
    pub release: Spanned<String>,
    /// Container engines this cloud may run on; `local` (the local Docker Engine) always exists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, HostSpec>,
    /// The host (a name from `hosts`) the whole cloud runs on; default `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Spanned<String>>,
    /// How instances are replaced during an upgrade; defaults apply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
    /// How servers run; when absent, `libvirt` if the record has the
    /// `nova-libvirt` component, else `fake`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<ComputeSpec>,
    /// The components of the cloud, by name (`keystone`, `nova-api`, ...).
    pub components: BTreeMap<String, ComponentSpec>,
}

/// A container engine a cloud can run on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Engine address: `unix:///var/run/docker.sock`, `tcp://host:2376` or `ssh://user@host`.
    pub engine: Spanned<String>,
    /// Client certificate and the CA that signed the engine's, for `tcp://` with TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// The IPv4 /16 the cloud's network takes its /24 from on this engine
    /// (routed from where Ankyra runs); default `10.231.0.0/16`.
    #[serde(
        default,
        rename = "subnetPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub subnet_pool: Option<Spanned<String>>,
}

/// TLS files for a remote engine: absolute paths on the machine Ankyra runs on
/// (the record names them; their contents never enter the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// The CA certificate that signed the engine's certificate (PEM).
    pub ca: Spanned<String>,
    /// The client certificate (PEM).
    pub cert: Spanned<String>,
    /// The client key (PEM), readable by its owner only.
    pub key: Spanned<String>,
}

/// The compute driver nova-compute runs servers with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ComputeDriver {
    /// Real guests: QEMU under libvirt (the `nova-libvirt` component).
    Libvirt,
    /// nova's fake driver: servers are database rows (tests without guests).
    #[default]
    Fake,
}

impl ComputeDriver {
    /// The names a record may use.
    pub const NAMES: &'static [&'static str] = &["libvirt", "fake"];
    /// Its name in a record.
    pub fn as_str(self) -> &'static str {
        match self {
            ComputeDriver::Libvirt => "libvirt",
            ComputeDriver::Fake => "fake",
        }
    }
}

impl std::str::FromStr for ComputeDriver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "libvirt" => Ok(ComputeDriver::Libvirt),
            "fake" => Ok(ComputeDriver::Fake),
            _ => Err(format!("`{s}` is not a compute driver")),
        }
    }
}

/// `spec.compute`: how nova runs servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeSpec {
    /// `libvirt` (QEMU guests, needs the `nova-libvirt` component) or `fake`.
    pub driver: Spanned<ComputeDriver>,
}

/// How Ankyra replaces instances during an upgrade: new instances start
/// beside the old ones, are watched, then take over; the old ones stay out of
/// rotation for a while so a rollback is instant. Absent fields take their
/// defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutSpec {
    /// New instances started beside the old ones at a time, 1 to 16; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16))]
    pub max_surge: Option<Spanned<u32>>,
    /// How long old instances stay running out of rotation after an upgrade,
    /// for an instant rollback; `0s` removes them at once. Default 15m, at most 7d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_window: Option<Spanned<Seconds>>,
    /// How long new instances are watched (load balancer error counts) before
    /// the old ones go. Default 10s, at most 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observe: Option<Spanned<Seconds>>,
}

impl RolloutSpec {
    /// `maxSurge` when the record does not say.
    pub const DEFAULT_MAX_SURGE: u32 = 1;
    /// The largest `maxSurge` (the smallest is 1).
    pub const MAX_SURGE_LIMIT: u32 = 16;
    /// `bakeWindow` when the record does not say.
    pub const DEFAULT_BAKE_WINDOW: Seconds = Seconds::minutes(15);
    /// The longest `bakeWindow`.
    pub const BAKE_WINDOW_LIMIT: Seconds = Seconds::days(7);
    /// `observe` when the record does not say.
    pub const DEFAULT_OBSERVE: Seconds = Seconds(10);
    /// The longest `observe`.
    pub const OBSERVE_LIMIT: Seconds = Seconds::hours(1);

    /// Whether no field is set (the record might as well not have the section).
    pub fn is_empty(&self) -> bool {
        self.max_surge.is_none() && self.bake_window.is_none() && self.observe.is_none()
    }
}

/// One component of the cloud.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// The version to run; defaults to the release's version of this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Spanned<Version>>,
    /// An explicit image (`name:tag`, optionally `@sha256:` digest) instead of Ankyra's own build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Spanned<ImageRef>>,
    /// How many instances (containers) run; defaults to the catalog's value (usually 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 64))]
    pub replicas: Option<Spanned<u32>>,
    /// Hosts (from `spec.hosts`) the instances run on; defaults to `[local]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Spanned<String>>,
    /// Config overrides: file → section → key → value, merged over the catalog's defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: ConfigOverrides,
    /// Where the component's key was written.
    #[serde(skip)]
    #[schemars(skip)]
    pub key_span: Option<Span>,
}

impl Record {
    /// The cloud's name.
    pub fn name(&self) -> &CloudName {
        &self.metadata.name.value
    }

    /// The record as canonical JSON: sorted keys, no positions. Two records
    /// with the same content have the same canonical form, whatever their layout.
    pub fn canonical_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(self).expect("a record always serializes to JSON")
    }

    /// The content hash of the record (sha256 of its canonical JSON).
    pub fn content_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// Reads a record back from its canonical JSON (as kept in the store).
    pub fn from_canonical_json(text: &str) -> Result<Record, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The record as YAML, for people (`ankyra show`).
    pub fn to_yaml(&self) -> String {
        crate::emit::to_yaml(self)
    }
}

// Equality is about content: where a record was read from is not part of it.
impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.api_version == other.api_version
            && self.kind == other.kind
            && self.metadata == other.metadata
            && self.spec == other.spec
    }
}

impl PartialEq for ComponentSpec {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.image == other.image
            && self.replicas == other.replicas
            && self.hosts == other.hosts
            && self.config == other.config
    }
}
