//! Secrets: generated once per cloud and name, then reused.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{format_time, now};
use crate::StoreError;

/// The stored secret, or a new one from `generate`. `tx` holds the write
/// lock, so two callers cannot both generate.
pub(super) fn get_or_create(
    tx: Transaction<'_>,
    cloud: &str,
    name: &str,
    generate: &mut dyn FnMut() -> String,
) -> Result<String, StoreError> {
    let stored: Option<String> = tx
        .query_row(
            "SELECT value FROM secrets WHERE cloud = ?1 AND name = ?2",
            [cloud, name],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(value) = stored {
        return Ok(value);
    }
    let value = generate();
    tx.execute(
        "INSERT INTO secrets (cloud, name, value, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![cloud, name, value, format_time(now())],
    )?;
    tx.commit()?;
    tracing::debug!(cloud, name, "generated a secret");
    Ok(value)
}

pub(super) fn names(conn: &Connection, cloud: &str) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare("SELECT name FROM secrets WHERE cloud = ?1 ORDER BY name")?;
    let names = statement
        .query_map([cloud], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}
