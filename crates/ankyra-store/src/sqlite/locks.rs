//! Locks: one holder per cloud, with fencing tokens and heartbeats.

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{format_time, now, parse_time, sql_int};
use crate::{LockInfo, StoreError};

pub(super) fn get(conn: &Connection, cloud: &str) -> Result<Option<LockInfo>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT cloud, owner, token, acquired_at, heartbeat_at FROM locks WHERE cloud = ?1",
            [cloud],
            |row| {
                Ok(LockInfo {
                    cloud: row.get(0)?,
                    owner: row.get(1)?,
                    token: row.get(2)?,
                    acquired_at: row.get(3)?,
                    heartbeat_at: row.get(4)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn acquire(
    tx: Transaction<'_>,
    cloud: &str,
    owner: &str,
    ttl: Duration,
) -> Result<LockInfo, StoreError> {
    let at = now();
    let previous = get(&tx, cloud)?;
    if let Some(held) = &previous {
        let heartbeat = parse_time(&held.heartbeat_at)?;
        // A heartbeat in the future (clock skew) counts as fresh.
        let fresh = heartbeat > at || (at - heartbeat).unsigned_abs() < ttl;
        if held.owner != owner && fresh {
            return Err(StoreError::Locked {
                cloud: cloud.to_owned(),
                owner: held.owner.clone(),
                since: held.acquired_at.clone(),
            });
        }
    }
    let token: u64 = tx.query_row(
        "INSERT INTO lock_tokens (cloud, last_token) VALUES (?1, 1)
         ON CONFLICT (cloud) DO UPDATE SET last_token = last_token + 1
         RETURNING last_token",
        [cloud],
        |row| row.get(0),
    )?;
    let at = format_time(at);
    tx.execute(
        "INSERT OR REPLACE INTO locks (cloud, owner, token, acquired_at, heartbeat_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![cloud, owner, token, at],
    )?;
    tx.commit()?;
    match previous {
        Some(held) => tracing::info!(
            cloud, owner, token, previous_owner = %held.owner, previous_token = held.token,
            "took over a lock"
        ),
        None => tracing::debug!(cloud, owner, token, "acquired a lock"),
    }
    Ok(LockInfo {
        cloud: cloud.to_owned(),
        owner: owner.to_owned(),
        token,
        acquired_at: at.clone(),
        heartbeat_at: at,
    })
}

/// One statement, so atomic without a transaction.
pub(super) fn heartbeat(conn: &Connection, cloud: &str, token: u64) -> Result<(), StoreError> {
    let changed = match sql_int(token) {
        Some(token) => conn.execute(
            "UPDATE locks SET heartbeat_at = ?3 WHERE cloud = ?1 AND token = ?2",
            params![cloud, token, format_time(now())],
        )?,
        None => 0,
    };
    held_if_changed(changed, cloud, token)
}

/// One statement, so atomic without a transaction.
pub(super) fn release(conn: &Connection, cloud: &str, token: u64) -> Result<(), StoreError> {
    let changed = match sql_int(token) {
        Some(token) => conn.execute(
            "DELETE FROM locks WHERE cloud = ?1 AND token = ?2",
            params![cloud, token],
        )?,
        None => 0,
    };
    held_if_changed(changed, cloud, token)?;
    tracing::debug!(cloud, token, "released a lock");
    Ok(())
}

fn held_if_changed(changed: usize, cloud: &str, token: u64) -> Result<(), StoreError> {
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
    tx: Transaction<'_>,
    cloud: &str,
) -> Result<Option<LockInfo>, StoreError> {
    let removed = get(&tx, cloud)?;
    if let Some(lock) = &removed {
        tx.execute("DELETE FROM locks WHERE cloud = ?1", [cloud])?;
        tx.commit()?;
        tracing::info!(cloud, owner = %lock.owner, token = lock.token, "forced a lock open");
    }
    Ok(removed)
}

/// Refuses a write that carries `token` unless it is the current holder's.
/// An expired lock that nobody has taken over still fences for its holder.
pub(super) fn check_fence(conn: &Connection, cloud: &str, token: u64) -> Result<(), StoreError> {
    let holder: Option<u64> = conn
        .query_row("SELECT token FROM locks WHERE cloud = ?1", [cloud], |row| {
            row.get(0)
        })
        .optional()?;
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
