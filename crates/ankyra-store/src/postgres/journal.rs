//! Locks with fencing tokens, and the operation journal they fence.
//!
//! Whatever changes a cloud's lock holder (acquiring, forcing open) locks
//! the cloud's write key, and so does every fenced journal write: a write
//! checks the holder and is committed before the holder can change.

use std::time::Duration;

use postgres::{Client, GenericClient, Row};

use super::{int, int_to_store, lock_key, records, ts, uint};
use crate::{JournalStep, LockInfo, Operation, StepState, StoreError};

/// A ttl so long it never expires, bounded so the interval stays in range.
const LONGEST_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn lock_from(row: &Row) -> Result<LockInfo, StoreError> {
    Ok(LockInfo {
        cloud: row.try_get(0)?,
        owner: row.try_get(1)?,
        token: uint(row, 2, "lock token")?,
        acquired_at: row.try_get(3)?,
        heartbeat_at: row.try_get(4)?,
    })
}

fn lock_columns() -> String {
    format!(
        "cloud, owner, token, {}, {}",
        ts("acquired_at"),
        ts("heartbeat_at")
    )
}

pub(super) fn lock_info(
    client: &mut impl GenericClient,
    cloud: &str,
) -> Result<Option<LockInfo>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {} FROM locks WHERE cloud = $1", lock_columns()),
            &[&cloud],
        )?
        .map(|row| lock_from(&row))
        .transpose()
}

/// Freshness is judged by the database's clock, the one that wrote the
/// heartbeat, so machines with skewed clocks agree on it. A heartbeat in
/// the future counts as fresh.
pub(super) fn acquire_lock(
    client: &mut Client,
    cloud: &str,
    owner: &str,
    ttl: Duration,
) -> Result<LockInfo, StoreError> {
    let ttl_micros = i64::try_from(ttl.min(LONGEST_TTL).as_micros())
        .expect("100 years of microseconds fit in an i64");
    let mut tx = client.transaction()?;
    lock_key(&mut tx, cloud)?;
    let previous = tx
        .query_opt(
            &format!(
                "SELECT {}, heartbeat_at > now() - $2::bigint * interval '1 microsecond'
                 FROM locks WHERE cloud = $1",
                lock_columns()
            ),
            &[&cloud, &ttl_micros],
        )?
        .map(|row| -> Result<(LockInfo, bool), StoreError> {
            Ok((lock_from(&row)?, row.try_get(5)?))
        })
        .transpose()?;
    if let Some((held, fresh)) = &previous {
        if held.owner != owner && *fresh {
            return Err(StoreError::Locked {
                cloud: cloud.to_owned(),
                owner: held.owner.clone(),
                since: held.acquired_at.clone(),
            });
        }
    }
    let token: i64 = tx
        .query_one(
            "INSERT INTO lock_tokens (cloud, last_token) VALUES ($1, 1)
             ON CONFLICT (cloud) DO UPDATE SET last_token = lock_tokens.last_token + 1
             RETURNING last_token",
            &[&cloud],
        )?
        .try_get(0)?;
    let row = tx.query_one(
        &format!(
            "INSERT INTO locks (cloud, owner, token, acquired_at, heartbeat_at)
             VALUES ($1, $2, $3, now(), now())
             ON CONFLICT (cloud) DO UPDATE SET owner = excluded.owner, token = excluded.token,
                 acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at
             RETURNING {}",
            lock_columns()
        ),
        &[&cloud, &owner, &token],
    )?;
    let lock = lock_from(&row)?;
    tx.commit()?;
    match previous {
        Some((held, _)) => tracing::info!(
            cloud, owner, token = lock.token, previous_owner = %held.owner,
            previous_token = held.token, "took over a lock"
        ),
        None => tracing::debug!(cloud, owner, token = lock.token, "acquired a lock"),
    }
    Ok(lock)
}

/// One statement, so atomic without a transaction.
pub(super) fn heartbeat(client: &mut Client, cloud: &str, token: u64) -> Result<(), StoreError> {
    let changed = match int(token) {
        Some(t) => client.execute(
            "UPDATE locks SET heartbeat_at = now() WHERE cloud = $1 AND token = $2",
            &[&cloud, &t],
        )?,
        None => 0,
    };
    held_if_changed(changed, cloud, token)
}

/// One statement, so atomic without a transaction; only the holder itself
/// releases, so it needs no write key.
pub(super) fn release_lock(client: &mut Client, cloud: &str, token: u64) -> Result<(), StoreError> {
    let changed = match int(token) {
        Some(t) => client.execute(
            "DELETE FROM locks WHERE cloud = $1 AND token = $2",
            &[&cloud, &t],
        )?,
        None => 0,
    };
    held_if_changed(changed, cloud, token)?;
    tracing::debug!(cloud, token, "released a lock");
    Ok(())
}

fn held_if_changed(changed: u64, cloud: &str, token: u64) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::LockLost {
            cloud: cloud.to_owned(),
            token,
        })
    } else {
        Ok(())
    }
}

pub(super) fn force_unlock(
    client: &mut Client,
    cloud: &str,
) -> Result<Option<LockInfo>, StoreError> {
    let mut tx = client.transaction()?;
    lock_key(&mut tx, cloud)?;
    let removed = tx
        .query_opt(
            &format!(
                "DELETE FROM locks WHERE cloud = $1 RETURNING {}",
                lock_columns()
            ),
            &[&cloud],
        )?
        .map(|row| lock_from(&row))
        .transpose()?;
    tx.commit()?;
    if let Some(lock) = &removed {
        tracing::info!(cloud, owner = %lock.owner, token = lock.token, "forced a lock open");
    }
    Ok(removed)
}

/// Refuses a write that carries `token` unless it is the current holder's.
/// The caller holds the cloud's write key, so the holder cannot change
/// before the write commits.
fn check_fence(tx: &mut impl GenericClient, cloud: &str, token: u64) -> Result<(), StoreError> {
    let holder = tx
        .query_opt("SELECT token FROM locks WHERE cloud = $1", &[&cloud])?
        .map(|row| uint(&row, 0, "lock token"))
        .transpose()?;
    if holder == Some(token) {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            cloud: cloud.to_owned(),
            token,
            holder,
        })
    }
}

/// An operation's row, without its steps.
struct Header {
    cloud: String,
    token: u64,
    outcome: Option<String>,
}

/// Locks the write key of `op`'s cloud, then reads its header (after the
/// lock, so it is current).
fn locked_header(tx: &mut impl GenericClient, op: u64) -> Result<Header, StoreError> {
    let unknown = || StoreError::UnknownOperation { id: op };
    let id = int(op).ok_or_else(unknown)?;
    let cloud: String = tx
        .query_opt("SELECT cloud FROM operations WHERE id = $1", &[&id])?
        .ok_or_else(unknown)?
        .try_get(0)?;
    lock_key(tx, &cloud)?;
    let row = tx.query_one(
        "SELECT cloud, token, outcome FROM operations WHERE id = $1",
        &[&id],
    )?;
    Ok(Header {
        cloud: row.try_get(0)?,
        token: uint(&row, 1, "lock token")?,
        outcome: row.try_get(2)?,
    })
}

/// The header of `op` if a writer carrying `token` may still write to it.
fn writable(
    tx: &mut impl GenericClient,
    op: u64,
    token: Option<u64>,
) -> Result<Header, StoreError> {
    let header = locked_header(tx, op)?;
    if let Some(outcome) = header.outcome {
        return Err(StoreError::OperationEnded { id: op, outcome });
    }
    let token = token.ok_or(StoreError::OperationNotHeld { id: op })?;
    check_fence(tx, &header.cloud, token)?;
    Ok(header)
}

fn unfinished_id(tx: &mut impl GenericClient, cloud: &str) -> Result<Option<u64>, StoreError> {
    tx.query_opt(
        "SELECT id FROM operations WHERE cloud = $1 AND ended_at IS NULL",
        &[&cloud],
    )?
    .map(|row| uint(&row, 0, "operation id"))
    .transpose()
}

pub(super) fn begin(
    client: &mut Client,
    cloud: &str,
    revision: u64,
    kind: &str,
    token: u64,
) -> Result<u64, StoreError> {
    let mut tx = client.transaction()?;
    lock_key(&mut tx, cloud)?;
    check_fence(&mut tx, cloud, token)?;
    records::ensure_exists(&mut tx, cloud, revision)?;
    if let Some(id) = unfinished_id(&mut tx, cloud)? {
        return Err(StoreError::UnfinishedOperation {
            cloud: cloud.to_owned(),
            id,
        });
    }
    let row = tx.query_one(
        "INSERT INTO operations (cloud, revision, kind, token, started_at)
         VALUES ($1, $2, $3, $4, now()) RETURNING id",
        &[
            &cloud,
            &int_to_store(revision, "revision number")?,
            &kind,
            &int_to_store(token, "lock token")?,
        ],
    )?;
    let id = uint(&row, 0, "operation id")?;
    tx.commit()?;
    tracing::info!(cloud, revision, kind, operation = id, "began an operation");
    Ok(id)
}

pub(super) fn resume(client: &mut Client, op: u64, token: u64) -> Result<Operation, StoreError> {
    let mut tx = client.transaction()?;
    let header = locked_header(&mut tx, op)?;
    if let Some(outcome) = header.outcome {
        return Err(StoreError::OperationEnded { id: op, outcome });
    }
    check_fence(&mut tx, &header.cloud, token)?;
    tx.execute(
        "UPDATE operations SET token = $2 WHERE id = $1",
        &[
            &int_to_store(op, "operation id")?,
            &int_to_store(token, "lock token")?,
        ],
    )?;
    let operation = load(&mut tx, op)?;
    tx.commit()?;
    tracing::info!(cloud = %header.cloud, operation = op, token, previous_token = header.token, "resumed an operation");
    Ok(operation)
}

pub(super) fn step(
    client: &mut Client,
    op: u64,
    token: Option<u64>,
    step_index: u32,
    name: &str,
    state: StepState,
    detail: &str,
) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    writable(&mut tx, op, token)?;
    let id = int_to_store(op, "operation id")?;
    let index = i64::from(step_index);
    let previous = tx
        .query_opt(
            "SELECT state FROM journal_steps WHERE operation = $1 AND step_index = $2
             ORDER BY id DESC LIMIT 1",
            &[&id, &index],
        )?
        .map(|row| state_from(&row, 0))
        .transpose()?;
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
         VALUES ($1, $2, $3, $4, $5, now())",
        &[&id, &index, &name, &state.as_str(), &detail],
    )?;
    tx.commit()?;
    Ok(())
}

fn state_from(row: &Row, index: usize) -> Result<StepState, StoreError> {
    let text: String = row.try_get(index)?;
    StepState::from_name(&text).ok_or(StoreError::BadStoredValue {
        what: "journal step state",
        value: text,
    })
}

pub(super) fn end(
    client: &mut Client,
    op: u64,
    token: Option<u64>,
    outcome: &str,
) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    let header = writable(&mut tx, op, token)?;
    tx.execute(
        "UPDATE operations SET ended_at = now(), outcome = $2 WHERE id = $1",
        &[&int_to_store(op, "operation id")?, &outcome],
    )?;
    tx.commit()?;
    tracing::info!(cloud = %header.cloud, operation = op, outcome, "ended an operation");
    Ok(())
}

/// In one repeatable-read transaction, so the operation and its steps agree.
pub(super) fn unfinished(
    client: &mut Client,
    cloud: &str,
) -> Result<Option<Operation>, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let operation = match unfinished_id(&mut tx, cloud)? {
        Some(id) => Some(load(&mut tx, id)?),
        None => None,
    };
    tx.commit()?;
    Ok(operation)
}

fn load(tx: &mut impl GenericClient, op: u64) -> Result<Operation, StoreError> {
    let id = int(op).ok_or(StoreError::UnknownOperation { id: op })?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT id, cloud, revision, kind, token, {} FROM operations WHERE id = $1",
                ts("started_at")
            ),
            &[&id],
        )?
        .ok_or(StoreError::UnknownOperation { id: op })?;
    let mut operation = Operation {
        id: uint(&row, 0, "operation id")?,
        cloud: row.try_get(1)?,
        revision: uint(&row, 2, "revision number")?,
        kind: row.try_get(3)?,
        token: uint(&row, 4, "lock token")?,
        started_at: row.try_get(5)?,
        steps: Vec::new(),
    };
    operation.steps = tx
        .query(
            &format!(
                "SELECT step_index, name, state, detail, {} FROM journal_steps
                 WHERE operation = $1 ORDER BY id",
                ts("at")
            ),
            &[&id],
        )?
        .iter()
        .map(|row| {
            Ok(JournalStep {
                step_index: super::uint32(row, 0, "journal step index")?,
                name: row.try_get(1)?,
                state: state_from(row, 2)?,
                detail: row.try_get(3)?,
                at: row.try_get(4)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(operation)
}
