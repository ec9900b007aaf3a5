//! The shared store: one PostgreSQL database for a fleet, used by many
//! Ankyra processes on many machines.
//!
//! The `postgres` crate is synchronous on the outside but runs a Tokio
//! runtime inside, and panics when called from a thread that already runs
//! one, which is where Ankyra calls the store from. So a [`PgStore`] owns a
//! thread of its own that owns the connection: each call is sent there as a
//! closure and the caller waits for the answer, blocking just as a SQLite
//! call does.
//!
//! Concurrency: a call that reads, then writes a cloud's data first locks
//! that cloud's row of `write_keys` (see the schema), so those calls run one
//! at a time per cloud across all processes, as SQLite's single writer makes
//! them. Times come from the database's clock (`now()`), so locks expire the
//! same for every machine whatever their clocks say.

mod fleet;
mod journal;
mod records;
mod schema;

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use postgres::{Client, GenericClient, NoTls, Row};

use crate::rules::Expect;
use crate::{
    describe_location, CloudIndex, FleetMemberState, FleetOp, FleetOpState, LockInfo, Migration,
    NewFleetOp, NewRevision, Operation, Revision, RevisionSummary, Standby, StepState, Store,
    StoreError,
};

/// How long connecting may take before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A call, run on the connection's thread.
type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// A store in a PostgreSQL database.
pub struct PgStore {
    /// The URL without its password, for errors and logs.
    location: String,
    /// Where calls go; `None` only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    /// The thread that owns the connection.
    worker: Option<JoinHandle<()>>,
    /// The fencing token each operation was begun or resumed with through
    /// this handle: what its journal writes carry.
    operation_tokens: HashMap<u64, u64>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// The newest schema version this build reads and writes (PostgreSQL
    /// schemas are numbered apart from SQLite's).
    pub const SCHEMA_VERSION: i64 = schema::SCHEMA_VERSION;

    /// Connects to the database at `url` (`postgres://user:password@host:port/db`,
    /// or any form the `postgres` crate reads) and makes it ready.
    ///
    /// A database without tables becomes a store; one with tables but no
    /// Ankyra store ([`StoreError::NotAStoreDatabase`]) or written by a
    /// newer Ankyra ([`StoreError::DatabaseTooNew`]) is left unchanged.
    /// Otherwise pending schema migrations are applied in one transaction.
    /// Errors and logs show the URL without its password.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let location = describe_location(url);
        let mut config: postgres::Config = url.parse().map_err(|source| StoreError::Connect {
            location: location.clone(),
            source,
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("ankyra");
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::sync_channel::<Result<(), StoreError>>(1);
        let worker_location = location.clone();
        let worker = thread::Builder::new()
            .name("ankyra-store-postgres".to_owned())
            .spawn(move || {
                let mut client = match config.connect(NoTls) {
                    Ok(client) => client,
                    Err(source) => {
                        let _ = ready.send(Err(StoreError::Connect {
                            location: worker_location,
                            source,
                        }));
                        return;
                    }
                };
                let prepared = schema::prepare(&mut client, &worker_location);
                let failed = prepared.is_err();
                // The caller waits for this answer, so it cannot be gone.
                let _ = ready.send(prepared);
                if failed {
                    return;
                }
                // Ends when the store is dropped (its sender with it).
                for job in queue {
                    job(&mut client);
                }
            })
            .map_err(|source| StoreError::SpawnWorker {
                location: location.clone(),
                source,
            })?;
        let outcome = started.recv().unwrap_or_else(|_| {
            Err(StoreError::WorkerGone {
                location: location.clone(),
            })
        });
        if let Err(error) = outcome {
            let _ = worker.join();
            return Err(error);
        }
        tracing::debug!(location = %location, "connected to the PostgreSQL store");
        Ok(PgStore {
            location,
            jobs: Some(jobs),
            worker: Some(worker),
            operation_tokens: HashMap::new(),
        })
    }

    /// The URL of the database, without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `call` on the connection's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let gone = || StoreError::WorkerGone {
            location: self.location.clone(),
        };
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |client| {
            // The caller waits for this answer, so it cannot be gone.
            let _ = answer.send(call(client));
        });
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())?
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing the queue ends the thread, which closes the connection.
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            if worker.join().is_err() {
                tracing::warn!(location = %self.location, "the PostgreSQL store's thread had panicked");
            }
        }
    }
}

/// An RFC 3339 UTC text of the `timestamptz` expression `column`, as every
/// time the store returns is written.
fn ts(column: &str) -> String {
    format!(r#"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#)
}

/// `n` as a PostgreSQL `bigint`; `None` if too big to have been stored.
fn int(n: u64) -> Option<i64> {
    i64::try_from(n).ok()
}

/// `n` as a `bigint` to store; an error names `what` if it cannot be.
fn int_to_store(n: u64, what: &'static str) -> Result<i64, StoreError> {
    int(n).ok_or(StoreError::BadStoredValue {
        what,
        value: n.to_string(),
    })
}

/// Column `index` of `row`, a `bigint` the schema keeps non-negative.
fn uint(row: &Row, index: usize, what: &'static str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get(index)?;
    u64::try_from(value).map_err(|_| StoreError::BadStoredValue {
        what,
        value: value.to_string(),
    })
}

/// Column `index` of `row`, a nullable `bigint` the schema keeps
/// non-negative.
fn opt_uint(row: &Row, index: usize, what: &'static str) -> Result<Option<u64>, StoreError> {
    let value: Option<i64> = row.try_get(index)?;
    value
        .map(|v| {
            u64::try_from(v).map_err(|_| StoreError::BadStoredValue {
                what,
                value: v.to_string(),
            })
        })
        .transpose()
}

/// Column `index` of `row`, a `bigint` holding a `u32`.
fn uint32(row: &Row, index: usize, what: &'static str) -> Result<u32, StoreError> {
    let value: i64 = row.try_get(index)?;
    u32::try_from(value).map_err(|_| StoreError::BadStoredValue {
        what,
        value: value.to_string(),
    })
}

/// Locks `name`'s row of `write_keys` until the transaction ends, creating
/// it if needed: calls that read, then write one cloud's data run one at a
/// time.
fn lock_key(tx: &mut impl GenericClient, name: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO write_keys (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        &[&name],
    )?;
    tx.query_one(
        "SELECT name FROM write_keys WHERE name = $1 FOR UPDATE",
        &[&name],
    )?;
    Ok(())
}

impl Store for PgStore {
    fn put_revision(&mut self, new: NewRevision) -> Result<(Revision, bool), StoreError> {
        self.call(move |c| records::put(c, new, Expect::Any))
    }
    fn put_revision_if_latest(
        &mut self,
        new: NewRevision,
        expected_latest: Option<u64>,
    ) -> Result<(Revision, bool), StoreError> {
        self.call(move |c| records::put(c, new, Expect::Latest(expected_latest)))
    }
    fn latest(&self, cloud: &str) -> Result<Option<Revision>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| records::latest(c, &cloud))
    }
    fn revision(&self, cloud: &str, number: u64) -> Result<Revision, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| records::get(c, &cloud, number))
    }
    fn history(&self, cloud: &str) -> Result<Vec<RevisionSummary>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| records::history(c, &cloud))
    }
    fn clouds(&self) -> Result<Vec<String>, StoreError> {
        self.call(records::clouds)
    }
    fn set_revision_status(
        &mut self,
        cloud: &str,
        number: u64,
        status: &str,
    ) -> Result<(), StoreError> {
        let (cloud, status) = (cloud.to_owned(), status.to_owned());
        self.call(move |c| records::set_status(c, &cloud, number, &status))
    }

    /// As the trait says, except that `generate` runs here, on the caller's
    /// thread, when the secret was missing a moment before; if another
    /// process stored one meanwhile, that one is returned and the generated
    /// value dropped, so all callers still get the one stored value.
    fn secret(
        &mut self,
        cloud: &str,
        name: &str,
        generate: &mut dyn FnMut() -> String,
    ) -> Result<String, StoreError> {
        let (cloud, name) = (cloud.to_owned(), name.to_owned());
        let key = (cloud.clone(), name.clone());
        if let Some(value) = self.call(move |c| records::stored_secret(c, &key.0, &key.1))? {
            return Ok(value);
        }
        let value = generate();
        self.call(move |c| records::store_secret(c, &cloud, &name, &value))
    }
    fn secrets(&self, cloud: &str) -> Result<Vec<String>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| records::secret_names(c, &cloud))
    }

    fn acquire_lock(
        &mut self,
        cloud: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LockInfo, StoreError> {
        let (cloud, owner) = (cloud.to_owned(), owner.to_owned());
        self.call(move |c| journal::acquire_lock(c, &cloud, &owner, ttl))
    }
    fn heartbeat(&mut self, cloud: &str, token: u64) -> Result<(), StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| journal::heartbeat(c, &cloud, token))
    }
    fn release_lock(&mut self, cloud: &str, token: u64) -> Result<(), StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| journal::release_lock(c, &cloud, token))
    }
    fn force_unlock(&mut self, cloud: &str) -> Result<Option<LockInfo>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| journal::force_unlock(c, &cloud))
    }
    fn lock_info(&self, cloud: &str) -> Result<Option<LockInfo>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| journal::lock_info(c, &cloud))
    }

    fn journal_begin(
        &mut self,
        cloud: &str,
        revision: u64,
        kind: &str,
        token: u64,
    ) -> Result<u64, StoreError> {
        let (cloud, kind) = (cloud.to_owned(), kind.to_owned());
        let op = self.call(move |c| journal::begin(c, &cloud, revision, &kind, token))?;
        self.operation_tokens.insert(op, token);
        Ok(op)
    }
    fn journal_resume(&mut self, op: u64, token: u64) -> Result<Operation, StoreError> {
        let operation = self.call(move |c| journal::resume(c, op, token))?;
        self.operation_tokens.insert(op, token);
        Ok(operation)
    }
    fn journal_step(
        &mut self,
        op: u64,
        step_index: u32,
        name: &str,
        state: StepState,
        detail: &str,
    ) -> Result<(), StoreError> {
        let token = self.operation_tokens.get(&op).copied();
        let (name, detail) = (name.to_owned(), detail.to_owned());
        self.call(move |c| journal::step(c, op, token, step_index, &name, state, &detail))
    }
    fn journal_end(&mut self, op: u64, outcome: &str) -> Result<(), StoreError> {
        let token = self.operation_tokens.get(&op).copied();
        let outcome = outcome.to_owned();
        self.call(move |c| journal::end(c, op, token, &outcome))?;
        self.operation_tokens.remove(&op);
        Ok(())
    }
    fn unfinished_operation(&self, cloud: &str) -> Result<Option<Operation>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| journal::unfinished(c, &cloud))
    }

    fn put_standby(&mut self, standby: &Standby) -> Result<(), StoreError> {
        let standby = standby.clone();
        self.call(move |c| records::put_standby(c, &standby))
    }
    fn standbys(&self, cloud: &str) -> Result<Vec<Standby>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| records::standbys(c, &cloud))
    }
    fn clear_standby(&mut self, cloud: &str, component: &str) -> Result<(), StoreError> {
        let (cloud, component) = (cloud.to_owned(), component.to_owned());
        self.call(move |c| records::clear_standby(c, &cloud, &component))
    }

    fn record_migration(
        &mut self,
        cloud: &str,
        component: &str,
        from_version: &str,
        to_version: &str,
        revision: u64,
        snapshot: &[u8],
    ) -> Result<Migration, StoreError> {
        let migration = records::NewMigration {
            cloud: cloud.to_owned(),
            component: component.to_owned(),
            from_version: from_version.to_owned(),
            to_version: to_version.to_owned(),
            revision,
            snapshot: snapshot.to_vec(),
        };
        self.call(move |c| records::record_migration(c, migration))
    }
    fn migrations(&self, cloud: &str) -> Result<Vec<Migration>, StoreError> {
        let cloud = cloud.to_owned();
        self.call(move |c| records::migrations(c, &cloud))
    }
    fn snapshot(&self, migration: u64) -> Result<Vec<u8>, StoreError> {
        self.call(move |c| records::snapshot(c, migration))
    }
    fn finalize_migrations(&mut self, cloud: &str, component: &str) -> Result<u64, StoreError> {
        let (cloud, component) = (cloud.to_owned(), component.to_owned());
        self.call(move |c| records::finalize_migrations(c, &cloud, &component))
    }

    fn fleet_index(&self) -> Result<Vec<CloudIndex>, StoreError> {
        self.call(fleet::index)
    }
    fn create_fleet_op(&mut self, op: NewFleetOp) -> Result<FleetOp, StoreError> {
        self.call(move |c| fleet::create(c, op))
    }
    fn fleet_op(&self, id: u64) -> Result<FleetOp, StoreError> {
        self.call(move |c| fleet::get(c, id))
    }
    fn fleet_ops(&self) -> Result<Vec<FleetOp>, StoreError> {
        self.call(|c| fleet::list(c, false))
    }
    fn unfinished_fleet_ops(&self) -> Result<Vec<FleetOp>, StoreError> {
        self.call(|c| fleet::list(c, true))
    }
    fn set_fleet_member(
        &mut self,
        id: u64,
        cloud: &str,
        state: FleetMemberState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let cloud = cloud.to_owned();
        let reason = reason.map(str::to_owned);
        self.call(move |c| fleet::set_member(c, id, &cloud, state, reason.as_deref()))
    }
    fn set_fleet_op_state(&mut self, id: u64, state: FleetOpState) -> Result<(), StoreError> {
        self.call(move |c| fleet::set_state(c, id, state))
    }
}
