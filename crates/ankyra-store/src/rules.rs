//! Decisions every backend makes the same way, kept out of the SQL so the
//! backends cannot drift apart: when a put stores, when a fleet operation is
//! acceptable, how the fleet index is put together.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{CloudIndex, NewFleetOp, NewRevision, Revision, StoreError};

/// What a put expects the latest revision to be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Anything: the put goes on top of whatever is latest.
    Any,
    /// This revision (`None`: no revision yet), else [`StoreError::Conflict`].
    Latest(Option<u64>),
}

/// What a put does, given the cloud's latest revision as read under the
/// backend's write lock.
#[derive(Debug)]
pub(crate) enum PutDecision {
    /// The content equals the latest: store nothing, return it.
    Unchanged(Revision),
    /// Store the new revision with this number.
    Insert(u64),
}

/// Decides a put: the expectation is checked before the identical-content
/// test, so a stale caller is told even when its content happens to equal
/// the latest.
pub(crate) fn decide_put(
    latest: Option<Revision>,
    new: &NewRevision,
    expect: Expect,
) -> Result<PutDecision, StoreError> {
    if let Expect::Latest(expected) = expect {
        match (&latest, expected) {
            (None, Some(_)) => {
                return Err(StoreError::UnknownCloud {
                    cloud: new.cloud.clone(),
                });
            }
            (Some(found), _) if Some(found.number) != expected => {
                tracing::debug!(
                    cloud = %new.cloud, expected, found = found.number,
                    "refused a revision: the latest is not the one its writer read"
                );
                return Err(StoreError::Conflict {
                    cloud: new.cloud.clone(),
                    expected,
                    found: found.number,
                    author: found.author.clone(),
                    created_at: found.created_at.clone(),
                });
            }
            _ => {}
        }
    }
    match latest {
        Some(latest) if latest.content_hash == new.content_hash => {
            Ok(PutDecision::Unchanged(latest))
        }
        Some(latest) => Ok(PutDecision::Insert(latest.number + 1)),
        None => Ok(PutDecision::Insert(1)),
    }
}

/// Checks what a fleet operation can be refused for without reading the
/// store: each member once, each carrying its own cloud's revision.
pub(crate) fn check_fleet_members(op: &NewFleetOp) -> Result<(), StoreError> {
    let mut seen = BTreeSet::new();
    for member in &op.members {
        if member.revision.cloud != member.cloud {
            return Err(StoreError::FleetMemberMismatch {
                cloud: member.cloud.clone(),
                revision_cloud: member.revision.cloud.clone(),
            });
        }
        if !seen.insert(member.cloud.as_str()) {
            return Err(StoreError::DuplicateFleetMember {
                cloud: member.cloud.clone(),
            });
        }
    }
    Ok(())
}

/// A map as stored beside a revision: JSON text.
pub(crate) fn map_json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).expect("a map of strings always serializes to JSON")
}

/// Reads a map stored by [`map_json`]; `None` stays `None` (a row written
/// before maps were kept).
pub(crate) fn parse_map(
    text: Option<&str>,
    what: &'static str,
) -> Result<Option<BTreeMap<String, String>>, StoreError> {
    text.map(|text| {
        serde_json::from_str(text).map_err(|source| StoreError::BadStoredJson { what, source })
    })
    .transpose()
}

/// Adds the components with a standby set or an unfinalized migration to
/// the index rows, from `(cloud, component)` pairs. Pairs of clouds without
/// a row (no revision) are left out; each list ends up sorted, without
/// repeats.
pub(crate) fn attach_components(
    rows: &mut [CloudIndex],
    standbys: Vec<(String, String)>,
    unfinalized: Vec<(String, String)>,
) {
    let position: HashMap<String, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| (row.cloud.clone(), i))
        .collect();
    for (cloud, component) in standbys {
        if let Some(&i) = position.get(&cloud) {
            rows[i].standby_components.push(component);
        }
    }
    for (cloud, component) in unfinalized {
        if let Some(&i) = position.get(&cloud) {
            rows[i].unfinalized_components.push(component);
        }
    }
    for row in rows {
        row.standby_components.sort();
        row.standby_components.dedup();
        row.unfinalized_components.sort();
        row.unfinalized_components.dedup();
    }
}
