//! Revisions, secrets, standby sets and component database migrations.

use postgres::{Client, GenericClient, Row};

use super::{int, int_to_store, lock_key, ts, uint};
use crate::rules::{decide_put, map_json, Expect, PutDecision};
use crate::{Migration, NewRevision, Revision, RevisionSummary, Standby, StoreError};

pub(super) fn revision_columns() -> String {
    format!(
        "cloud, number, record_json, content_hash, {}, author, message",
        ts("created_at")
    )
}

pub(super) fn revision_from(row: &Row) -> Result<Revision, StoreError> {
    Ok(Revision {
        cloud: row.try_get(0)?,
        number: uint(row, 1, "revision number")?,
        record_json: row.try_get(2)?,
        content_hash: row.try_get(3)?,
        created_at: row.try_get(4)?,
        author: row.try_get(5)?,
        message: row.try_get(6)?,
    })
}

pub(super) fn put(
    client: &mut Client,
    new: NewRevision,
    expect: Expect,
) -> Result<(Revision, bool), StoreError> {
    let mut tx = client.transaction()?;
    let put = insert_next(&mut tx, new, expect)?;
    if put.1 {
        tx.commit()?;
    }
    Ok(put)
}

/// Stores `new` as the next revision of its cloud unless it equals the
/// latest or the latest is not the one expected, within `tx`, which the
/// caller commits. The cloud's write key is locked first, so the latest
/// read is still the latest when the next one is written.
fn insert_next(
    tx: &mut impl GenericClient,
    new: NewRevision,
    expect: Expect,
) -> Result<(Revision, bool), StoreError> {
    lock_key(tx, &new.cloud)?;
    let number = match decide_put(latest(tx, &new.cloud)?, &new, expect)? {
        PutDecision::Unchanged(latest) => return Ok((latest, false)),
        PutDecision::Insert(number) => number,
    };
    let row = tx.query_one(
        &format!(
            "INSERT INTO revisions (cloud, number, record_json, content_hash, created_at,
                 author, message, labels_json, versions_json)
             VALUES ($1, $2, $3, $4, now(), $5, $6, $7, $8)
             RETURNING {}",
            ts("created_at")
        ),
        &[
            &new.cloud,
            &int_to_store(number, "revision number")?,
            &new.record_json,
            &new.content_hash,
            &new.author,
            &new.message,
            &map_json(&new.labels),
            &map_json(&new.versions),
        ],
    )?;
    let revision = Revision {
        number,
        created_at: row.try_get(0)?,
        cloud: new.cloud,
        record_json: new.record_json,
        content_hash: new.content_hash,
        author: new.author,
        message: new.message,
    };
    tracing::debug!(cloud = %revision.cloud, revision = revision.number, "stored a revision");
    Ok((revision, true))
}

pub(super) fn latest(
    client: &mut impl GenericClient,
    cloud: &str,
) -> Result<Option<Revision>, StoreError> {
    client
        .query_opt(
            &format!(
                "SELECT {} FROM revisions WHERE cloud = $1 ORDER BY number DESC LIMIT 1",
                revision_columns()
            ),
            &[&cloud],
        )?
        .map(|row| revision_from(&row))
        .transpose()
}

/// The latest revision number of `cloud`, or [`StoreError::UnknownCloud`].
fn latest_number(client: &mut impl GenericClient, cloud: &str) -> Result<u64, StoreError> {
    let row = client.query_one(
        "SELECT max(number) FROM revisions WHERE cloud = $1",
        &[&cloud],
    )?;
    super::opt_uint(&row, 0, "revision number")?.ok_or_else(|| StoreError::UnknownCloud {
        cloud: cloud.to_owned(),
    })
}

/// Checks `cloud` has revision `number`, with the error naming the latest.
pub(super) fn ensure_exists(
    client: &mut impl GenericClient,
    cloud: &str,
    number: u64,
) -> Result<(), StoreError> {
    let latest = latest_number(client, cloud)?;
    if (1..=latest).contains(&number) {
        Ok(())
    } else {
        Err(StoreError::UnknownRevision {
            cloud: cloud.to_owned(),
            number,
            latest,
        })
    }
}

pub(super) fn get(client: &mut Client, cloud: &str, number: u64) -> Result<Revision, StoreError> {
    let found = match int(number) {
        Some(n) => client
            .query_opt(
                &format!(
                    "SELECT {} FROM revisions WHERE cloud = $1 AND number = $2",
                    revision_columns()
                ),
                &[&cloud, &n],
            )?
            .map(|row| revision_from(&row))
            .transpose()?,
        None => None,
    };
    match found {
        Some(revision) => Ok(revision),
        None => Err(StoreError::UnknownRevision {
            cloud: cloud.to_owned(),
            number,
            latest: latest_number(client, cloud)?,
        }),
    }
}

pub(super) fn history(
    client: &mut Client,
    cloud: &str,
) -> Result<Vec<RevisionSummary>, StoreError> {
    let rows = client.query(
        &format!(
            "SELECT number, content_hash, {}, author, message, status
             FROM revisions WHERE cloud = $1 ORDER BY number",
            ts("created_at")
        ),
        &[&cloud],
    )?;
    if rows.is_empty() {
        return Err(StoreError::UnknownCloud {
            cloud: cloud.to_owned(),
        });
    }
    rows.iter()
        .map(|row| {
            Ok(RevisionSummary {
                number: uint(row, 0, "revision number")?,
                content_hash: row.try_get(1)?,
                created_at: row.try_get(2)?,
                author: row.try_get(3)?,
                message: row.try_get(4)?,
                status: row.try_get(5)?,
            })
        })
        .collect()
}

pub(super) fn clouds(client: &mut Client) -> Result<Vec<String>, StoreError> {
    client
        .query("SELECT DISTINCT cloud FROM revisions ORDER BY cloud", &[])?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// Revisions are never deleted, so the check and the update need no lock.
pub(super) fn set_status(
    client: &mut Client,
    cloud: &str,
    number: u64,
    status: &str,
) -> Result<(), StoreError> {
    ensure_exists(client, cloud, number)?;
    client.execute(
        "UPDATE revisions SET status = $3 WHERE cloud = $1 AND number = $2",
        &[&cloud, &int_to_store(number, "revision number")?, &status],
    )?;
    Ok(())
}

pub(super) fn stored_secret(
    client: &mut Client,
    cloud: &str,
    name: &str,
) -> Result<Option<String>, StoreError> {
    client
        .query_opt(
            "SELECT value FROM secrets WHERE cloud = $1 AND name = $2",
            &[&cloud, &name],
        )?
        .map(|row| Ok(row.try_get(0)?))
        .transpose()
}

/// Stores `value` unless a secret is there already, and returns the stored
/// one. A conflicting insert waits for the other writer to commit, so the
/// read after it sees that writer's value.
pub(super) fn store_secret(
    client: &mut Client,
    cloud: &str,
    name: &str,
    value: &str,
) -> Result<String, StoreError> {
    let inserted = client.execute(
        "INSERT INTO secrets (cloud, name, value, created_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (cloud, name) DO NOTHING",
        &[&cloud, &name, &value],
    )?;
    if inserted == 1 {
        tracing::debug!(cloud, name, "generated a secret");
        return Ok(value.to_owned());
    }
    stored_secret(client, cloud, name)?.ok_or_else(|| StoreError::BadStoredValue {
        what: "secret (it vanished while being read)",
        value: format!("{cloud}/{name}"),
    })
}

pub(super) fn secret_names(client: &mut Client, cloud: &str) -> Result<Vec<String>, StoreError> {
    client
        .query(
            "SELECT name FROM secrets WHERE cloud = $1 ORDER BY name",
            &[&cloud],
        )?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// One statement, so atomic without a transaction.
pub(super) fn put_standby(client: &mut Client, standby: &Standby) -> Result<(), StoreError> {
    let containers = serde_json::to_string(&standby.containers)
        .expect("a list of strings always serializes to JSON");
    client.execute(
        "INSERT INTO standbys
             (cloud, component, containers, version, from_revision, to_revision, until_unix)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (cloud, component) DO UPDATE SET
             containers = excluded.containers, version = excluded.version,
             from_revision = excluded.from_revision, to_revision = excluded.to_revision,
             until_unix = excluded.until_unix",
        &[
            &standby.cloud,
            &standby.component,
            &containers,
            &standby.version,
            &int_to_store(standby.from_revision, "revision number")?,
            &int_to_store(standby.to_revision, "revision number")?,
            &standby.until_unix,
        ],
    )?;
    tracing::debug!(
        cloud = %standby.cloud, component = %standby.component,
        containers = standby.containers.len(), until_unix = standby.until_unix,
        "recorded a standby set"
    );
    Ok(())
}

pub(super) fn standbys(client: &mut Client, cloud: &str) -> Result<Vec<Standby>, StoreError> {
    client
        .query(
            "SELECT cloud, component, containers, version, from_revision, to_revision, until_unix
             FROM standbys WHERE cloud = $1 ORDER BY component",
            &[&cloud],
        )?
        .iter()
        .map(|row| {
            let containers: String = row.try_get(2)?;
            Ok(Standby {
                cloud: row.try_get(0)?,
                component: row.try_get(1)?,
                containers: serde_json::from_str(&containers).map_err(|source| {
                    StoreError::BadStoredJson {
                        what: "standby container list",
                        source,
                    }
                })?,
                version: row.try_get(3)?,
                from_revision: uint(row, 4, "revision number")?,
                to_revision: uint(row, 5, "revision number")?,
                until_unix: row.try_get(6)?,
            })
        })
        .collect()
}

pub(super) fn clear_standby(
    client: &mut Client,
    cloud: &str,
    component: &str,
) -> Result<(), StoreError> {
    let removed = client.execute(
        "DELETE FROM standbys WHERE cloud = $1 AND component = $2",
        &[&cloud, &component],
    )?;
    if removed > 0 {
        tracing::debug!(cloud, component, "cleared a standby set");
    }
    Ok(())
}

/// What [`record_migration`] stores, owned so it can cross to the
/// connection's thread.
pub(super) struct NewMigration {
    pub(super) cloud: String,
    pub(super) component: String,
    pub(super) from_version: String,
    pub(super) to_version: String,
    pub(super) revision: u64,
    pub(super) snapshot: Vec<u8>,
}

/// One statement, so atomic without a transaction.
pub(super) fn record_migration(
    client: &mut Client,
    new: NewMigration,
) -> Result<Migration, StoreError> {
    let row = client.query_one(
        &format!(
            "INSERT INTO migrations
                 (cloud, component, from_version, to_version, revision, created_at, snapshot)
             VALUES ($1, $2, $3, $4, $5, now(), $6)
             RETURNING id, {}",
            ts("created_at")
        ),
        &[
            &new.cloud,
            &new.component,
            &new.from_version,
            &new.to_version,
            &int_to_store(new.revision, "revision number")?,
            &new.snapshot,
        ],
    )?;
    let id = uint(&row, 0, "migration id")?;
    let snapshot_bytes = new.snapshot.len() as u64;
    tracing::info!(
        cloud = %new.cloud, component = %new.component, from_version = %new.from_version,
        to_version = %new.to_version, revision = new.revision, migration = id, snapshot_bytes,
        "recorded a database migration"
    );
    Ok(Migration {
        id,
        created_at: row.try_get(1)?,
        cloud: new.cloud,
        component: new.component,
        from_version: new.from_version,
        to_version: new.to_version,
        revision: new.revision,
        finalized_at: None,
        snapshot_bytes,
    })
}

/// Newest first. Reads the snapshots' lengths only, never their bytes.
pub(super) fn migrations(client: &mut Client, cloud: &str) -> Result<Vec<Migration>, StoreError> {
    client
        .query(
            &format!(
                "SELECT id, cloud, component, from_version, to_version, revision, {}, {},
                        octet_length(snapshot)::bigint
                 FROM migrations WHERE cloud = $1 ORDER BY id DESC",
                ts("created_at"),
                ts("finalized_at")
            ),
            &[&cloud],
        )?
        .iter()
        .map(|row| {
            Ok(Migration {
                id: uint(row, 0, "migration id")?,
                cloud: row.try_get(1)?,
                component: row.try_get(2)?,
                from_version: row.try_get(3)?,
                to_version: row.try_get(4)?,
                revision: uint(row, 5, "revision number")?,
                created_at: row.try_get(6)?,
                finalized_at: row.try_get(7)?,
                snapshot_bytes: uint(row, 8, "snapshot size")?,
            })
        })
        .collect()
}

pub(super) fn snapshot(client: &mut Client, migration: u64) -> Result<Vec<u8>, StoreError> {
    let unknown = StoreError::UnknownMigration { id: migration };
    let Some(id) = int(migration) else {
        return Err(unknown);
    };
    match client.query_opt("SELECT snapshot FROM migrations WHERE id = $1", &[&id])? {
        Some(row) => Ok(row.try_get(0)?),
        None => Err(unknown),
    }
}

/// One statement: a concurrent finalize waits for this one's row locks,
/// then finds those rows finalized, so no migration is counted twice.
pub(super) fn finalize_migrations(
    client: &mut Client,
    cloud: &str,
    component: &str,
) -> Result<u64, StoreError> {
    let finalized = client.execute(
        "UPDATE migrations SET finalized_at = now()
         WHERE cloud = $1 AND component = $2 AND finalized_at IS NULL",
        &[&cloud, &component],
    )?;
    if finalized > 0 {
        tracing::info!(cloud, component, finalized, "finalized database migrations");
    }
    Ok(finalized)
}
