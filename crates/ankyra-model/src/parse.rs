//! Turns a record file into a typed [`Record`], collecting every problem with
//! its file, line, column and field path. Unknown keys are errors, with the
//! near spelling suggested.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{suggest, RecordError, RecordErrors, SourceFile};
use crate::yaml::{parse_document, Node, NodeKind};
use crate::{
    CloudName, ComponentSpec, ComputeDriver, ComputeSpec, HostSpec, ImageRef, Metadata, Record,
    RolloutSpec, Seconds, Spanned, Spec, TlsSpec, Version, API_VERSION, KIND,
};

/// Records larger than this are refused before parsing.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const METADATA_FIELDS: &[&str] = &["name", "labels"];
const SPEC_FIELDS: &[&str] = &[
    "release",
    "hosts",
    "host",
    "rollout",
    "compute",
    "components",
];
const COMPUTE_FIELDS: &[&str] = &["driver"];
const HOST_FIELDS: &[&str] = &["engine", "tls", "subnetPool"];
const TLS_FIELDS: &[&str] = &["ca", "cert", "key"];
const COMPONENT_FIELDS: &[&str] = &["version", "image", "replicas", "hosts", "config"];
const ROLLOUT_FIELDS: &[&str] = &["maxSurge", "bakeWindow", "observe"];

/// Parses a record from bytes read from `file`. Never panics, whatever the bytes.
pub fn parse_record(file: &str, bytes: &[u8]) -> Result<Record, RecordErrors> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            let src = Arc::new(SourceFile {
                name: file.to_string(),
                text: String::new(),
            });
            let mut err = RecordError::new(
                Some(&src),
                None,
                "",
                format!(
                    "the file is not UTF-8 text (bad byte at offset {})",
                    e.valid_up_to()
                ),
                Some("a record is a YAML text file in UTF-8".into()),
            );
            err.line = line;
            return Err(RecordErrors::one(err));
        }
    };
    let src = Arc::new(SourceFile {
        name: file.to_string(),
        text: text.to_string(),
    });
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordErrors::one(RecordError::new(
            Some(&src),
            None,
            "",
            format!(
                "the file is {} bytes; a record is at most {MAX_RECORD_BYTES}",
                bytes.len()
            ),
            None,
        )));
    }
    let root = parse_document(text).map_err(|e| {
        RecordErrors::one(RecordError::new(
            Some(&src),
            Some(e.span),
            "",
            format!("not valid YAML: {}", e.message),
            Some("a record is a YAML mapping; `ankyra init --name NAME` prints a valid one".into()),
        ))
    })?;
    let mut cx = Cx {
        src: src.clone(),
        errors: Vec::new(),
    };
    let record = cx.record(&root);
    match record {
        Some(r) if cx.errors.is_empty() => Ok(r),
        _ => {
            if cx.errors.is_empty() {
                cx.err(&root, "", "the record is incomplete", None);
            }
            cx.errors.sort_by_key(|e| (e.line, e.column));
            Err(RecordErrors { errors: cx.errors })
        }
    }
}

struct Cx {
    src: Arc<SourceFile>,
    errors: Vec<RecordError>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn is_null(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Scalar { text, quoted: false } if text.is_empty() || text == "~" || text == "null")
}

impl Cx {
    fn err(&mut self, node: &Node, path: &str, message: impl Into<String>, help: Option<String>) {
        self.errors.push(RecordError::new(
            Some(&self.src),
            Some(node.span),
            path,
            message,
            help,
        ));
    }

    /// The entries of a mapping, checked against the allowed keys.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<BTreeMap<&'n str, (&'n Node, &'n Node)>> {
        let NodeKind::Map(entries) = &node.kind else {
            let what = node.kind.describe();
            self.err(
                node,
                path,
                format!(
                    "expected a mapping with keys {}, found {what}",
                    allowed.join(", ")
                ),
                None,
            );
            return None;
        };
        let mut out = BTreeMap::new();
        let mut suggested = Vec::new();
        for (k, v) in entries {
            let key = scalar_text(k);
            if !allowed.contains(&key) {
                let near = suggest(key, allowed.iter().copied());
                suggested.extend(near);
                let help = match near {
                    Some(near) => format!(
                        "did you mean `{near}`? allowed keys: {}",
                        allowed.join(", ")
                    ),
                    None => format!("allowed keys: {}", allowed.join(", ")),
                };
                self.err(
                    k,
                    &join(path, key),
                    format!("unknown key `{key}`"),
                    Some(help),
                );
                continue;
            }
            if out.insert(key, (k, v)).is_some() {
                self.err(
                    k,
                    &join(path, key),
                    format!("key `{key}` is given twice"),
                    None,
                );
            }
        }
        // A block mapping's own mark points past its first key; its first key is where it starts.
        let at = entries.first().map(|(k, _)| k).unwrap_or(node);
        for req in required {
            // A misspelt key already says "did you mean `req`": one error is enough.
            if !out.contains_key(req) && !suggested.contains(req) {
                self.err(
                    at,
                    path,
                    format!("missing required key `{req}`"),
                    Some(format!(
                        "add `{req}:`; `ankyra init` shows a complete record"
                    )),
                );
            }
        }
        Some(out)
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<Spanned<String>> {
        match &node.kind {
            NodeKind::Scalar { text, .. } if !is_null(node) => {
                Some(Spanned::new(text.clone(), node.span))
            }
            other => {
                let what = other.describe();
                self.err(
                    node,
                    path,
                    format!("expected a text value, found {what}"),
                    None,
                );
                None
            }
        }
    }

    fn parsed<T, E: std::fmt::Display>(
        &mut self,
        node: &Node,
        path: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Spanned<T>> {
        self.parsed_with_help(node, path, None, parse)
    }

    /// Like [`Cx::parsed`], with `help` (what is valid) on the error.
    fn parsed_with_help<T, E: std::fmt::Display>(
        &mut self,
        node: &Node,
        path: &str,
        help: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Spanned<T>> {
        let s = self.string(node, path)?;
        match parse(&s.value) {
            Ok(v) => Some(Spanned {
                value: v,
                span: s.span,
            }),
            Err(e) => {
                self.err(node, path, e.to_string(), help.map(str::to_string));
                None
            }
        }
    }

    /// A duration from `0s` to `max`.
    fn duration(&mut self, node: &Node, path: &str, max: Seconds) -> Option<Spanned<Seconds>> {
        let help = format!(
            "write whole seconds (90) or a number with one unit s, m, h or d (90s, 15m, 2h, 1d), from 0s to {max}"
        );
        self.parsed_with_help(node, path, Some(&help), |s| {
            let d = s.parse::<Seconds>().map_err(|e| e.to_string())?;
            if d > max {
                return Err(format!("`{s}` is longer than the maximum of {max}"));
            }
            Ok(d)
        })
    }

    fn string_map(&mut self, node: &Node, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if is_null(node) {
            return out;
        }
        let NodeKind::Map(entries) = &node.kind else {
            let what = node.kind.describe();
            self.err(
                node,
                path,
                format!("expected a mapping of key: value, found {what}"),
                None,
            );
            return out;
        };
        for (k, v) in entries {
            let key = scalar_text(k).to_string();
            let p = join(path, &key);
            if key.is_empty() || key.len() > 253 {
                self.err(k, &p, "a key must be 1-253 characters", None);
                continue;
            }
            if let Some(val) = self.config_value(v, &p) {
                if out.insert(key.clone(), val).is_some() {
                    self.err(k, &p, format!("key `{key}` is given twice"), None);
                }
            }
        }
        out
    }

    fn config_value(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { text, .. } => Some(text.clone()),
            NodeKind::Seq(items) => {
                // oslo.config lists are comma separated; accept a YAML list of scalars.
                let mut parts = Vec::new();
                for item in items {
                    match &item.kind {
                        NodeKind::Scalar { text, .. } => parts.push(text.clone()),
                        _ => {
                            self.err(item, path, "a list value holds plain values only", None);
                            return None;
                        }
                    }
                }
                Some(parts.join(","))
            }
            NodeKind::Map(_) => {
                self.err(
                    node,
                    path,
                    "expected a value, found a mapping",
                    Some("config is file → section → key → value, e.g. keystone.conf: {token: {expiration: \"7200\"}}".into()),
                );
                None
            }
        }
    }

    fn record(&mut self, root: &Node) -> Option<Record> {
        let f = self.fields(root, "", TOP_FIELDS, TOP_FIELDS)?;
        let api_version = f
            .get("apiVersion")
            .and_then(|(_, v)| self.string(v, "apiVersion"));
        if let (Some(a), Some((_, node))) = (&api_version, f.get("apiVersion")) {
            if a.value != API_VERSION {
                self.err(
                    node,
                    "apiVersion",
                    format!("unsupported apiVersion `{}`", a.value),
                    Some(format!("this build reads `{API_VERSION}`")),
                );
            }
        }
        let kind = f.get("kind").and_then(|(_, v)| self.string(v, "kind"));
        if let (Some(k), Some((_, node))) = (&kind, f.get("kind")) {
            if k.value != KIND {
                self.err(
                    node,
                    "kind",
                    format!("unsupported kind `{}`", k.value),
                    Some(format!("the only kind is `{KIND}`")),
                );
            }
        }
        let metadata = f.get("metadata").and_then(|(_, v)| self.metadata(v));
        let spec = f.get("spec").and_then(|(_, v)| self.spec(v));
        Some(Record {
            api_version: api_version?.value,
            kind: kind?.value,
            metadata: metadata?,
            spec: spec?,
            source: Some(self.src.clone()),
        })
    }

    fn metadata(&mut self, node: &Node) -> Option<Metadata> {
        let f = self.fields(node, "metadata", METADATA_FIELDS, &["name"])?;
        let name = f
            .get("name")
            .and_then(|(_, v)| self.parsed(v, "metadata.name", |s| s.parse::<CloudName>()));
        let labels = match f.get("labels") {
            Some((_, v)) => {
                let labels = self.string_map(v, "metadata.labels");
                for (k, val) in &labels {
                    if k.len() > 63 || val.len() > 253 {
                        self.err(
                            v,
                            &format!("metadata.labels.{k}"),
                            "label keys are at most 63 characters, values 253",
                            None,
                        );
                    }
                }
                labels
            }
            None => BTreeMap::new(),
        };
        Some(Metadata {
            name: name?,
            labels,
        })
    }

    fn spec(&mut self, node: &Node) -> Option<Spec> {
        let f = self.fields(node, "spec", SPEC_FIELDS, &["release", "components"])?;
        let release = f
            .get("release")
            .and_then(|(_, v)| self.string(v, "spec.release"));
        let mut hosts = BTreeMap::new();
        if let Some((_, hnode)) = f.get("hosts") {
            if let NodeKind::Map(entries) = &hnode.kind {
                for (k, v) in entries {
                    let name = scalar_text(k).to_string();
                    let path = format!("spec.hosts.{name}");
                    if !crate::names::is_label(&name, 40) {
                        self.err(
                            k,
                            &path,
                            format!("`{name}` is not a valid host name"),
                            Some("use lowercase letters, digits and -".into()),
                        );
                        continue;
                    }
                    if let Some(h) = self.host(v, &path) {
                        hosts.insert(name, h);
                    }
                }
            } else if !is_null(hnode) {
                let what = hnode.kind.describe();
                self.err(
                    hnode,
                    "spec.hosts",
                    format!("expected a mapping of host name to engine, found {what}"),
                    None,
                );
            }
        }
        let host = f.get("host").and_then(|(_, v)| self.string(v, "spec.host"));
        let rollout = match f.get("rollout") {
            Some((_, v)) => self.rollout(v),
            None => None,
        };
        let compute = match f.get("compute") {
            Some((_, v)) => self.compute(v),
            None => None,
        };
        let mut components = BTreeMap::new();
        if let Some((_, cnode)) = f.get("components") {
            match &cnode.kind {
                NodeKind::Map(entries) => {
                    for (k, v) in entries {
                        let name = scalar_text(k).to_string();
                        let path = format!("spec.components.{name}");
                        if !crate::names::is_label(&name, 40) {
                            self.err(
                                k,
                                &path,
                                format!("`{name}` is not a valid component name"),
                                Some(
                                    "component names are lowercase, e.g. keystone or nova-api"
                                        .into(),
                                ),
                            );
                            continue;
                        }
                        if components.contains_key(&name) {
                            self.err(k, &path, format!("component `{name}` is given twice"), None);
                            continue;
                        }
                        if let Some(mut c) = self.component(v, &path) {
                            c.key_span = Some(crate::Span {
                                len: name.chars().count(),
                                ..k.span
                            });
                            components.insert(name, c);
                        }
                    }
                }
                _ => {
                    let what = cnode.kind.describe();
                    self.err(
                        cnode,
                        "spec.components",
                        format!(
                            "expected a mapping of component name to its settings, found {what}"
                        ),
                        None,
                    );
                }
            }
        }
        Some(Spec {
            release: release?,
            hosts,
            host,
            rollout,
            compute,
            components,
        })
    }

    /// `spec.compute`; an empty or null section is the same as none.
    fn compute(&mut self, node: &Node) -> Option<ComputeSpec> {
        if is_null(node) {
            return None;
        }
        let f = self.fields(node, "spec.compute", COMPUTE_FIELDS, &["driver"])?;
        let (_, v) = f.get("driver")?;
        let help = format!(
            "use one of: {} (libvirt runs real QEMU guests and needs the nova-libvirt component)",
            ComputeDriver::NAMES.join(", ")
        );
        let driver = self.parsed_with_help(v, "spec.compute.driver", Some(&help), |s| {
            s.parse::<ComputeDriver>()
        })?;
        Some(ComputeSpec { driver })
    }

    /// `spec.rollout`; an empty or null section is the same as none.
    fn rollout(&mut self, node: &Node) -> Option<RolloutSpec> {
        const PATH: &str = "spec.rollout";
        if is_null(node) {
            return None;
        }
        let f = self.fields(node, PATH, ROLLOUT_FIELDS, &[])?;
        let mut r = RolloutSpec::default();
        if let Some((_, v)) = f.get("maxSurge") {
            let max = RolloutSpec::MAX_SURGE_LIMIT;
            let help = format!(
                "use a whole number from 1 to {max}: how many new instances start beside the old ones at a time"
            );
            r.max_surge =
                self.parsed_with_help(v, "spec.rollout.maxSurge", Some(&help), |s| {
                    match s.parse::<u32>() {
                        Ok(n) if (1..=max).contains(&n) => Ok(n),
                        _ => Err(format!("`{s}` is not a valid maxSurge")),
                    }
                });
        }
        if let Some((_, v)) = f.get("bakeWindow") {
            r.bake_window =
                self.duration(v, "spec.rollout.bakeWindow", RolloutSpec::BAKE_WINDOW_LIMIT);
        }
        if let Some((_, v)) = f.get("observe") {
            r.observe = self.duration(v, "spec.rollout.observe", RolloutSpec::OBSERVE_LIMIT);
        }
        (!r.is_empty()).then_some(r)
    }

    fn host(&mut self, node: &Node, path: &str) -> Option<HostSpec> {
        let f = self.fields(node, path, HOST_FIELDS, &["engine"])?;
        let p = join(path, "engine");
        let engine = f.get("engine").and_then(|(_, v)| {
            self.parsed(v, &p, |s| {
                if ["unix://", "tcp://", "ssh://"].iter().any(|pre| s.starts_with(pre)) && s.len() < 512 {
                    Ok(s.to_string())
                } else {
                    Err(format!("`{s}` is not an engine address: use unix:///path, tcp://host:port or ssh://user@host"))
                }
            })
        });
        let tls = match f.get("tls") {
            Some((_, v)) => self.tls(v, &join(path, "tls")),
            None => None,
        };
        let subnet_pool = f.get("subnetPool").and_then(|(_, v)| {
            self.parsed_with_help(
                v,
                &join(path, "subnetPool"),
                Some("an IPv4 /16 such as 10.232.0.0/16, routed from where Ankyra runs"),
                |s| match crate::names::ipv4_slash16(s) {
                    Some(_) => Ok(s.to_string()),
                    None => Err(format!("`{s}` is not an IPv4 /16")),
                },
            )
        });
        Some(HostSpec {
            engine: engine?,
            tls,
            subnet_pool,
        })
    }

    /// `spec.hosts.NAME.tls`: three absolute paths.
    fn tls(&mut self, node: &Node, path: &str) -> Option<TlsSpec> {
        let f = self.fields(node, path, TLS_FIELDS, TLS_FIELDS)?;
        let mut file = |key: &str| {
            f.get(key).and_then(|(_, v)| {
                self.parsed_with_help(
                    v,
                    &join(path, key),
                    Some("give an absolute path on the machine Ankyra runs on"),
                    |s| {
                        if s.starts_with('/') && s.len() < 4096 {
                            Ok(s.to_string())
                        } else {
                            Err(format!("`{s}` is not an absolute path"))
                        }
                    },
                )
            })
        };
        let (ca, cert, key) = (file("ca"), file("cert"), file("key"));
        Some(TlsSpec {
            ca: ca?,
            cert: cert?,
            key: key?,
        })
    }

    fn component(&mut self, node: &Node, path: &str) -> Option<ComponentSpec> {
        if is_null(node) {
            return Some(ComponentSpec::default());
        }
        let f = self.fields(node, path, COMPONENT_FIELDS, &[])?;
        let mut c = ComponentSpec::default();
        if let Some((_, v)) = f.get("version") {
            c.version = self.parsed(v, &join(path, "version"), |s| s.parse::<Version>());
        }
        if let Some((_, v)) = f.get("image") {
            c.image = self.parsed(v, &join(path, "image"), |s| s.parse::<ImageRef>());
        }
        if let Some((_, v)) = f.get("replicas") {
            c.replicas = self.parsed(v, &join(path, "replicas"), |s| match s.parse::<u32>() {
                Ok(n) if n <= 64 => Ok(n),
                _ => Err(format!(
                    "`{s}` is not a valid replica count: use a whole number from 0 to 64"
                )),
            });
        }
        if let Some((_, v)) = f.get("hosts") {
            let p = join(path, "hosts");
            match &v.kind {
                NodeKind::Seq(items) => {
                    for item in items {
                        if let Some(h) = self.string(item, &p) {
                            c.hosts.push(h);
                        }
                    }
                }
                _ => {
                    let what = v.kind.describe();
                    self.err(
                        v,
                        &p,
                        format!("expected a list of host names, found {what}"),
                        Some("write hosts: [local]".into()),
                    );
                }
            }
        }
        if let Some((_, v)) = f.get("config") {
            let p = join(path, "config");
            if let NodeKind::Map(files) = &v.kind {
                for (fk, fv) in files {
                    let file = scalar_text(fk).to_string();
                    let fp = join(&p, &file);
                    let NodeKind::Map(sections) = &fv.kind else {
                        let what = fv.kind.describe();
                        self.err(
                            fv,
                            &fp,
                            format!("expected a mapping of section to keys, found {what}"),
                            None,
                        );
                        continue;
                    };
                    let mut out = BTreeMap::new();
                    for (sk, sv) in sections {
                        let section = scalar_text(sk).to_string();
                        let keys = self.string_map(sv, &join(&fp, &section));
                        out.insert(section, keys);
                    }
                    c.config.insert(file, out);
                }
            } else if !is_null(v) {
                let what = v.kind.describe();
                self.err(
                    v,
                    &p,
                    format!("expected file → section → key → value, found {what}"),
                    None,
                );
            }
        }
        Some(c)
    }
}

fn scalar_text(node: &Node) -> &str {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: ankyra/v1
kind: Cloud
metadata:
  name: lab1
  labels: {region: eu-west}
spec:
  release: \"2026.1\"
  components:
    mariadb: {}
    keystone:
      version: 29.1.0
      replicas: 2
      config:
        keystone.conf:
          token: {expiration: 7200}
";

    #[test]
    fn parses_a_good_record() {
        let r = parse_record("lab1.yaml", GOOD.as_bytes()).expect("valid record");
        assert_eq!(r.name().as_str(), "lab1");
        let k = &r.spec.components["keystone"];
        assert_eq!(
            k.version.as_ref().map(|v| v.to_string()),
            Some("29.1.0".into())
        );
        assert_eq!(k.replicas.as_ref().map(|r| r.value), Some(2));
        assert_eq!(k.config["keystone.conf"]["token"]["expiration"], "7200");
        assert_eq!(
            k.version.as_ref().and_then(|v| v.span).map(|s| s.line),
            Some(11)
        );
    }

    #[test]
    fn misspelt_key_gets_the_near_spelling_and_position() {
        let bad = GOOD.replace("replicas: 2", "replcas: 2");
        let e = parse_record("lab1.yaml", bad.as_bytes()).expect_err("invalid");
        let first = e.first().expect("one error");
        assert_eq!((first.line, first.column), (12, 7));
        assert_eq!(first.field, "spec.components.keystone.replcas");
        assert!(first
            .help
            .as_deref()
            .unwrap_or("")
            .contains("did you mean `replicas`"));
    }

    #[test]
    fn canonical_form_ignores_layout() {
        let a = parse_record("a", GOOD.as_bytes()).expect("valid");
        let flow = GOOD.replace("    mariadb: {}\n", "") + "    mariadb:\n";
        let b = parse_record("b", flow.as_bytes()).expect("valid");
        assert_eq!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn yaml_output_parses_back_to_the_same_record() {
        let a = parse_record("a", GOOD.as_bytes()).expect("valid");
        let text = a.to_yaml();
        let b = parse_record("b", text.as_bytes()).expect("emitted yaml is valid");
        assert_eq!(a, b);
        let json = Record::from_canonical_json(&a.canonical_json()).expect("json round trip");
        assert_eq!(a, json);
    }
}

#[cfg(test)]
mod rollout_tests {
    use super::*;

    fn with_rollout(rollout: &str) -> String {
        format!(
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: lab1\nspec:\n  release: \"2026.1\"\n{rollout}  components:\n    keystone: {{}}\n"
        )
    }

    fn parse(rollout: &str) -> Result<Record, RecordErrors> {
        parse_record("lab1.yaml", with_rollout(rollout).as_bytes())
    }

    #[test]
    fn reads_every_field_with_its_position() {
        let r = parse("  rollout:\n    maxSurge: 2\n    bakeWindow: 15m\n    observe: 90\n")
            .expect("valid");
        let ro = r.spec.rollout.as_ref().expect("a rollout section");
        assert_eq!(ro.max_surge.as_ref().map(|m| m.value), Some(2));
        assert_eq!(ro.bake_window.as_ref().map(|b| b.value), Some(Seconds(900)));
        assert_eq!(ro.observe.as_ref().map(|o| o.value), Some(Seconds(90)));
        let span = ro
            .bake_window
            .as_ref()
            .and_then(|b| b.span)
            .expect("a span");
        assert_eq!((span.line, span.col), (9, 17));
    }

    #[test]
    fn accepts_every_unit_and_the_limits() {
        for (text, secs) in [
            ("0s", 0),
            ("0", 0),
            ("90", 90),
            ("90s", 90),
            ("15m", 900),
            ("2h", 7_200),
            ("1d", 86_400),
            ("7d", 604_800),
            ("168h", 604_800),
            ("\"30m\"", 1_800),
        ] {
            let r = parse(&format!("  rollout:\n    bakeWindow: {text}\n")).expect(text);
            let ro = r.spec.rollout.expect("a rollout section");
            assert_eq!(
                ro.bake_window.map(|b| b.value),
                Some(Seconds(secs)),
                "{text}"
            );
        }
        for (text, secs) in [("0s", 0), ("10s", 10), ("1h", 3_600), ("3600", 3_600)] {
            let r = parse(&format!("  rollout: {{observe: {text}}}\n")).expect(text);
            let ro = r.spec.rollout.expect("a rollout section");
            assert_eq!(ro.observe.map(|o| o.value), Some(Seconds(secs)), "{text}");
        }
        for n in [1, 16] {
            let r = parse(&format!("  rollout: {{maxSurge: {n}}}\n")).expect("valid");
            let ro = r.spec.rollout.expect("a rollout section");
            assert_eq!(ro.max_surge.map(|m| m.value), Some(n));
        }
    }

    #[test]
    fn bad_values_are_positioned_errors_that_say_what_is_valid() {
        for (rollout, field, message, help) in [
            (
                "bakeWindow: 15 min",
                "spec.rollout.bakeWindow",
                "`15 min` is not a duration: it is not a whole number with one unit",
                "from 0s to 7d",
            ),
            (
                "bakeWindow: 8d",
                "spec.rollout.bakeWindow",
                "`8d` is longer than the maximum of 7d",
                "(90s, 15m, 2h, 1d)",
            ),
            (
                "bakeWindow: 1w",
                "spec.rollout.bakeWindow",
                "`1w` is not a duration: the unit is not s, m, h or d",
                "from 0s to 7d",
            ),
            (
                "observe: 61m",
                "spec.rollout.observe",
                "`61m` is longer than the maximum of 1h",
                "from 0s to 1h",
            ),
            (
                "observe: -1s",
                "spec.rollout.observe",
                "`-1s` is not a duration: it is not a whole number with one unit",
                "whole seconds (90)",
            ),
            (
                "observe: 1.5s",
                "spec.rollout.observe",
                "`1.5s` is not a duration: it is not a whole number with one unit",
                "from 0s to 1h",
            ),
            (
                "maxSurge: 0",
                "spec.rollout.maxSurge",
                "`0` is not a valid maxSurge",
                "use a whole number from 1 to 16",
            ),
            (
                "maxSurge: 17",
                "spec.rollout.maxSurge",
                "`17` is not a valid maxSurge",
                "use a whole number from 1 to 16",
            ),
            (
                "maxSuge: 2",
                "spec.rollout.maxSuge",
                "unknown key `maxSuge`",
                "did you mean `maxSurge`? allowed keys: maxSurge, bakeWindow, observe",
            ),
        ] {
            let e = parse(&format!("  rollout:\n    {rollout}\n")).expect_err(rollout);
            assert_eq!(e.errors.len(), 1, "{rollout}: {e:?}");
            let first = &e.errors[0];
            assert_eq!(first.field, field, "{rollout}");
            assert_eq!(first.message, message, "{rollout}");
            assert!(
                first.help.as_deref().unwrap_or("").contains(help),
                "{rollout}: {:?}",
                first.help
            );
            assert_eq!(first.line, 8, "{rollout}");
            assert_eq!(first.file, "lab1.yaml");
        }
    }

    #[test]
    fn a_misspelt_section_is_suggested() {
        let e = parse("  rolout: {maxSurge: 2}\n").expect_err("unknown key");
        let first = e.first().expect("an error");
        assert_eq!(first.field, "spec.rolout");
        assert!(first
            .help
            .as_deref()
            .unwrap_or("")
            .contains("did you mean `rollout`"));
    }

    #[test]
    fn no_section_keeps_the_canonical_form_and_empty_is_the_same_as_none() {
        let none = parse("").expect("valid");
        assert!(none.spec.rollout.is_none());
        assert!(!none.canonical_json().contains("rollout"));
        for empty in ["  rollout: {}\n", "  rollout:\n", "  rollout: ~\n"] {
            let r = parse(empty).expect(empty);
            assert!(r.spec.rollout.is_none(), "{empty}");
            assert_eq!(r.content_hash(), none.content_hash(), "{empty}");
        }
        let some = parse("  rollout: {maxSurge: 1}\n").expect("valid");
        assert_ne!(some.content_hash(), none.content_hash());
    }

    #[test]
    fn the_json_schema_describes_the_section() {
        let schema = crate::json_schema().to_string();
        for word in [
            "rollout",
            "maxSurge",
            "bakeWindow",
            "observe",
            "^[0-9]+[smhd]?$",
        ] {
            assert!(schema.contains(word), "{word}");
        }
    }

    #[test]
    fn equal_durations_have_one_canonical_form() {
        let a = parse("  rollout: {bakeWindow: 15m, observe: 60}\n").expect("valid");
        let b = parse("  rollout: {bakeWindow: 900, observe: 1m}\n").expect("valid");
        let c = parse("  rollout: {bakeWindow: 900s, observe: \"60s\"}\n").expect("valid");
        assert_eq!(a.content_hash(), b.content_hash());
        assert_eq!(a.content_hash(), c.content_hash());
        assert!(a
            .canonical_json()
            .contains(r#""rollout":{"bakeWindow":"15m","observe":"1m"}"#));
    }

    #[test]
    fn rollout_survives_yaml_and_json_round_trips() {
        let a = parse("  rollout:\n    maxSurge: 3\n    bakeWindow: 5400\n    observe: 0\n")
            .expect("valid");
        let yaml = a.to_yaml();
        assert!(
            yaml.contains("  rollout:\n    bakeWindow: 90m\n    maxSurge: 3\n    observe: 0s\n"),
            "{yaml}"
        );
        let b = parse_record("b", yaml.as_bytes()).expect("emitted yaml is valid");
        assert_eq!(a, b);
        let json = Record::from_canonical_json(&a.canonical_json()).expect("json round trip");
        assert_eq!(a, json);
        assert_eq!(json.content_hash(), a.content_hash());
    }
}

#[cfg(test)]
mod emit_tests {
    use super::*;

    #[test]
    fn awkward_strings_survive_a_yaml_round_trip() {
        for label in [
            "a:", "x: y", "#c", "a #b", "- x", "true", "1.0", "", " s", "'q", "a\tb:",
        ] {
            let text = format!(
                "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: t\n  labels: {{k: {}}}\nspec:\n  release: r\n  components: {{}}\n",
                serde_json::to_string(label).unwrap_or_default()
            );
            let r = parse_record("a", text.as_bytes()).expect("valid");
            let back = parse_record("b", r.to_yaml().as_bytes()).expect("emitted yaml parses");
            assert_eq!(back.metadata.labels["k"], label);
        }
    }
}
