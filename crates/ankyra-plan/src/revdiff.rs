//! Component-level differences between two revisions of a record: what
//! changed version, image, replicas or config (down to the config key).

use std::collections::BTreeSet;

use ankyra_catalog::{ResolvedComponent, ResolvedRecord};
use serde::Serialize;

/// How a component differs between two revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentDiff {
    /// The component.
    pub component: String,
    /// added, removed or changed.
    pub status: DiffStatus,
    /// Field-level changes (for `changed`), or the component's fields (added/removed).
    pub fields: Vec<FieldChange>,
}

/// Whether a component appeared, disappeared or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffStatus {
    /// Only in the newer revision.
    Added,
    /// Only in the older revision.
    Removed,
    /// In both, different.
    Changed,
}

/// One changed field: `version`, `image`, `replicas`, `hosts` or `config <file> [section] key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field.
    pub field: String,
    /// The value in the older revision (None: absent).
    pub from: Option<String>,
    /// The value in the newer revision (None: absent).
    pub to: Option<String>,
}

fn fields(c: &ResolvedComponent) -> Vec<(String, String)> {
    let mut out = vec![
        ("version".to_string(), c.version.to_string()),
        ("image".to_string(), c.image.clone()),
        ("replicas".to_string(), c.replicas.to_string()),
        ("hosts".to_string(), c.hosts.join(",")),
    ];
    for (file, sections) in &c.config {
        for (section, keys) in sections {
            for (key, value) in keys {
                out.push((format!("config {file} [{section}] {key}"), value.clone()));
            }
        }
    }
    out
}

/// The differences from revision `a` to revision `b`, in `b`'s dependency order
/// (components only in `a` last). `diff(a, b)` mirrors `diff(b, a)`.
pub fn diff_records(a: &ResolvedRecord, b: &ResolvedRecord) -> Vec<ComponentDiff> {
    let mut names: Vec<&str> = b.components.iter().map(|c| c.name.as_str()).collect();
    for c in &a.components {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    let find = |r: &'_ ResolvedRecord, n: &str| r.components.iter().find(|c| c.name == n).cloned();
    let mut out = Vec::new();
    for name in names {
        let (old, new) = (find(a, name), find(b, name));
        let (status, changes) = match (&old, &new) {
            (None, Some(n)) => (
                DiffStatus::Added,
                fields(n)
                    .into_iter()
                    .map(|(f, v)| FieldChange {
                        field: f,
                        from: None,
                        to: Some(v),
                    })
                    .collect(),
            ),
            (Some(o), None) => (
                DiffStatus::Removed,
                fields(o)
                    .into_iter()
                    .map(|(f, v)| FieldChange {
                        field: f,
                        from: Some(v),
                        to: None,
                    })
                    .collect(),
            ),
            (Some(o), Some(n)) => {
                let (fo, fnew) = (fields(o), fields(n));
                let keys: BTreeSet<&String> =
                    fo.iter().chain(fnew.iter()).map(|(k, _)| k).collect();
                let get = |list: &[(String, String)], k: &str| {
                    list.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone())
                };
                let mut changes: Vec<FieldChange> = keys
                    .into_iter()
                    .filter_map(|k| {
                        let (from, to) = (get(&fo, k), get(&fnew, k));
                        (from != to).then(|| FieldChange {
                            field: k.clone(),
                            from,
                            to,
                        })
                    })
                    .collect();
                // version, image, replicas, hosts first, then config keys.
                changes.sort_by_key(|c| (c.field.starts_with("config"), c.field.clone()));
                if changes.is_empty() {
                    continue;
                }
                (DiffStatus::Changed, changes)
            }
            (None, None) => continue,
        };
        out.push(ComponentDiff {
            component: name.to_string(),
            status,
            fields: changes,
        });
    }
    out
}
