//! Schema upgrades of components' databases and the snapshots taken before
//! them (the store's own schema versions are in `schema`).

use rusqlite::{params, Connection, OptionalExtension};

use super::{format_time, now, sql_int};
use crate::{Migration, StoreError};

/// One statement, so atomic without a transaction.
pub(super) fn record(
    conn: &Connection,
    cloud: &str,
    component: &str,
    from_version: &str,
    to_version: &str,
    revision: u64,
    snapshot: &[u8],
) -> Result<Migration, StoreError> {
    let created_at = format_time(now());
    let id: u64 = conn.query_row(
        "INSERT INTO migrations
             (cloud, component, from_version, to_version, revision, created_at, snapshot)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![
            cloud,
            component,
            from_version,
            to_version,
            revision,
            created_at,
            snapshot
        ],
        |row| row.get(0),
    )?;
    let snapshot_bytes = snapshot.len() as u64;
    tracing::info!(
        cloud,
        component,
        from_version,
        to_version,
        revision,
        migration = id,
        snapshot_bytes,
        "recorded a database migration"
    );
    Ok(Migration {
        id,
        cloud: cloud.to_owned(),
        component: component.to_owned(),
        from_version: from_version.to_owned(),
        to_version: to_version.to_owned(),
        revision,
        created_at,
        finalized_at: None,
        snapshot_bytes,
    })
}

/// Newest first. Reads the snapshots' lengths only, never their bytes.
pub(super) fn list(conn: &Connection, cloud: &str) -> Result<Vec<Migration>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT id, cloud, component, from_version, to_version, revision, created_at,
                finalized_at, length(snapshot)
         FROM migrations WHERE cloud = ?1 ORDER BY id DESC",
    )?;
    let migrations = statement
        .query_map([cloud], |row| {
            Ok(Migration {
                id: row.get(0)?,
                cloud: row.get(1)?,
                component: row.get(2)?,
                from_version: row.get(3)?,
                to_version: row.get(4)?,
                revision: row.get(5)?,
                created_at: row.get(6)?,
                finalized_at: row.get(7)?,
                snapshot_bytes: row.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(migrations)
}

pub(super) fn snapshot(conn: &Connection, migration: u64) -> Result<Vec<u8>, StoreError> {
    let unknown = StoreError::UnknownMigration { id: migration };
    let Some(id) = sql_int(migration) else {
        return Err(unknown);
    };
    conn.query_row(
        "SELECT snapshot FROM migrations WHERE id = ?1",
        [id],
        |row| row.get(0),
    )
    .optional()?
    .ok_or(unknown)
}

/// One statement, so atomic without a transaction: two callers never both
/// count the same migration.
pub(super) fn finalize(conn: &Connection, cloud: &str, component: &str) -> Result<u64, StoreError> {
    let finalized = conn.execute(
        "UPDATE migrations SET finalized_at = ?3
         WHERE cloud = ?1 AND component = ?2 AND finalized_at IS NULL",
        params![cloud, component, format_time(now())],
    )?;
    if finalized > 0 {
        tracing::info!(cloud, component, finalized, "finalized database migrations");
    }
    Ok(finalized as u64)
}
