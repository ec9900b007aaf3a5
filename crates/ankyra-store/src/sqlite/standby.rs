//! Standby sets: the old instances of a component kept out of rotation after
//! an upgrade, at most one set per cloud and component.

use rusqlite::types::Type;
use rusqlite::{params, Connection, Row};

use crate::{Standby, StoreError};

const STANDBY_COLUMNS: &str =
    "cloud, component, containers, version, from_revision, to_revision, until_unix";

/// The container names as stored: a JSON array, which keeps their order
/// without a table of its own.
fn containers_json(containers: &[String]) -> String {
    serde_json::to_string(containers).expect("a list of strings always serializes to JSON")
}

fn standby_from(row: &Row<'_>) -> rusqlite::Result<Standby> {
    let containers: String = row.get(2)?;
    let containers = serde_json::from_str(&containers)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, Box::new(e)))?;
    Ok(Standby {
        cloud: row.get(0)?,
        component: row.get(1)?,
        containers,
        version: row.get(3)?,
        from_revision: row.get(4)?,
        to_revision: row.get(5)?,
        until_unix: row.get(6)?,
    })
}

/// One statement, so atomic without a transaction.
pub(super) fn put(conn: &Connection, standby: &Standby) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO standbys ({STANDBY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            standby.cloud,
            standby.component,
            containers_json(&standby.containers),
            standby.version,
            standby.from_revision,
            standby.to_revision,
            standby.until_unix,
        ],
    )?;
    tracing::debug!(
        cloud = %standby.cloud, component = %standby.component,
        containers = standby.containers.len(), until_unix = standby.until_unix,
        "recorded a standby set"
    );
    Ok(())
}

pub(super) fn list(conn: &Connection, cloud: &str) -> Result<Vec<Standby>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {STANDBY_COLUMNS} FROM standbys WHERE cloud = ?1 ORDER BY component"
    ))?;
    let standbys = statement
        .query_map([cloud], standby_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(standbys)
}

/// One statement, so atomic without a transaction.
pub(super) fn clear(conn: &Connection, cloud: &str, component: &str) -> Result<(), StoreError> {
    let removed = conn.execute(
        "DELETE FROM standbys WHERE cloud = ?1 AND component = ?2",
        [cloud, component],
    )?;
    if removed > 0 {
        tracing::debug!(cloud, component, "cleared a standby set");
    }
    Ok(())
}
