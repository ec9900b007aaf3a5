//! The operation journal: what each operation did, step by step, so a crash
//! can be resumed. Every write is fenced by the operation's lock token.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{format_time, locks, now, revisions, sql_int};
use crate::{JournalStep, Operation, StepState, StoreError};

impl FromSql for StepState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        StepState::from_name(text).ok_or_else(|| {
            FromSqlError::Other(format!("`{text}` is not a journal step state").into())
        })
    }
}

/// An operation's row, without its steps.
struct Header {
    cloud: String,
    token: u64,
    outcome: Option<String>,
}

fn header(conn: &Connection, op: u64) -> Result<Header, StoreError> {
    let unknown = StoreError::UnknownOperation { id: op };
    let Some(id) = sql_int(op) else {
        return Err(unknown);
    };
    conn.query_row(
        "SELECT cloud, token, outcome FROM operations WHERE id = ?1",
        [id],
        |row| {
            Ok(Header {
                cloud: row.get(0)?,
                token: row.get(1)?,
                outcome: row.get(2)?,
            })
        },
    )
    .optional()?
    .ok_or(unknown)
}

/// The header of `op` if a writer carrying `token` (`None`: this handle has
/// none for `op`) may still write to it: not ended, and `token` holds the
/// cloud's lock.
fn writable(conn: &Connection, op: u64, token: Option<u64>) -> Result<Header, StoreError> {
    let header = header(conn, op)?;
    if let Some(outcome) = header.outcome {
        return Err(StoreError::OperationEnded { id: op, outcome });
    }
    let token = token.ok_or(StoreError::OperationNotHeld { id: op })?;
    locks::check_fence(conn, &header.cloud, token)?;
    Ok(header)
}

fn unfinished_id(conn: &Connection, cloud: &str) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM operations WHERE cloud = ?1 AND ended_at IS NULL",
            [cloud],
            |row| row.get(0),
        )
        .optional()?)
}

pub(super) fn begin(
    tx: Transaction<'_>,
    cloud: &str,
    revision: u64,
    kind: &str,
    token: u64,
) -> Result<u64, StoreError> {
    locks::check_fence(&tx, cloud, token)?;
    revisions::ensure_exists(&tx, cloud, revision)?;
    if let Some(id) = unfinished_id(&tx, cloud)? {
        return Err(StoreError::UnfinishedOperation {
            cloud: cloud.to_owned(),
            id,
        });
    }
    let id: u64 = tx.query_row(
        "INSERT INTO operations (cloud, revision, kind, token, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        params![cloud, revision, kind, token, format_time(now())],
        |row| row.get(0),
    )?;
    tx.commit()?;
    tracing::info!(cloud, revision, kind, operation = id, "began an operation");
    Ok(id)
}

pub(super) fn resume(tx: Transaction<'_>, op: u64, token: u64) -> Result<Operation, StoreError> {
    let header = header(&tx, op)?;
    if let Some(outcome) = header.outcome {
        return Err(StoreError::OperationEnded { id: op, outcome });
    }
    locks::check_fence(&tx, &header.cloud, token)?;
    tx.execute(
        "UPDATE operations SET token = ?2 WHERE id = ?1",
        params![op, token],
    )?;
    let operation = load(&tx, op)?;
    tx.commit()?;
    tracing::info!(cloud = %header.cloud, operation = op, token, previous_token = header.token, "resumed an operation");
    Ok(operation)
}

pub(super) fn step(
    tx: Transaction<'_>,
    op: u64,
    token: Option<u64>,
    step_index: u32,
    name: &str,
    state: StepState,
    detail: &str,
) -> Result<(), StoreError> {
    writable(&tx, op, token)?;
    let previous: Option<StepState> = tx
        .query_row(
            "SELECT state FROM journal_steps WHERE operation = ?1 AND step_index = ?2
             ORDER BY id DESC LIMIT 1",
            params![op, step_index],
            |row| row.get(0),
        )
        .optional()?;
    if !state.can_follow(previous) {
        return Err(StoreError::StepOutOfOrder {
            operation: op,
            step_index,
            from: previous,
            to: state,
        });
    }
    tx.execute(
        "INSERT INTO journal_steps (operation, step_index, name, state, detail, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            op,
            step_index,
            name,
            state.as_str(),
            detail,
            format_time(now())
        ],
    )?;
    tx.commit()?;
    Ok(())
}

pub(super) fn end(
    tx: Transaction<'_>,
    op: u64,
    token: Option<u64>,
    outcome: &str,
) -> Result<(), StoreError> {
    let header = writable(&tx, op, token)?;
    tx.execute(
        "UPDATE operations SET ended_at = ?2, outcome = ?3 WHERE id = ?1",
        params![op, format_time(now()), outcome],
    )?;
    tx.commit()?;
    tracing::info!(cloud = %header.cloud, operation = op, outcome, "ended an operation");
    Ok(())
}

pub(super) fn unfinished(conn: &Connection, cloud: &str) -> Result<Option<Operation>, StoreError> {
    // One read transaction, so the operation and its steps agree.
    let tx = conn.unchecked_transaction()?;
    let operation = match unfinished_id(&tx, cloud)? {
        Some(id) => Some(load(&tx, id)?),
        None => None,
    };
    tx.finish()?;
    Ok(operation)
}

fn load(conn: &Connection, op: u64) -> Result<Operation, StoreError> {
    let mut operation = conn
        .query_row(
            "SELECT id, cloud, revision, kind, token, started_at FROM operations WHERE id = ?1",
            [op],
            |row| {
                Ok(Operation {
                    id: row.get(0)?,
                    cloud: row.get(1)?,
                    revision: row.get(2)?,
                    kind: row.get(3)?,
                    token: row.get(4)?,
                    started_at: row.get(5)?,
                    steps: Vec::new(),
                })
            },
        )
        .optional()?
        .ok_or(StoreError::UnknownOperation { id: op })?;
    let mut statement = conn.prepare(
        "SELECT step_index, name, state, detail, at FROM journal_steps
         WHERE operation = ?1 ORDER BY id",
    )?;
    operation.steps = statement
        .query_map([op], |row| {
            Ok(JournalStep {
                step_index: row.get(0)?,
                name: row.get(1)?,
                state: row.get(2)?,
                detail: row.get(3)?,
                at: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(operation)
}
