//! Revisions: commit a record, list, show and diff them, plan between them.

use std::path::{Path, PathBuf};

use ankyra_catalog::{resolve, Catalog, ResolvedRecord};
use ankyra_model::Record;
use ankyra_plan::{diff_records, plan, ComponentDiff, Desired, Observed, Plan};
use ankyra_store::{NewRevision, Revision, RevisionSummary, Store, StoreError};
use serde::Serialize;

use crate::{load_record, OpsError};

/// Where the store lives when neither `--store` nor `ANKYRA_STORE` says.
pub fn default_store_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("ankyra")
        .join("store.db")
}

/// Opens the store at `location`: a SQLite file path (the embedded
/// default), or a `postgres://` URL for a store shared by a team.
///
/// A PostgreSQL password never goes in the URL on a command line (other
/// users see process arguments): `ANKYRA_STORE_PASSWORD_FILE` names a file
/// holding it, read here and added to the URL in memory only.
pub fn open_store(location: &str) -> Result<Box<dyn Store>, OpsError> {
    if is_postgres(location) {
        if let Ok(file) = std::env::var(PASSWORD_FILE_ENV) {
            let password = std::fs::read_to_string(&file).map_err(|source| OpsError::Read {
                path: PathBuf::from(&file),
                source,
            })?;
            let url = with_password(location, password.trim_end_matches(['\n', '\r']));
            return Ok(ankyra_store::open(&url)?);
        }
    }
    Ok(ankyra_store::open(location)?)
}

/// The variable naming the file that holds the PostgreSQL store's password.
pub const PASSWORD_FILE_ENV: &str = "ANKYRA_STORE_PASSWORD_FILE";

/// `postgres://user@host/db` with `password` put after the user (percent-encoded).
fn with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    if userinfo.contains(':') {
        return url.to_string();
    }
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{scheme}://{userinfo}:{encoded}@{host}")
}

/// Whether `location` names a PostgreSQL store.
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

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

fn latest(store: &dyn Store, cloud: &str) -> Result<Revision, OpsError> {
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

/// Plans a record file: against what runs on the engine, or with `offline`
/// against the cloud's latest recorded revision (an empty cloud when none).
pub fn plan_file(
    store: &mut dyn Store,
    state: &Path,
    file: &Path,
    offline: bool,
) -> Result<Plan, OpsError> {
    let loaded = load_record(file)?;
    if !offline {
        return crate::deploy::plan_running(store, state, &loaded.resolved);
    }
    let current = store.latest(loaded.record.name().as_str())?;
    Ok(plan(
        &desired(&loaded.resolved),
        &observed_from(current.as_ref())?,
    )?)
}

/// Plans a cloud's latest revision against what runs, or against revision
/// `from` (with `offline` and no `from`: the revision before it).
pub fn plan_cloud(
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    from: Option<u64>,
    offline: bool,
) -> Result<Plan, OpsError> {
    let target = latest(store, cloud)?;
    if from.is_none() && !offline {
        let resolved = resolved_revision(&target)?;
        return crate::deploy::plan_running(store, state, &resolved);
    }
    let base = match from {
        Some(n) => Some(store.revision(cloud, n)?),
        None if target.number > 1 => Some(store.revision(cloud, target.number - 1)?),
        None => None,
    };
    let want = desired(&resolved_revision(&target)?);
    Ok(plan(&want, &observed_from(base.as_ref())?)?)
}
