//! The fleet index and fleet operations.

use std::collections::HashMap;

use crate::fleet::UNFINISHED;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{format_time, now, revisions, sql_int};
use crate::rules::{attach_components, check_fleet_members, parse_map, Expect};
use crate::{
    CloudIndex, FleetMember, FleetMemberState, FleetOp, FleetOpState, NewFleetOp, StoreError,
};

impl FromSql for FleetMemberState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        FleetMemberState::from_name(text).ok_or_else(|| {
            FromSqlError::Other(format!("`{text}` is not a fleet member state").into())
        })
    }
}

impl FromSql for FleetOpState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        FleetOpState::from_name(text).ok_or_else(|| {
            FromSqlError::Other(format!("`{text}` is not a fleet operation state").into())
        })
    }
}

/// The latest and newest applied revision of every cloud. `INDEXED BY`
/// pins the covering index: without statistics SQLite may pick the primary
/// key's index for the joins and read table rows (and `record_json`'s
/// overflow pages) instead.
pub(super) const INDEX_SQL: &str = "
    WITH latest AS (
        SELECT cloud, max(number) AS number
        FROM revisions INDEXED BY revisions_for_the_fleet_index GROUP BY cloud
    ),
    applied AS (
        SELECT cloud, max(number) AS number
        FROM revisions INDEXED BY revisions_for_the_fleet_index
        WHERE status = 'applied' GROUP BY cloud
    )
    SELECT l.cloud, l.number, lr.status, lr.labels_json, lr.versions_json,
           a.number, ar.versions_json
    FROM latest l
    JOIN revisions lr INDEXED BY revisions_for_the_fleet_index
        ON lr.cloud = l.cloud AND lr.number = l.number
    LEFT JOIN applied a ON a.cloud = l.cloud
    LEFT JOIN revisions ar INDEXED BY revisions_for_the_fleet_index
        ON ar.cloud = a.cloud AND ar.number = a.number
    ORDER BY l.cloud";

/// Four queries for the whole fleet, in one read transaction so they agree.
/// The revision query reads only columns of the covering index
/// `revisions_for_the_fleet_index`, never `record_json`.
pub(super) fn index(conn: &Connection) -> Result<Vec<CloudIndex>, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let mut statement = tx.prepare(INDEX_SQL)?;
    type Raw = (
        String,
        u64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<u64>,
        Option<String>,
    );
    let raw = statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<Raw>>>()?;
    drop(statement);
    let mut rows = raw
        .into_iter()
        .map(
            |(cloud, latest, latest_status, labels, versions, applied, applied_versions)| {
                Ok(CloudIndex {
                    cloud,
                    latest,
                    latest_status,
                    labels: parse_map(labels.as_deref(), "revision labels")?,
                    versions: parse_map(versions.as_deref(), "revision versions")?,
                    applied,
                    applied_versions: parse_map(applied_versions.as_deref(), "revision versions")?,
                    standby_components: Vec::new(),
                    unfinalized_components: Vec::new(),
                })
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    let standbys = pairs(&tx, "SELECT cloud, component FROM standbys")?;
    // Reads the index migrations_by_component only, never the snapshots.
    let unfinalized = pairs(
        &tx,
        "SELECT DISTINCT cloud, component FROM migrations WHERE finalized_at IS NULL",
    )?;
    tx.finish()?;
    attach_components(&mut rows, standbys, unfinalized);
    Ok(rows)
}

fn pairs(conn: &Connection, sql: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut statement = conn.prepare(sql)?;
    let pairs = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(pairs)
}

/// Stores every member's revision, then the operation and its members, in
/// `tx`, which holds the write lock: nothing is committed unless all of it
/// can be.
pub(super) fn create(tx: Transaction<'_>, mut op: NewFleetOp) -> Result<FleetOp, StoreError> {
    check_fleet_members(&op)?;
    let created_at = format_time(now());
    let mut members = Vec::with_capacity(op.members.len());
    for member in std::mem::take(&mut op.members) {
        let expect = Expect::Latest(Some(member.from_revision));
        let (revision, created) = revisions::insert_next(&tx, member.revision, expect)?;
        if !created {
            return Err(StoreError::FleetMemberUnchanged {
                cloud: member.cloud,
                revision: revision.number,
            });
        }
        members.push(FleetMember {
            cloud: member.cloud,
            wave: member.wave,
            from_revision: member.from_revision,
            from_version: member.from_version,
            to_revision: revision.number,
            state: FleetMemberState::Pending,
            reason: None,
            updated_at: created_at.clone(),
        });
    }
    let state = FleetOpState::Running;
    let id: u64 = tx.query_row(
        "INSERT INTO fleet_ops
             (kind, selector, change, waves, max_parallel, author, message, created_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            op.kind,
            op.selector,
            op.change,
            op.waves,
            op.max_parallel,
            op.author,
            op.message,
            created_at,
            state.as_str()
        ],
        |row| row.get(0),
    )?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO fleet_members (op, cloud, wave, from_revision, from_version,
                 to_revision, state, reason, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)",
        )?;
        for member in &members {
            insert.execute(params![
                id,
                member.cloud,
                member.wave,
                member.from_revision,
                member.from_version,
                member.to_revision,
                member.state.as_str(),
                member.updated_at,
            ])?;
        }
    }
    tx.commit()?;
    Ok(op.into_stored(id, created_at, members))
}

const OP_COLUMNS: &str =
    "id, kind, selector, change, waves, max_parallel, author, message, created_at, state";

fn op_from(row: &Row<'_>) -> rusqlite::Result<FleetOp> {
    Ok(FleetOp {
        id: row.get(0)?,
        kind: row.get(1)?,
        selector: row.get(2)?,
        change: row.get(3)?,
        waves: row.get(4)?,
        max_parallel: row.get(5)?,
        author: row.get(6)?,
        message: row.get(7)?,
        created_at: row.get(8)?,
        state: row.get(9)?,
        members: Vec::new(),
    })
}

const MEMBER_COLUMNS: &str =
    "op, cloud, wave, from_revision, from_version, to_revision, state, reason, updated_at";

fn member_from(row: &Row<'_>) -> rusqlite::Result<(u64, FleetMember)> {
    Ok((
        row.get(0)?,
        FleetMember {
            cloud: row.get(1)?,
            wave: row.get(2)?,
            from_revision: row.get(3)?,
            from_version: row.get(4)?,
            to_revision: row.get(5)?,
            state: row.get(6)?,
            reason: row.get(7)?,
            updated_at: row.get(8)?,
        },
    ))
}

pub(super) fn get(conn: &Connection, id: u64) -> Result<FleetOp, StoreError> {
    let unknown = StoreError::UnknownFleetOp { id };
    let Some(key) = sql_int(id) else {
        return Err(unknown);
    };
    // One read transaction, so the operation and its members agree.
    let tx = conn.unchecked_transaction()?;
    let mut op = tx
        .query_row(
            &format!("SELECT {OP_COLUMNS} FROM fleet_ops WHERE id = ?1"),
            [key],
            op_from,
        )
        .optional()?
        .ok_or(unknown)?;
    let mut statement = tx.prepare(&format!(
        "SELECT {MEMBER_COLUMNS} FROM fleet_members WHERE op = ?1 ORDER BY wave, cloud"
    ))?;
    op.members = statement
        .query_map([key], member_from)?
        .map(|row| row.map(|(_, member)| member))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    drop(statement);
    tx.finish()?;
    Ok(op)
}

/// Two queries for all operations (or only the unfinished ones), not one
/// per operation.
pub(super) fn list(conn: &Connection, unfinished: bool) -> Result<Vec<FleetOp>, StoreError> {
    let which = if unfinished { UNFINISHED } else { "" };
    let tx = conn.unchecked_transaction()?;
    let mut statement = tx.prepare(&format!(
        "SELECT {OP_COLUMNS} FROM fleet_ops {which} ORDER BY id DESC"
    ))?;
    let mut ops = statement
        .query_map([], op_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    drop(statement);
    let members = if unfinished {
        format!("WHERE op IN (SELECT id FROM fleet_ops {UNFINISHED})")
    } else {
        String::new()
    };
    let mut statement = tx.prepare(&format!(
        "SELECT {MEMBER_COLUMNS} FROM fleet_members {members} ORDER BY op, wave, cloud"
    ))?;
    let position: HashMap<u64, usize> = ops.iter().enumerate().map(|(i, op)| (op.id, i)).collect();
    for row in statement.query_map([], member_from)? {
        let (op, member) = row?;
        if let Some(&i) = position.get(&op) {
            ops[i].members.push(member);
        }
    }
    drop(statement);
    tx.finish()?;
    Ok(ops)
}

pub(super) fn set_member(
    tx: Transaction<'_>,
    id: u64,
    cloud: &str,
    state: FleetMemberState,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    ensure_op(&tx, id)?;
    let changed = tx.execute(
        "UPDATE fleet_members SET state = ?3, reason = ?4, updated_at = ?5
         WHERE op = ?1 AND cloud = ?2",
        params![id, cloud, state.as_str(), reason, format_time(now())],
    )?;
    if changed == 0 {
        return Err(StoreError::UnknownFleetMember {
            id,
            cloud: cloud.to_owned(),
        });
    }
    tx.commit()?;
    tracing::debug!(fleet_op = id, cloud, state = %state, "fleet member changed state");
    Ok(())
}

/// One statement, so atomic without a transaction.
pub(super) fn set_state(conn: &Connection, id: u64, state: FleetOpState) -> Result<(), StoreError> {
    let changed = match sql_int(id) {
        Some(key) => conn.execute(
            "UPDATE fleet_ops SET state = ?2 WHERE id = ?1",
            params![key, state.as_str()],
        )?,
        None => 0,
    };
    if changed == 0 {
        return Err(StoreError::UnknownFleetOp { id });
    }
    tracing::info!(fleet_op = id, state = %state, "fleet operation changed state");
    Ok(())
}

fn ensure_op(conn: &Connection, id: u64) -> Result<(), StoreError> {
    let exists = match sql_int(id) {
        Some(key) => conn
            .query_row("SELECT 1 FROM fleet_ops WHERE id = ?1", [key], |_| Ok(()))
            .optional()?
            .is_some(),
        None => false,
    };
    if exists {
        Ok(())
    } else {
        Err(StoreError::UnknownFleetOp { id })
    }
}
