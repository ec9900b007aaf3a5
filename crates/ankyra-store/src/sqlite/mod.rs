//! The embedded store: one SQLite file, readable by its owner only.
//!
//! The file is created owner-only before SQLite touches it, runs in WAL mode
//! with a busy timeout so several Ankyra processes can share it, and every
//! write is one `BEGIN IMMEDIATE` transaction, so two processes never both
//! read "latest is N" and then both write N + 1.

mod fleet;
mod journal;
mod locks;
mod migrations;
mod revisions;
mod schema;
mod secrets;
mod standby;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{
    CloudIndex, FleetMemberState, FleetOp, FleetOpState, LockInfo, Migration, NewFleetOp,
    NewRevision, Operation, Revision, RevisionSummary, Standby, StepState, Store, StoreError,
};

/// How long a call waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A store in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Connection,
    /// The fencing token each operation was begun or resumed with through
    /// this handle: what its journal writes carry.
    operation_tokens: HashMap<u64, u64>,
}

impl SqliteStore {
    /// The newest schema version this build reads and writes.
    pub const SCHEMA_VERSION: i64 = schema::SCHEMA_VERSION;

    /// Opens (or creates) the store at `path`.
    ///
    /// Missing parent directories are created with mode 0700 and a missing
    /// file with mode 0600, before SQLite opens it; an existing file readable
    /// by group or others is made owner-only. A file that is not an Ankyra
    /// store ([`StoreError::NotAStore`]) or was written by a newer Ankyra
    /// ([`StoreError::TooNew`]) is left byte-for-byte untouched. Otherwise
    /// pending schema migrations are applied in one transaction.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        create_owner_only(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
        Self::prepare(path, conn)
    }

    /// Opens a new store in memory, gone when dropped: for tests of the
    /// layers above.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::prepare(&path, conn)
    }

    fn prepare(path: &Path, mut conn: Connection) -> Result<SqliteStore, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        // Connection settings only: nothing here writes to the file.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_error)?;
        schema::prepare(&mut conn, path)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn,
            operation_tokens: HashMap::new(),
        })
    }

    /// The file this store lives in (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Begins a write transaction, taking SQLite's write lock at once so that
    /// what it reads cannot change before it writes.
    fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// Creates the parent directories (0700) and the file (0600) if missing, and
/// takes group and other permissions away from an existing file and from the
/// WAL files SQLite keeps beside it.
fn create_owner_only(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
    }
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            restrict_to_owner(path)?;
            for suffix in ["-wal", "-shm"] {
                let mut side = path.as_os_str().to_owned();
                side.push(suffix);
                let side = PathBuf::from(side);
                if side.exists() {
                    restrict_to_owner(&side)?;
                }
            }
            Ok(())
        }
        Err(source) => Err(StoreError::FileAccess {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn restrict_to_owner(path: &Path) -> Result<(), StoreError> {
    let file_error = |source| StoreError::FileAccess {
        path: path.to_path_buf(),
        source,
    };
    let mode = std::fs::metadata(path)
        .map_err(file_error)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        let owner_only = mode & 0o7700;
        std::fs::set_permissions(path, Permissions::from_mode(owner_only)).map_err(file_error)?;
        tracing::info!(path = %path.display(), from = format!("{:o}", mode & 0o7777), to = format!("{owner_only:o}"), "made the store file owner-only");
    }
    Ok(())
}

/// `n` as an SQLite integer; `None` if too big to have been stored.
fn sql_int(n: u64) -> Option<i64> {
    i64::try_from(n).ok()
}

/// Now, as the store writes times.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `at` as RFC 3339 UTC text.
fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .expect("a UTC time from the system clock has a four-digit year, so RFC 3339 can write it")
}

/// Reads a time the store wrote.
fn parse_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|source| StoreError::BadTime {
        value: text.to_owned(),
        source,
    })
}

impl Store for SqliteStore {
    fn put_revision(&mut self, new: NewRevision) -> Result<(Revision, bool), StoreError> {
        revisions::put(self.write()?, new, crate::rules::Expect::Any)
    }
    fn put_revision_if_latest(
        &mut self,
        new: NewRevision,
        expected_latest: Option<u64>,
    ) -> Result<(Revision, bool), StoreError> {
        revisions::put(
            self.write()?,
            new,
            crate::rules::Expect::Latest(expected_latest),
        )
    }
    fn latest(&self, cloud: &str) -> Result<Option<Revision>, StoreError> {
        revisions::latest(&self.conn, cloud)
    }
    fn revision(&self, cloud: &str, number: u64) -> Result<Revision, StoreError> {
        revisions::get(&self.conn, cloud, number)
    }
    fn history(&self, cloud: &str) -> Result<Vec<RevisionSummary>, StoreError> {
        revisions::history(&self.conn, cloud)
    }
    fn clouds(&self) -> Result<Vec<String>, StoreError> {
        revisions::clouds(&self.conn)
    }
    fn set_revision_status(
        &mut self,
        cloud: &str,
        number: u64,
        status: &str,
    ) -> Result<(), StoreError> {
        revisions::set_status(self.write()?, cloud, number, status)
    }

    fn secret(
        &mut self,
        cloud: &str,
        name: &str,
        generate: &mut dyn FnMut() -> String,
    ) -> Result<String, StoreError> {
        secrets::get_or_create(self.write()?, cloud, name, generate)
    }
    fn secrets(&self, cloud: &str) -> Result<Vec<String>, StoreError> {
        secrets::names(&self.conn, cloud)
    }

    fn acquire_lock(
        &mut self,
        cloud: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LockInfo, StoreError> {
        locks::acquire(self.write()?, cloud, owner, ttl)
    }
    fn heartbeat(&mut self, cloud: &str, token: u64) -> Result<(), StoreError> {
        locks::heartbeat(&self.conn, cloud, token)
    }
    fn release_lock(&mut self, cloud: &str, token: u64) -> Result<(), StoreError> {
        locks::release(&self.conn, cloud, token)
    }
    fn force_unlock(&mut self, cloud: &str) -> Result<Option<LockInfo>, StoreError> {
        locks::force_unlock(self.write()?, cloud)
    }
    fn lock_info(&self, cloud: &str) -> Result<Option<LockInfo>, StoreError> {
        locks::get(&self.conn, cloud)
    }

    fn journal_begin(
        &mut self,
        cloud: &str,
        revision: u64,
        kind: &str,
        token: u64,
    ) -> Result<u64, StoreError> {
        let op = journal::begin(self.write()?, cloud, revision, kind, token)?;
        self.operation_tokens.insert(op, token);
        Ok(op)
    }
    fn journal_resume(&mut self, op: u64, token: u64) -> Result<Operation, StoreError> {
        let operation = journal::resume(self.write()?, op, token)?;
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
        journal::step(self.write()?, op, token, step_index, name, state, detail)
    }
    fn journal_end(&mut self, op: u64, outcome: &str) -> Result<(), StoreError> {
        let token = self.operation_tokens.get(&op).copied();
        journal::end(self.write()?, op, token, outcome)?;
        self.operation_tokens.remove(&op);
        Ok(())
    }
    fn unfinished_operation(&self, cloud: &str) -> Result<Option<Operation>, StoreError> {
        journal::unfinished(&self.conn, cloud)
    }

    fn put_standby(&mut self, standby: &Standby) -> Result<(), StoreError> {
        standby::put(&self.conn, standby)
    }
    fn standbys(&self, cloud: &str) -> Result<Vec<Standby>, StoreError> {
        standby::list(&self.conn, cloud)
    }
    fn clear_standby(&mut self, cloud: &str, component: &str) -> Result<(), StoreError> {
        standby::clear(&self.conn, cloud, component)
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
        migrations::record(
            &self.conn,
            cloud,
            component,
            from_version,
            to_version,
            revision,
            snapshot,
        )
    }
    fn migrations(&self, cloud: &str) -> Result<Vec<Migration>, StoreError> {
        migrations::list(&self.conn, cloud)
    }
    fn snapshot(&self, migration: u64) -> Result<Vec<u8>, StoreError> {
        migrations::snapshot(&self.conn, migration)
    }
    fn finalize_migrations(&mut self, cloud: &str, component: &str) -> Result<u64, StoreError> {
        migrations::finalize(&self.conn, cloud, component)
    }

    fn fleet_index(&self) -> Result<Vec<CloudIndex>, StoreError> {
        fleet::index(&self.conn)
    }
    fn create_fleet_op(&mut self, op: NewFleetOp) -> Result<FleetOp, StoreError> {
        fleet::create(self.write()?, op)
    }
    fn fleet_op(&self, id: u64) -> Result<FleetOp, StoreError> {
        fleet::get(&self.conn, id)
    }
    fn fleet_ops(&self) -> Result<Vec<FleetOp>, StoreError> {
        fleet::list(&self.conn, false)
    }
    fn unfinished_fleet_ops(&self) -> Result<Vec<FleetOp>, StoreError> {
        fleet::list(&self.conn, true)
    }
    fn set_fleet_member(
        &mut self,
        id: u64,
        cloud: &str,
        state: FleetMemberState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        fleet::set_member(self.write()?, id, cloud, state, reason)
    }
    fn set_fleet_op_state(&mut self, id: u64, state: FleetOpState) -> Result<(), StoreError> {
        fleet::set_state(&self.conn, id, state)
    }
}
