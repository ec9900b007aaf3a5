//! `upgrade CLOUD --release R`: one revision that moves every OpenStack
//! component to release R's newest known version (or the versions given),
//! with the catalog's jump rules; infrastructure moves only when named.
//! With `--apply`, a pre-flight check runs first and nothing is recorded
//! unless it passes.

use std::path::Path;
use std::sync::Arc;

use ankyra_catalog::{release_index, resolve, Catalog, ComponentKind, Jump, ResolvedRecord};
use ankyra_engine::{ApplyOptions, Preflight, Reporter};
use ankyra_model::Spanned;
use ankyra_store::Store;
use serde::Serialize;

use crate::deploy::{apply_revision, Applied};
use crate::engine::on_engine;
use crate::revisions::{commit_on, latest, resolved_revision, stored_record, CommitResult};
use crate::set::{edit, parse_assignment, Value};
use crate::OpsError;

/// One component an upgrade moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// The component.
    pub component: String,
    /// The version it runs now.
    pub from: String,
    /// The version it moves to.
    pub to: String,
    /// What kind of change upstream sees (point, next-release, slurp).
    pub jump: Jump,
    /// Why it moves: the release's newest version, or named on the command line.
    pub why: String,
}

/// What `upgrade` did.
#[derive(Debug, Clone, Serialize)]
pub struct Upgraded {
    /// The release the cloud was at.
    pub from_release: String,
    /// The release it moves to.
    pub release: String,
    /// The components that move, in the order they are upgraded.
    pub moves: Vec<Move>,
    /// The new revision and its plan (steps in order, each with its reason).
    #[serde(flatten)]
    pub commit: CommitResult,
    /// What the pre-flight check found (with `--apply`).
    pub preflight: Option<Preflight>,
    /// The apply (with `--apply`).
    pub applied: Option<Applied>,
}

fn bad(text: &str, reason: String, help: String) -> OpsError {
    OpsError::BadAssignment {
        text: text.into(),
        reason,
        help: Some(help),
    }
}

/// The record of the latest revision moved to `release`, the resolved
/// record and what moves. Pure: nothing is recorded.
fn upgraded_record(
    before: &ResolvedRecord,
    mut record: ankyra_model::Record,
    release: &str,
    assignments: &[String],
) -> Result<(ankyra_model::Record, ResolvedRecord, Vec<Move>), OpsError> {
    let catalog = Catalog::get();
    let known: Vec<&str> = ankyra_catalog::RELEASES.iter().map(|r| r.name).collect();
    let (Some(to_index), Some(from_index)) =
        (release_index(release), release_index(&before.release))
    else {
        return Err(bad(
            &format!("--release {release}"),
            format!("unknown release `{release}`"),
            format!("known releases: {}", known.join(", ")),
        ));
    };
    if to_index < from_index {
        return Err(bad(
            &format!("--release {release}"),
            format!("the cloud is at {}, newer than {release}", before.release),
            "going back is `ankyra rollback CLOUD --to REV` (`ankyra history` lists the revisions)"
                .into(),
        ));
    }
    let named = assignments
        .iter()
        .map(|a| parse_assignment(a))
        .collect::<Result<Vec<_>, _>>()?;
    record.spec.release = Spanned::bare(release.to_string());
    let mut why = std::collections::BTreeMap::new();
    for c in &before.components {
        let Ok((def, svc)) = catalog.component(&c.name) else {
            continue;
        };
        let openstack = matches!(def.kind, ComponentKind::Api | ComponentKind::Worker);
        let newest = svc.default_version(release).filter(|v| *v > c.version);
        let spec = record.spec.components.entry(c.name.clone()).or_default();
        match newest {
            // Never a step down: a component already past the release stays.
            Some(v) if openstack => {
                spec.version = Some(Spanned::bare(v));
                spec.image = None;
                why.insert(c.name.clone(), format!("{release}'s newest version"));
            }
            // Infrastructure (and anything not moved) keeps what runs, even
            // where its default would follow the release.
            _ => {
                spec.version = Some(Spanned::bare(c.version.clone()));
            }
        }
    }
    edit(&mut record, &named);
    for (component, value) in &named {
        if matches!(value, Value::Version(_) | Value::Image(_)) {
            why.insert(component.clone(), "named on the command line".into());
        }
    }
    let resolved = resolve(&record)?;
    let mut moves = Vec::new();
    for c in &resolved.components {
        let Some(old) = before.components.iter().find(|o| o.name == c.name) else {
            continue;
        };
        if old.version == c.version && old.image == c.image {
            continue;
        }
        let jump = match catalog.component(&c.name) {
            Ok((_, svc)) => catalog
                .check_jump(svc, &old.version, &c.version)
                .map_err(|e| {
                    bad(
                        &format!("{}={}", c.name, c.version),
                        e.to_string(),
                        format!("`ankyra catalog {}` lists the upgrade paths", svc.name()),
                    )
                })?,
            Err(_) => Jump::Point,
        };
        moves.push(Move {
            component: c.name.clone(),
            from: old.version.to_string(),
            to: c.version.to_string(),
            jump,
            why: why.get(&c.name).cloned().unwrap_or_default(),
        });
    }
    Ok((record, resolved, moves))
}

/// `ankyra upgrade CLOUD --release R [COMPONENT=VERSION ...]`: records one
/// revision moving the cloud to `release`; with `apply`, checks the cloud
/// first (health, nothing unfinalized, disk, images) and applies it.
#[allow(clippy::too_many_arguments)]
pub fn upgrade(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    release: &str,
    assignments: &[String],
    author: &str,
    message: Option<&str>,
    apply: bool,
    reporter: Arc<dyn Reporter>,
) -> Result<Upgraded, OpsError> {
    let base = latest(store, cloud)?;
    let before = resolved_revision(&base)?;
    let (record, resolved, moves) =
        upgraded_record(&before, stored_record(&base)?, release, assignments)?;
    if moves.is_empty() {
        return Err(bad(
            &format!("--release {release}"),
            format!(
                "every component of `{cloud}` is already at {release}'s newest version or past it"
            ),
            "name a version to move one: COMPONENT=VERSION".into(),
        ));
    }
    let preflight = if apply {
        let found = on_engine(state, &before.engine, reporter.clone(), async |engine| {
            Ok(engine
                .preflight(store, &before, base.number, &resolved)
                .await?)
        })?;
        if !found.passed() {
            return Err(OpsError::Preflight {
                cloud: cloud.into(),
                blockers: found.blockers,
            });
        }
        Some(found)
    } else {
        None
    };
    let message = message.map(str::to_string).unwrap_or_else(|| {
        format!(
            "upgrade to {release}: {}",
            moves
                .iter()
                .map(|m| format!("{} {}", m.component, m.to))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    // On top of the revision read, or not at all (StoreError::Conflict).
    let commit = commit_on(store, Some(&base), &record, &resolved, author, &message)?;
    let applied = if apply {
        Some(apply_revision(
            store,
            state,
            &resolved,
            commit.revision.number,
            ApplyOptions::default(),
            reporter,
        )?)
    } else {
        None
    };
    Ok(Upgraded {
        from_release: before.release.clone(),
        release: release.into(),
        moves,
        commit,
        preflight,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(release: &str, versions: &[(&str, &str)]) -> ankyra_model::Record {
        let mut text = format!(
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: up\nspec:\n  release: \"{release}\"\n  components:\n"
        );
        for (c, v) in versions {
            text.push_str(&format!("    {c}:\n      version: {v}\n"));
        }
        ankyra_model::parse_record("up.yaml", text.as_bytes()).expect("a record")
    }

    fn at_2026_1() -> ankyra_model::Record {
        record(
            "2026.1",
            &[
                ("mariadb", "10.11"),
                ("keystone", "29.1.0"),
                ("nova-conductor", "33.0.2"),
                ("nova-compute", "33.0.2"),
            ],
        )
    }

    #[test]
    fn openstack_components_move_to_the_release_infrastructure_stays() {
        let r = at_2026_1();
        let before = resolve(&r).expect("resolves");
        let (rec, resolved, moves) = upgraded_record(&before, r, "2026.2", &[]).expect("upgrades");
        assert_eq!(rec.spec.release.value, "2026.2");
        let moved: Vec<(&str, &str, &str)> = moves
            .iter()
            .map(|m| (m.component.as_str(), m.from.as_str(), m.to.as_str()))
            .collect();
        assert_eq!(
            moved,
            [
                ("keystone", "29.1.0", "30.0.0"),
                ("nova-conductor", "33.0.2", "34.0.0"),
                ("nova-compute", "33.0.2", "34.0.0"),
            ]
        );
        let db = resolved.components.iter().find(|c| c.name == "mariadb");
        assert_eq!(db.map(|c| c.version.to_string()).as_deref(), Some("10.11"));
    }

    #[test]
    fn a_named_version_wins_and_an_older_release_is_refused() {
        let r = at_2026_1();
        let before = resolve(&r).expect("resolves");
        let (_, _, moves) =
            upgraded_record(&before, r.clone(), "2026.2", &["keystone=29.1.0".into()])
                .expect("upgrades");
        assert!(moves.iter().all(|m| m.component != "keystone"));
        let err = upgraded_record(&before, r.clone(), "2025.2", &[]).expect_err("older");
        assert!(err.to_string().contains("newer than 2025.2"), "{err}");
        let err = upgraded_record(&before, r, "2031.1", &[]).expect_err("unknown");
        assert!(err.to_string().contains("unknown release"), "{err}");
    }
}
