//! Revision bookkeeping, in one place: reading a revision's record, storing
//! a new one on top of the one its writer read, the latest and the last
//! applied revision, history, show and diff. Every verb that records or
//! reads revisions calls this module; it calls none of them.

use std::path::Path;

use ankyra_catalog::{resolve, Catalog, ResolvedRecord};
use ankyra_model::Record;
use ankyra_plan::{diff_records, plan, ComponentDiff, Desired, Observed, Plan};
use ankyra_store::{NewRevision, Revision, RevisionSummary, Store, StoreError};
use serde::Serialize;

use crate::{load_record, OpsError};

/// What `commit` did.
#[derive(Debug, Clone, Serialize)]
pub struct CommitResult {
    /// The revision the cloud is at now.
    pub revision: Revision,
    /// False when the record equals the latest revision (nothing written).
    pub created: bool,
    /// What changed against the previous revision.
    pub plan: Plan,
}

pub(crate) fn stored_record(rev: &Revision) -> Result<Record, OpsError> {
    Record::from_canonical_json(&rev.record_json).map_err(|source| OpsError::StoredRecord {
        cloud: rev.cloud.clone(),
        number: rev.number,
        source,
    })
}

pub(crate) fn resolved_revision(rev: &Revision) -> Result<ResolvedRecord, OpsError> {
    Ok(resolve(&stored_record(rev)?)?)
}

pub(crate) fn desired(r: &ResolvedRecord) -> Desired {
    let catalog = Catalog::get();
    Desired::from_resolved(r, |c| catalog.rank(c))
}

pub(crate) fn observed_from(rev: Option<&Revision>) -> Result<Observed, OpsError> {
    Ok(match rev {
        Some(r) => Observed::from_desired(&desired(&resolved_revision(r)?)),
        None => Observed::empty(),
    })
}

/// Test-only: milliseconds [`commit_on`] sleeps between the caller's read of
/// the latest revision and the store write, so that a test can make several
/// `ankyra set` processes read the same latest revision and race to commit
/// (crates/ankyra/tests/it). Not for operators; unset in normal use.
pub const TEST_PAUSE_BEFORE_COMMIT_ENV: &str = "ANKYRA_TEST_PAUSE_BEFORE_COMMIT_MS";

fn test_pause_before_commit() {
    let pause = std::env::var(TEST_PAUSE_BEFORE_COMMIT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0);
    if let Some(ms) = pause {
        tracing::debug!(ms, "test pause before commit");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Stores a record as a new revision (nothing if it equals the latest), on
/// top of the latest revision as read now.
pub(crate) fn commit_record(
    store: &mut dyn Store,
    record: &Record,
    resolved: &ResolvedRecord,
    author: &str,
    message: &str,
) -> Result<CommitResult, OpsError> {
    let previous = store.latest(record.name().as_str())?;
    commit_on(store, previous.as_ref(), record, resolved, author, message)
}

/// Stores a record as a new revision on top of `base`, the latest revision
/// the caller read (and planned, or edited, from; `None`: it read none).
/// Optimistic concurrency: if another revision was recorded since, nothing is
/// stored and it fails with [`StoreError::Conflict`] naming that revision, so
/// a concurrent `set` never silently drops another's change and a plan is
/// never checked against a revision that is no longer the latest.
pub(crate) fn commit_on(
    store: &mut dyn Store,
    base: Option<&Revision>,
    record: &Record,
    resolved: &ResolvedRecord,
    author: &str,
    message: &str,
) -> Result<CommitResult, OpsError> {
    // Refuse unsupported jumps before anything is written.
    let plan = plan(&desired(resolved), &observed_from(base)?)?;
    test_pause_before_commit();
    let (revision, created) = store.put_revision_if_latest(
        new_revision(record, resolved, author, message),
        base.map(|r| r.number),
    )?;
    Ok(CommitResult {
        revision,
        created,
        plan,
    })
}

/// A record as a revision to store, with what fleet queries read without
/// parsing it: its labels and each component's version.
pub(crate) fn new_revision(
    record: &Record,
    resolved: &ResolvedRecord,
    author: &str,
    message: &str,
) -> NewRevision {
    NewRevision {
        cloud: record.name().to_string(),
        record_json: record.canonical_json(),
        content_hash: record.content_hash(),
        author: author.to_string(),
        message: message.to_string(),
        labels: record.metadata.labels.clone(),
        versions: resolved
            .components
            .iter()
            .map(|c| (c.name.clone(), c.version.to_string()))
            .collect(),
    }
}

/// Records the file's record as the next revision of its cloud.
pub fn commit(
    store: &mut dyn Store,
    file: &Path,
    author: &str,
    message: &str,
) -> Result<CommitResult, OpsError> {
    let loaded = load_record(file)?;
    commit_record(store, &loaded.record, &loaded.resolved, author, message)
}

/// `ankyra unlock`: removes a cloud's lock whoever holds it (the rare manual
/// case: a holder on another machine that died). Returns what was held.
pub fn unlock(
    store: &mut dyn Store,
    cloud: &str,
) -> Result<Option<ankyra_store::LockInfo>, OpsError> {
    Ok(store.force_unlock(cloud)?)
}

/// Every revision of a cloud, oldest first.
pub fn history(store: &dyn Store, cloud: &str) -> Result<Vec<RevisionSummary>, OpsError> {
    let h = store.history(cloud)?;
    if h.is_empty() {
        return Err(StoreError::UnknownCloud {
            cloud: cloud.into(),
        }
        .into());
    }
    Ok(h)
}

/// A revision and its record.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// The cloud.
    pub cloud: String,
    /// The revision number.
    pub number: u64,
    /// sha256 of the record.
    pub content_hash: String,
    /// When it was stored.
    pub created_at: String,
    /// Who made it.
    pub author: String,
    /// Why.
    pub message: String,
    /// Its record.
    pub record: Record,
}

pub(crate) fn latest(store: &dyn Store, cloud: &str) -> Result<Revision, OpsError> {
    store.latest(cloud)?.ok_or_else(|| {
        OpsError::Store(StoreError::UnknownCloud {
            cloud: cloud.into(),
        })
    })
}

/// A revision (the latest when `number` is None).
pub fn show(store: &dyn Store, cloud: &str, number: Option<u64>) -> Result<Shown, OpsError> {
    let rev = match number {
        Some(n) => store.revision(cloud, n)?,
        None => latest(store, cloud)?,
    };
    let record = stored_record(&rev)?;
    Ok(Shown {
        cloud: rev.cloud,
        number: rev.number,
        content_hash: rev.content_hash,
        created_at: rev.created_at,
        author: rev.author,
        message: rev.message,
        record,
    })
}

/// Component-level changes from revision `a` to revision `b`.
pub fn diff(
    store: &dyn Store,
    cloud: &str,
    a: u64,
    b: u64,
) -> Result<Vec<ComponentDiff>, OpsError> {
    let ra = resolved_revision(&store.revision(cloud, a)?)?;
    let rb = resolved_revision(&store.revision(cloud, b)?)?;
    Ok(diff_records(&ra, &rb))
}

/// The latest revision of `cloud`, its number and its record resolved.
pub(crate) fn latest_resolved(
    store: &dyn Store,
    cloud: &str,
) -> Result<(u64, ResolvedRecord), OpsError> {
    let rev = latest(store, cloud)?;
    Ok((rev.number, resolved_revision(&rev)?))
}
