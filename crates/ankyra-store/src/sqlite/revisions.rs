//! Revisions: immutable, numbered 1, 2, 3 ... per cloud.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{format_time, now, sql_int};
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

/// What a put expects the latest revision to be.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    /// Anything: the put goes on top of whatever is latest.
    Any,
    /// This revision (`None`: no revision yet), else [`StoreError::Conflict`].
    Latest(Option<u64>),
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
    let latest = latest(&tx, &new.cloud)?;
    if let Expect::Latest(expected) = expect {
        match (&latest, expected) {
            (None, Some(_)) => {
                return Err(StoreError::UnknownCloud { cloud: new.cloud });
            }
            (Some(found), _) if Some(found.number) != expected => {
                tracing::debug!(
                    cloud = %new.cloud, expected, found = found.number,
                    "refused a revision: the latest is not the one its writer read"
                );
                return Err(StoreError::Conflict {
                    cloud: new.cloud,
                    expected,
                    found: found.number,
                    author: found.author.clone(),
                    created_at: found.created_at.clone(),
                });
            }
            _ => {}
        }
    }
    if let Some(latest) = latest.as_ref() {
        if latest.content_hash == new.content_hash {
            return Ok((latest.clone(), false));
        }
    }
    let revision = Revision {
        number: latest.map_or(1, |r| r.number + 1),
        cloud: new.cloud,
        record_json: new.record_json,
        content_hash: new.content_hash,
        created_at: format_time(now()),
        author: new.author,
        message: new.message,
    };
    tx.execute(
        &format!("INSERT INTO revisions ({REVISION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            revision.cloud,
            revision.number,
            revision.record_json,
            revision.content_hash,
            revision.created_at,
            revision.author,
            revision.message,
        ],
    )?;
    tx.commit()?;
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
