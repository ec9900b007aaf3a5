//! Revisions: immutable, numbered 1, 2, 3 ... per cloud.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{format_time, now, sql_int};
use crate::rules::{decide_put, map_json, Expect, PutDecision};
use crate::{NewRevision, Revision, RevisionSummary, StoreError};

const REVISION_COLUMNS: &str =
    "cloud, number, record_json, content_hash, created_at, author, message";

fn revision_from(row: &Row<'_>) -> rusqlite::Result<Revision> {
    Ok(Revision {
        cloud: row.get(0)?,
        number: row.get(1)?,
        record_json: row.get(2)?,
        content_hash: row.get(3)?,
        created_at: row.get(4)?,
        author: row.get(5)?,
        message: row.get(6)?,
    })
}

/// Stores `new` as the next revision unless it equals the latest, or (with
/// [`Expect::Latest`]) the latest is not the one expected. `tx` holds the
/// write lock, so the number read (and checked) is still the latest when
/// written.
pub(super) fn put(
    tx: Transaction<'_>,
    new: NewRevision,
    expect: Expect,
) -> Result<(Revision, bool), StoreError> {
    let put = insert_next(&tx, new, expect)?;
    if put.1 {
        tx.commit()?;
    }
    Ok(put)
}

/// [`put`] within a transaction the caller commits (with others: a fleet
/// operation stores many clouds' revisions at once).
pub(super) fn insert_next(
    tx: &Transaction<'_>,
    new: NewRevision,
    expect: Expect,
) -> Result<(Revision, bool), StoreError> {
    let number = match decide_put(latest(tx, &new.cloud)?, &new, expect)? {
        PutDecision::Unchanged(latest) => return Ok((latest, false)),
        PutDecision::Insert(number) => number,
    };
    let revision = Revision {
        number,
        cloud: new.cloud,
        record_json: new.record_json,
        content_hash: new.content_hash,
        created_at: format_time(now()),
        author: new.author,
        message: new.message,
    };
    tx.execute(
        &format!(
            "INSERT INTO revisions ({REVISION_COLUMNS}, labels_json, versions_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            revision.cloud,
            revision.number,
            revision.record_json,
            revision.content_hash,
            revision.created_at,
            revision.author,
            revision.message,
            map_json(&new.labels),
            map_json(&new.versions),
        ],
    )?;
    tracing::debug!(cloud = %revision.cloud, revision = revision.number, "stored a revision");
    Ok((revision, true))
}

pub(super) fn latest(conn: &Connection, cloud: &str) -> Result<Option<Revision>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {REVISION_COLUMNS} FROM revisions WHERE cloud = ?1
                 ORDER BY number DESC LIMIT 1"
            ),
            [cloud],
            revision_from,
        )
        .optional()?)
}

/// The latest revision number of `cloud`, or [`StoreError::UnknownCloud`].
fn latest_number(conn: &Connection, cloud: &str) -> Result<u64, StoreError> {
    let latest: Option<u64> = conn.query_row(
        "SELECT max(number) FROM revisions WHERE cloud = ?1",
        [cloud],
        |row| row.get(0),
    )?;
    latest.ok_or_else(|| StoreError::UnknownCloud {
        cloud: cloud.to_owned(),
    })
}

/// Checks `cloud` has revision `number`, with the error naming the latest.
pub(super) fn ensure_exists(conn: &Connection, cloud: &str, number: u64) -> Result<(), StoreError> {
    let latest = latest_number(conn, cloud)?;
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

pub(super) fn get(conn: &Connection, cloud: &str, number: u64) -> Result<Revision, StoreError> {
    let found = match sql_int(number) {
        Some(n) => conn
            .query_row(
                &format!(
                    "SELECT {REVISION_COLUMNS} FROM revisions WHERE cloud = ?1 AND number = ?2"
                ),
                params![cloud, n],
                revision_from,
            )
            .optional()?,
        None => None,
    };
    match found {
        Some(revision) => Ok(revision),
        None => Err(StoreError::UnknownRevision {
            cloud: cloud.to_owned(),
            number,
            latest: latest_number(conn, cloud)?,
        }),
    }
}

pub(super) fn history(conn: &Connection, cloud: &str) -> Result<Vec<RevisionSummary>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT number, content_hash, created_at, author, message, status
         FROM revisions WHERE cloud = ?1 ORDER BY number",
    )?;
    let summaries = statement
        .query_map([cloud], |row| {
            Ok(RevisionSummary {
                number: row.get(0)?,
                content_hash: row.get(1)?,
                created_at: row.get(2)?,
                author: row.get(3)?,
                message: row.get(4)?,
                status: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if summaries.is_empty() {
        return Err(StoreError::UnknownCloud {
            cloud: cloud.to_owned(),
        });
    }
    Ok(summaries)
}

pub(super) fn clouds(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare("SELECT DISTINCT cloud FROM revisions ORDER BY cloud")?;
    let clouds = statement
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(clouds)
}

pub(super) fn set_status(
    tx: Transaction<'_>,
    cloud: &str,
    number: u64,
    status: &str,
) -> Result<(), StoreError> {
    ensure_exists(&tx, cloud, number)?;
    tx.execute(
        "UPDATE revisions SET status = ?3 WHERE cloud = ?1 AND number = ?2",
        params![cloud, number, status],
    )?;
    tx.commit()?;
    Ok(())
}
