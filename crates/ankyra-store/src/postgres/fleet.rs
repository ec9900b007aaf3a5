//! The fleet index and fleet operations.

use std::collections::HashMap;

use crate::fleet::UNFINISHED;

use postgres::{Client, GenericClient, IsolationLevel, Row};

use super::records::{revision_columns, revision_from};
use super::{int, int_to_store, opt_uint, ts, uint, uint32};
use crate::rules::{
    attach_components, check_fleet_members, decide_put, map_json, parse_map, Expect, PutDecision,
};
use crate::{
    CloudIndex, FleetMember, FleetMemberState, FleetOp, FleetOpState, NewFleetOp, NewRevision,
    Revision, StoreError,
};

/// Three queries for the whole fleet, in one repeatable-read transaction so
/// they agree. The revision query reads only columns of the index
/// `revisions_for_the_fleet_index`, never `record_json`.
pub(super) fn index(client: &mut Client) -> Result<Vec<CloudIndex>, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let rows = tx.query(
        "SELECT l.cloud, l.number, l.status, l.labels_json, l.versions_json,
                a.number, a.versions_json
         FROM (SELECT DISTINCT ON (cloud) cloud, number, status, labels_json, versions_json
               FROM revisions ORDER BY cloud, number DESC) l
         LEFT JOIN (SELECT DISTINCT ON (cloud) cloud, number, versions_json
                    FROM revisions WHERE status = 'applied'
                    ORDER BY cloud, number DESC) a ON a.cloud = l.cloud
         ORDER BY l.cloud",
        &[],
    )?;
    let mut index = rows
        .iter()
        .map(|row| {
            let labels: Option<String> = row.try_get(3)?;
            let versions: Option<String> = row.try_get(4)?;
            let applied_versions: Option<String> = row.try_get(6)?;
            Ok(CloudIndex {
                cloud: row.try_get(0)?,
                latest: uint(row, 1, "revision number")?,
                latest_status: row.try_get(2)?,
                labels: parse_map(labels.as_deref(), "revision labels")?,
                versions: parse_map(versions.as_deref(), "revision versions")?,
                applied: opt_uint(row, 5, "revision number")?,
                applied_versions: parse_map(applied_versions.as_deref(), "revision versions")?,
                standby_components: Vec::new(),
                unfinalized_components: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let standbys = pairs(&mut tx, "SELECT cloud, component FROM standbys")?;
    let unfinalized = pairs(
        &mut tx,
        "SELECT DISTINCT cloud, component FROM migrations WHERE finalized_at IS NULL",
    )?;
    tx.commit()?;
    attach_components(&mut index, standbys, unfinalized);
    Ok(index)
}

fn pairs(tx: &mut impl GenericClient, sql: &str) -> Result<Vec<(String, String)>, StoreError> {
    tx.query(sql, &[])?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Locks every member's write key, in name order (so two operations over
/// overlapping clouds never deadlock), then stores each member's revision,
/// the operation and its members in one transaction, with a constant number
/// of statements whatever the number of members.
pub(super) fn create(client: &mut Client, mut op: NewFleetOp) -> Result<FleetOp, StoreError> {
    check_fleet_members(&op)?;
    let mut clouds: Vec<&str> = op.members.iter().map(|m| m.cloud.as_str()).collect();
    clouds.sort_unstable();
    let mut tx = client.transaction()?;
    tx.execute(
        "INSERT INTO write_keys (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING",
        &[&clouds],
    )?;
    tx.query(
        "SELECT name FROM write_keys WHERE name = ANY($1) ORDER BY name FOR UPDATE",
        &[&clouds],
    )?;
    let row = tx.query_one(
        &format!(
            "INSERT INTO fleet_ops
                 (kind, selector, change, waves, max_parallel, author, message, created_at, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8)
             RETURNING id, {}",
            ts("created_at")
        ),
        &[
            &op.kind,
            &op.selector,
            &op.change,
            &op.waves,
            &i64::from(op.max_parallel),
            &op.author,
            &op.message,
            &FleetOpState::Running.as_str(),
        ],
    )?;
    let id = uint(&row, 0, "fleet operation id")?;
    let created_at: String = row.try_get(1)?;
    // Every member's latest revision in one query, not one per member.
    let mut latest: HashMap<String, Revision> = HashMap::with_capacity(clouds.len());
    for row in tx.query(
        &format!(
            "SELECT DISTINCT ON (cloud) {} FROM revisions WHERE cloud = ANY($1)
             ORDER BY cloud, number DESC",
            revision_columns()
        ),
        &[&clouds],
    )? {
        let revision = revision_from(&row)?;
        latest.insert(revision.cloud.clone(), revision);
    }
    let mut members = Vec::with_capacity(op.members.len());
    let mut new = NewRows::default();
    for member in std::mem::take(&mut op.members) {
        let expect = Expect::Latest(Some(member.from_revision));
        let found = latest.remove(&member.cloud);
        let number = match decide_put(found, &member.revision, expect)? {
            PutDecision::Unchanged(revision) => {
                return Err(StoreError::FleetMemberUnchanged {
                    cloud: member.cloud,
                    revision: revision.number,
                });
            }
            PutDecision::Insert(number) => number,
        };
        new.push(&member.revision, number, member.wave, member.from_revision)?;
        members.push(FleetMember {
            cloud: member.cloud,
            wave: member.wave,
            from_revision: member.from_revision,
            from_version: member.from_version,
            to_revision: number,
            state: FleetMemberState::Pending,
            reason: None,
            updated_at: created_at.clone(),
        });
    }
    // Two statements for all members; now() is the transaction's start, the
    // same as the operation's created_at.
    tx.execute(
        "INSERT INTO revisions (cloud, number, record_json, content_hash, created_at,
             author, message, labels_json, versions_json)
         SELECT c, n, r, h, now(), a, m, l, v
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[]) AS t (c, n, r, h, a, m, l, v)",
        &[
            &new.clouds,
            &new.numbers,
            &new.records,
            &new.hashes,
            &new.authors,
            &new.messages,
            &new.labels,
            &new.versions,
        ],
    )?;
    let from_versions: Vec<&str> = members.iter().map(|m| m.from_version.as_str()).collect();
    tx.execute(
        "INSERT INTO fleet_members (op, cloud, wave, from_revision, from_version,
             to_revision, state, reason, updated_at)
         SELECT $1, c, w, f, fv, n, $2, NULL, now()
         FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[])
             AS t (c, w, f, fv, n)",
        &[
            &int_to_store(id, "fleet operation id")?,
            &FleetMemberState::Pending.as_str(),
            &new.clouds,
            &new.waves,
            &new.from_revisions,
            &from_versions,
            &new.numbers,
        ],
    )?;
    tx.commit()?;
    Ok(op.into_stored(id, created_at, members))
}

/// The new revisions of a fleet operation, column by column, as
/// PostgreSQL's `unnest` inserts them in one statement.
#[derive(Default)]
struct NewRows {
    clouds: Vec<String>,
    numbers: Vec<i64>,
    records: Vec<String>,
    hashes: Vec<String>,
    authors: Vec<String>,
    messages: Vec<String>,
    labels: Vec<String>,
    versions: Vec<String>,
    waves: Vec<i64>,
    from_revisions: Vec<i64>,
}

impl NewRows {
    fn push(
        &mut self,
        revision: &NewRevision,
        number: u64,
        wave: u32,
        from_revision: u64,
    ) -> Result<(), StoreError> {
        self.clouds.push(revision.cloud.clone());
        self.numbers.push(int_to_store(number, "revision number")?);
        self.records.push(revision.record_json.clone());
        self.hashes.push(revision.content_hash.clone());
        self.authors.push(revision.author.clone());
        self.messages.push(revision.message.clone());
        self.labels.push(map_json(&revision.labels));
        self.versions.push(map_json(&revision.versions));
        self.waves.push(i64::from(wave));
        self.from_revisions
            .push(int_to_store(from_revision, "revision number")?);
        Ok(())
    }
}

fn op_sql(filter: &str) -> String {
    format!(
        "SELECT id, kind, selector, change, waves, max_parallel, author, message, {}, state
         FROM fleet_ops {filter}",
        ts("created_at")
    )
}

fn op_from(row: &Row) -> Result<FleetOp, StoreError> {
    let state: String = row.try_get(9)?;
    Ok(FleetOp {
        id: uint(row, 0, "fleet operation id")?,
        kind: row.try_get(1)?,
        selector: row.try_get(2)?,
        change: row.try_get(3)?,
        waves: row.try_get(4)?,
        max_parallel: uint32(row, 5, "fleet max_parallel")?,
        author: row.try_get(6)?,
        message: row.try_get(7)?,
        created_at: row.try_get(8)?,
        state: FleetOpState::from_name(&state).ok_or(StoreError::BadStoredValue {
            what: "fleet operation state",
            value: state,
        })?,
        members: Vec::new(),
    })
}

fn member_sql(filter: &str) -> String {
    format!(
        "SELECT op, cloud, wave, from_revision, from_version, to_revision, state, reason, {}
         FROM fleet_members {filter} ORDER BY op, wave, cloud",
        ts("updated_at")
    )
}

fn member_from(row: &Row) -> Result<(u64, FleetMember), StoreError> {
    let state: String = row.try_get(6)?;
    Ok((
        uint(row, 0, "fleet operation id")?,
        FleetMember {
            cloud: row.try_get(1)?,
            wave: uint32(row, 2, "fleet wave")?,
            from_revision: uint(row, 3, "revision number")?,
            from_version: row.try_get(4)?,
            to_revision: uint(row, 5, "revision number")?,
            state: FleetMemberState::from_name(&state).ok_or(StoreError::BadStoredValue {
                what: "fleet member state",
                value: state,
            })?,
            reason: row.try_get(7)?,
            updated_at: row.try_get(8)?,
        },
    ))
}

fn read_only(client: &mut Client) -> Result<postgres::Transaction<'_>, StoreError> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?)
}

pub(super) fn get(client: &mut Client, id: u64) -> Result<FleetOp, StoreError> {
    let unknown = StoreError::UnknownFleetOp { id };
    let Some(key) = int(id) else {
        return Err(unknown);
    };
    let mut tx = read_only(client)?;
    let mut op = match tx.query_opt(&op_sql("WHERE id = $1"), &[&key])? {
        Some(row) => op_from(&row)?,
        None => return Err(unknown),
    };
    op.members = tx
        .query(&member_sql("WHERE op = $1"), &[&key])?
        .iter()
        .map(|row| member_from(row).map(|(_, member)| member))
        .collect::<Result<_, StoreError>>()?;
    tx.commit()?;
    Ok(op)
}

/// Two queries for all operations (or only the unfinished ones), not one
/// per operation.
pub(super) fn list(client: &mut Client, unfinished: bool) -> Result<Vec<FleetOp>, StoreError> {
    let (which, members) = if unfinished {
        (
            format!("{UNFINISHED} ORDER BY id DESC"),
            format!("WHERE op IN (SELECT id FROM fleet_ops {UNFINISHED})"),
        )
    } else {
        ("ORDER BY id DESC".to_string(), String::new())
    };
    let mut tx = read_only(client)?;
    let mut ops = tx
        .query(&op_sql(&which), &[])?
        .iter()
        .map(op_from)
        .collect::<Result<Vec<_>, StoreError>>()?;
    let position: HashMap<u64, usize> = ops.iter().enumerate().map(|(i, op)| (op.id, i)).collect();
    for row in tx.query(&member_sql(&members), &[])? {
        let (op, member) = member_from(&row)?;
        if let Some(&i) = position.get(&op) {
            ops[i].members.push(member);
        }
    }
    tx.commit()?;
    Ok(ops)
}

pub(super) fn set_member(
    client: &mut Client,
    id: u64,
    cloud: &str,
    state: FleetMemberState,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let unknown = StoreError::UnknownFleetOp { id };
    let Some(key) = int(id) else {
        return Err(unknown);
    };
    let mut tx = client.transaction()?;
    if tx
        .query_opt("SELECT 1 FROM fleet_ops WHERE id = $1", &[&key])?
        .is_none()
    {
        return Err(unknown);
    }
    let changed = tx.execute(
        "UPDATE fleet_members SET state = $3, reason = $4, updated_at = now()
         WHERE op = $1 AND cloud = $2",
        &[&key, &cloud, &state.as_str(), &reason],
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
pub(super) fn set_state(
    client: &mut Client,
    id: u64,
    state: FleetOpState,
) -> Result<(), StoreError> {
    let changed = match int(id) {
        Some(key) => client.execute(
            "UPDATE fleet_ops SET state = $2 WHERE id = $1",
            &[&key, &state.as_str()],
        )?,
        None => 0,
    };
    if changed == 0 {
        return Err(StoreError::UnknownFleetOp { id });
    }
    tracing::info!(fleet_op = id, state = %state, "fleet operation changed state");
    Ok(())
}
