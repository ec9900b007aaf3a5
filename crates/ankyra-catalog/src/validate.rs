//! Checks a parsed record against the catalog and resolves its defaults:
//! versions from the release, images from versions, replicas, hosts.

use std::collections::BTreeMap;
use std::time::Duration;

use ankyra_model::{
    suggest, ComputeDriver, ConfigOverrides, Record, RecordError, RecordErrors, RolloutSpec,
    Version, LOCAL_HOST,
};
use serde::Serialize;

use crate::release::RELEASES;
use crate::types::ComponentKind;
use crate::Catalog;

/// A component with every default filled in: what the planner compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedComponent {
    /// `keystone`, `nova-api`, ...
    pub name: String,
    /// The service it belongs to.
    pub service: String,
    /// How it is replaced.
    pub kind: ComponentKind,
    /// The version it runs.
    pub version: Version,
    /// The image reference it runs (`ankyra/keystone:30.0.0`, or the record's own).
    pub image: String,
    /// Instances.
    pub replicas: u32,
    /// Hosts its instances run on.
    pub hosts: Vec<String>,
    /// The record's config overrides.
    pub config: ConfigOverrides,
}

/// A record checked against the catalog, components in dependency order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedRecord {
    /// The cloud's name.
    pub cloud: String,
    /// The release series.
    pub release: String,
    /// Components in the order they start and upgrade.
    pub components: Vec<ResolvedComponent>,
    /// Host name → engine address.
    pub hosts: BTreeMap<String, String>,
    /// The engine the whole cloud runs on.
    pub engine: EngineTarget,
    /// How instances are replaced during an upgrade.
    pub rollout: Rollout,
    /// How nova-compute runs servers.
    pub compute_driver: ComputeDriver,
}

/// The container engine a cloud runs on (`spec.host`, from `spec.hosts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineTarget {
    /// The host's name in the record (`local` by default).
    pub host: String,
    /// Its address: `unix:///...` or `tcp://host:port`.
    pub address: String,
    /// Client TLS files for a `tcp://` engine.
    pub tls: Option<TlsFiles>,
    /// The /16 the cloud's network takes a /24 from: its first two octets.
    pub subnet_pool: (u8, u8),
}

/// Paths of the TLS files for a remote engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    /// CA certificate.
    pub ca: String,
    /// Client certificate.
    pub cert: String,
    /// Client key.
    pub key: String,
}

impl EngineTarget {
    /// The local Docker Engine.
    pub fn local() -> EngineTarget {
        EngineTarget {
            host: LOCAL_HOST.into(),
            address: "unix:///var/run/docker.sock".into(),
            tls: None,
            subnet_pool: DEFAULT_SUBNET_POOL,
        }
    }

    /// Whether the engine is this machine's own (it sees this file system).
    pub fn is_local(&self) -> bool {
        self.address.starts_with("unix://")
    }
}

/// Where cloud networks come from when the host does not say: 10.231.0.0/16.
pub const DEFAULT_SUBNET_POOL: (u8, u8) = (10, 231);

/// How instances are replaced during an upgrade (the record's `spec.rollout`, defaults filled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rollout {
    /// New instances started beside the old ones at a time (1 to 16).
    pub max_surge: u32,
    /// How long old instances stay running out of rotation after an upgrade,
    /// for an instant rollback; zero removes them at once.
    #[serde(rename = "bake_window_secs", serialize_with = "as_secs")]
    pub bake_window: Duration,
    /// How long new instances are watched before the old ones go.
    #[serde(rename = "observe_secs", serialize_with = "as_secs")]
    pub observe: Duration,
}

impl Default for Rollout {
    /// One instance at a time, watched 10 s, old ones kept 15 min.
    fn default() -> Self {
        Rollout {
            max_surge: RolloutSpec::DEFAULT_MAX_SURGE,
            bake_window: RolloutSpec::DEFAULT_BAKE_WINDOW.as_duration(),
            observe: RolloutSpec::DEFAULT_OBSERVE.as_duration(),
        }
    }
}

impl Rollout {
    /// The record's `spec.rollout` with defaults for what it leaves out.
    pub fn from_spec(spec: Option<&RolloutSpec>) -> Rollout {
        let d = Rollout::default();
        let Some(spec) = spec else { return d };
        Rollout {
            max_surge: spec.max_surge.as_ref().map_or(d.max_surge, |m| m.value),
            bake_window: spec
                .bake_window
                .as_ref()
                .map_or(d.bake_window, |b| b.value.as_duration()),
            observe: spec
                .observe
                .as_ref()
                .map_or(d.observe, |o| o.value.as_duration()),
        }
    }
}

/// Durations are whole seconds in JSON output (`bake_window_secs`, `observe_secs`).
fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// Validates a record against the catalog: every problem, with its position.
pub fn validate_record(record: &Record) -> Result<(), RecordErrors> {
    resolve(record).map(|_| ())
}

/// Validates and resolves a record.
pub fn resolve(record: &Record) -> Result<ResolvedRecord, RecordErrors> {
    let catalog = Catalog::get();
    let src = record.source.as_ref();
    let mut errors = Vec::new();
    let release = record.spec.release.value.clone();
    if !RELEASES.iter().any(|r| r.name == release) {
        let names: Vec<&str> = RELEASES.iter().map(|r| r.name).collect();
        errors.push(RecordError::new(
            src,
            record.spec.release.span,
            "spec.release",
            format!("unknown OpenStack release `{release}`"),
            Some(format!("known releases: {}", names.join(", "))),
        ));
    }
    let mut hosts: BTreeMap<String, String> = record
        .spec
        .hosts
        .iter()
        .map(|(k, h)| (k.clone(), h.engine.value.clone()))
        .collect();
    hosts
        .entry(LOCAL_HOST.to_string())
        .or_insert_with(|| "unix:///var/run/docker.sock".to_string());
    let engine = engine_target(record, &hosts, &mut errors);

    let mut components = Vec::new();
    for (name, spec) in &record.spec.components {
        let path = format!("spec.components.{name}");
        let (def, svc) = match catalog.component(name) {
            Ok(found) => found,
            Err(_) => {
                let known = catalog.component_names();
                let help = match suggest(name, known.iter().copied()) {
                    Some(near) => format!(
                        "did you mean `{near}`? known components: {}",
                        known.join(", ")
                    ),
                    None => format!("known components: {}", known.join(", ")),
                };
                errors.push(RecordError::new(
                    src,
                    spec.key_span,
                    &path,
                    format!("unknown component `{name}`"),
                    Some(help),
                ));
                continue;
            }
        };
        let version = match &spec.version {
            Some(v) => {
                let known = svc.known_versions();
                if !known.contains(&v.value) && spec.image.is_none() {
                    let list: Vec<String> = known.iter().map(ToString::to_string).collect();
                    errors.push(RecordError::new(
                        src,
                        v.span,
                        format!("{path}.version"),
                        format!("unknown {} version `{}`", svc.name(), v.value),
                        Some(format!(
                            "valid: {}; `ankyra catalog {}` lists versions and allowed upgrade paths (a custom version needs `image:` too)",
                            list.join(", "),
                            svc.name()
                        )),
                    ));
                    continue;
                }
                v.value.clone()
            }
            None => match spec
                .image
                .as_ref()
                .and_then(|i| i.tag.as_deref())
                .and_then(|t| t.parse::<Version>().ok())
                .or_else(|| svc.default_version(&release))
            {
                Some(v) => v,
                None => continue, // the unknown release is reported above
            },
        };
        let image = match &spec.image {
            Some(i) => i.value.to_string(),
            None => svc.image(&version, &release).reference(),
        };
        let replicas = spec
            .replicas
            .as_ref()
            .map(|r| r.value)
            .unwrap_or(def.default_replicas);
        if def.kind != ComponentKind::Api && replicas > 1 && def.kind != ComponentKind::Worker {
            errors.push(RecordError::new(
                src,
                spec.replicas.as_ref().and_then(|r| r.span),
                format!("{path}.replicas"),
                format!("{name} runs as one instance in this release of Ankyra"),
                Some("use replicas: 1 (clustered infrastructure is not supported yet)".into()),
            ));
        }
        let mut host_names = Vec::new();
        for h in &spec.hosts {
            if !hosts.contains_key(&h.value) {
                let known: Vec<&str> = hosts.keys().map(String::as_str).collect();
                errors.push(RecordError::new(
                    src,
                    h.span,
                    format!("{path}.hosts"),
                    format!("unknown host `{}`", h.value),
                    Some(format!("hosts defined in spec.hosts: {}", known.join(", "))),
                ));
            }
            host_names.push(h.value.clone());
        }
        if host_names.is_empty() {
            host_names.push(engine.host.clone());
        }
        if let Some(other) = host_names.iter().find(|h| **h != engine.host) {
            let span = spec
                .hosts
                .iter()
                .find(|h| h.value == *other)
                .and_then(|h| h.span);
            errors.push(RecordError::new(
                src,
                span,
                format!("{path}.hosts"),
                format!(
                    "`{other}` is not the cloud's host `{}`: a cloud runs on one engine",
                    engine.host
                ),
                Some(
                    "set spec.host to the engine the cloud runs on and leave components' hosts out \
                     (one cloud over several engines is not built yet)"
                        .into(),
                ),
            ));
        }
        components.push(ResolvedComponent {
            name: name.clone(),
            service: svc.name().to_string(),
            kind: def.kind,
            version,
            image,
            replicas,
            hosts: host_names,
            config: spec.config.clone(),
        });
    }
    let compute_driver = compute_driver(record, &mut errors);
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(RecordErrors { errors });
    }
    components.sort_by_key(|c| catalog.rank(&c.name));
    Ok(ResolvedRecord {
        cloud: record.name().to_string(),
        release,
        components,
        hosts,
        engine,
        rollout: Rollout::from_spec(record.spec.rollout.as_ref()),
        compute_driver,
    })
}

/// The component that runs QEMU guests for nova's libvirt driver.
pub const LIBVIRT_COMPONENT: &str = "nova-libvirt";

/// `spec.compute.driver`, or what the components imply: `libvirt` when the
/// record has `nova-libvirt`, else `fake`. A driver without its component
/// (or the component with the fake driver) is an error at the driver.
fn compute_driver(record: &Record, errors: &mut Vec<RecordError>) -> ComputeDriver {
    let libvirt = record.spec.components.get(LIBVIRT_COMPONENT);
    let Some(spec) = &record.spec.compute else {
        return if libvirt.is_some() {
            ComputeDriver::Libvirt
        } else {
            ComputeDriver::Fake
        };
    };
    let driver = spec.driver.value;
    let src = record.source.as_ref();
    match (driver, libvirt) {
        (ComputeDriver::Libvirt, None) => errors.push(RecordError::new(
            src,
            spec.driver.span,
            "spec.compute.driver",
            "the libvirt driver needs the `nova-libvirt` component, which the record does not have",
            Some(format!(
                "add `{LIBVIRT_COMPONENT}: {{}}` under spec.components, or use driver: fake"
            )),
        )),
        (ComputeDriver::Fake, Some(_)) => errors.push(RecordError::new(
            src,
            spec.driver.span,
            "spec.compute.driver",
            "the fake driver runs no guests, but the record has the `nova-libvirt` component",
            Some(format!(
                "use driver: libvirt, or remove `{LIBVIRT_COMPONENT}` from spec.components"
            )),
        )),
        _ => {}
    }
    driver
}

/// The engine `spec.host` names (the local one by default); errors for an
/// unknown host or an engine kind Ankyra cannot drive.
fn engine_target(
    record: &Record,
    hosts: &BTreeMap<String, String>,
    errors: &mut Vec<RecordError>,
) -> EngineTarget {
    let src = record.source.as_ref();
    let Some(name) = &record.spec.host else {
        return EngineTarget::local();
    };
    if name.value == LOCAL_HOST {
        return EngineTarget::local();
    }
    let Some(spec) = record.spec.hosts.get(&name.value) else {
        let known: Vec<&str> = hosts.keys().map(String::as_str).collect();
        errors.push(RecordError::new(
            src,
            name.span,
            "spec.host",
            format!("unknown host `{}`", name.value),
            Some(format!("hosts defined in spec.hosts: {}", known.join(", "))),
        ));
        return EngineTarget::local();
    };
    let path = format!("spec.hosts.{}", name.value);
    let address = spec.engine.value.clone();
    if address.starts_with("ssh://") {
        errors.push(RecordError::new(
            src,
            spec.engine.span,
            format!("{path}.engine"),
            "ssh:// engines are not supported yet",
            Some("use tcp://host:2376 with tls (ca, cert, key)".into()),
        ));
    }
    let subnet_pool = spec
        .subnet_pool
        .as_ref()
        .and_then(|p| ankyra_model::ipv4_slash16(&p.value))
        .unwrap_or(DEFAULT_SUBNET_POOL);
    EngineTarget {
        host: name.value.clone(),
        address,
        tls: spec.tls.as_ref().map(|t| TlsFiles {
            ca: t.ca.value.clone(),
            cert: t.cert.value.clone(),
            key: t.key.value.clone(),
        }),
        subnet_pool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ankyra_model::parse_record;

    fn rec(components: &str) -> String {
        format!("apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: t\nspec:\n  release: \"2026.1\"\n  components:\n{components}")
    }

    #[test]
    fn unknown_version_points_at_its_line_and_lists_valid_ones() {
        let text = rec("    mariadb: {}\n    keystone:\n      version: 31.0.0\n");
        let r = parse_record("lab1.yaml", text.as_bytes()).expect("parses");
        let e = resolve(&r).expect_err("unknown version");
        let first = e.first().expect("an error");
        assert_eq!((first.line, first.column), (10, 16));
        assert_eq!(first.message, "unknown keystone version `31.0.0`");
        assert!(first.help.as_deref().unwrap_or("").contains("27.1.0"));
    }

    #[test]
    fn a_cloud_runs_on_the_engine_spec_host_names() {
        let host =
            "  host: site-b\n  hosts:\n    site-b:\n      engine: tcp://198.51.100.11:2376\n      \
                    tls: {ca: /etc/a/ca.pem, cert: /etc/a/cert.pem, key: /etc/a/key.pem}\n      \
                    subnetPool: 10.233.0.0/16\n  components:";
        let text = rec("    keystone: {}\n").replace("  components:", host);
        let r = parse_record("x.yaml", text.as_bytes()).expect("parses");
        let res = resolve(&r).expect("valid");
        assert_eq!(res.engine.host, "site-b");
        assert_eq!(res.engine.address, "tcp://198.51.100.11:2376");
        assert_eq!(res.engine.subnet_pool, (10, 233));
        assert!(!res.engine.is_local());
        assert_eq!(
            res.engine.tls.as_ref().map(|t| t.key.as_str()),
            Some("/etc/a/key.pem")
        );
        assert_eq!(res.components[0].hosts, ["site-b"]);

        let plain =
            resolve(&parse_record("x.yaml", rec("    keystone: {}\n").as_bytes()).expect("parses"))
                .expect("valid");
        assert_eq!(plain.engine, EngineTarget::local());
    }

    #[test]
    fn ssh_engines_unknown_hosts_and_split_clouds_are_refused() {
        let ssh = rec("    keystone: {}\n").replace(
            "  components:",
            "  host: b\n  hosts:\n    b: {engine: ssh://ops@b}\n  components:",
        );
        let e = resolve(&parse_record("x.yaml", ssh.as_bytes()).expect("parses")).expect_err("ssh");
        let first = e.first().expect("an error");
        assert_eq!(first.field, "spec.hosts.b.engine");
        assert!(first.message.contains("ssh:// engines are not supported"));

        let unknown =
            rec("    keystone: {}\n").replace("  components:", "  host: nowhere\n  components:");
        let e = resolve(&parse_record("x.yaml", unknown.as_bytes()).expect("parses"))
            .expect_err("unknown");
        assert_eq!(e.first().expect("an error").field, "spec.host");

        let split = rec("    mariadb: {}\n    keystone:\n      hosts: [local]\n").replace(
            "  components:",
            "  host: b\n  hosts:\n    b: {engine: tcp://b:2376}\n  components:",
        );
        let e =
            resolve(&parse_record("x.yaml", split.as_bytes()).expect("parses")).expect_err("split");
        let first = e.first().expect("an error");
        assert_eq!(first.field, "spec.components.keystone.hosts");
        assert!(first.message.contains("a cloud runs on one engine"));
    }

    #[test]
    fn misspelt_component_is_suggested() {
        let text = rec("    keystnoe: {}\n");
        let r = parse_record("x.yaml", text.as_bytes()).expect("parses");
        let e = resolve(&r).expect_err("unknown component");
        assert!(e
            .first()
            .and_then(|e| e.help.clone())
            .unwrap_or_default()
            .contains("did you mean `keystone`"));
    }

    #[test]
    fn defaults_come_from_the_release_and_order_from_the_catalog() {
        let text = rec("    nova-api: {}\n    keystone: {}\n    mariadb: {}\n");
        let r = parse_record("x.yaml", text.as_bytes()).expect("parses");
        let res = resolve(&r).expect("valid");
        let names: Vec<&str> = res.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["mariadb", "keystone", "nova-api"]);
        assert_eq!(res.components[1].image, "ankyra/keystone:29.1.0");
        assert_eq!(res.components[2].version.to_string(), "33.0.2");
    }

    #[test]
    fn rollout_defaults_fill_what_the_record_leaves_out() {
        let text = rec("    keystone: {}\n");
        let res =
            resolve(&parse_record("x.yaml", text.as_bytes()).expect("parses")).expect("valid");
        assert_eq!(
            res.rollout,
            Rollout {
                max_surge: 1,
                bake_window: Duration::from_secs(15 * 60),
                observe: Duration::from_secs(10),
            }
        );
        assert_eq!(res.rollout, Rollout::default());

        let text = rec("    keystone: {}\n").replace(
            "  components:",
            "  rollout:\n    bakeWindow: 0s\n  components:",
        );
        let res =
            resolve(&parse_record("x.yaml", text.as_bytes()).expect("parses")).expect("valid");
        assert_eq!(res.rollout.max_surge, 1);
        assert_eq!(res.rollout.bake_window, Duration::ZERO);
        assert_eq!(res.rollout.observe, Duration::from_secs(10));

        let text = rec("    keystone: {}\n").replace(
            "  components:",
            "  rollout: {maxSurge: 4, bakeWindow: 2h, observe: 1m}\n  components:",
        );
        let res =
            resolve(&parse_record("x.yaml", text.as_bytes()).expect("parses")).expect("valid");
        assert_eq!(
            res.rollout,
            Rollout {
                max_surge: 4,
                bake_window: Duration::from_secs(7_200),
                observe: Duration::from_secs(60),
            }
        );
        let json = serde_json::to_value(res.rollout).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"max_surge": 4, "bake_window_secs": 7200, "observe_secs": 60})
        );
    }

    #[test]
    fn the_compute_driver_follows_nova_libvirt_and_refuses_a_mismatch() {
        let resolved =
            |text: String| resolve(&parse_record("c.yaml", text.as_bytes()).expect("parses"));
        let with = rec("    nova-compute: {}\n    nova-libvirt: {}\n");
        let without = rec("    nova-compute: {}\n");
        assert_eq!(
            resolved(with.clone()).expect("valid").compute_driver,
            ComputeDriver::Libvirt
        );
        assert_eq!(
            resolved(without.clone()).expect("valid").compute_driver,
            ComputeDriver::Fake
        );
        let driver = |text: &str, d: &str| {
            text.replace(
                "  components:",
                &format!("  compute:\n    driver: {d}\n  components:"),
            )
        };
        assert_eq!(
            resolved(driver(&with, "libvirt"))
                .expect("valid")
                .compute_driver,
            ComputeDriver::Libvirt
        );
        for (text, says) in [
            (
                driver(&without, "libvirt"),
                "needs the `nova-libvirt` component",
            ),
            (driver(&with, "fake"), "runs no guests"),
        ] {
            let e = resolved(text).expect_err("a mismatch");
            let first = e.first().expect("an error");
            assert_eq!(first.field, "spec.compute.driver");
            assert_eq!((first.line, first.column), (8, 13), "{first:?}");
            assert!(first.message.contains(says), "{}", first.message);
        }
        let e = parse_record("c.yaml", driver(&without, "kvm").as_bytes()).expect_err("unknown");
        let first = e.first().expect("an error");
        assert_eq!(first.field, "spec.compute.driver");
        assert!(
            first
                .help
                .as_deref()
                .unwrap_or("")
                .contains("libvirt, fake"),
            "{first:?}"
        );
    }
}
