//! The schema, its versions and the checks made before anything is written.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::BUSY_TIMEOUT;
use crate::StoreError;

/// SQLite's `application_id` header field for Ankyra stores: "ANKY".
pub(super) const APPLICATION_ID: i32 = 0x414e_4b59;

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only:
/// a released migration never changes.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// The schema version this build reads and writes.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = "
PRAGMA application_id = 1095650137;
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value NOT NULL
);
CREATE TABLE revisions (
    cloud TEXT NOT NULL,
    number INTEGER NOT NULL CHECK (number >= 1),
    record_json TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (cloud, number)
);
CREATE TRIGGER revisions_are_immutable BEFORE UPDATE ON revisions
BEGIN SELECT RAISE(ABORT, 'revisions are immutable'); END;
CREATE TRIGGER revisions_are_never_deleted BEFORE DELETE ON revisions
BEGIN SELECT RAISE(ABORT, 'revisions are never deleted'); END;
";

const V2: &str = "
ALTER TABLE revisions ADD COLUMN status TEXT;
DROP TRIGGER revisions_are_immutable;
CREATE TRIGGER revisions_are_immutable
BEFORE UPDATE OF cloud, number, record_json, content_hash, created_at, author, message
ON revisions
BEGIN SELECT RAISE(ABORT, 'revisions are immutable'); END;

CREATE TABLE secrets (
    cloud TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (cloud, name)
);

-- The last fencing token issued per cloud; kept after a release so tokens
-- never repeat.
CREATE TABLE lock_tokens (
    cloud TEXT PRIMARY KEY NOT NULL,
    last_token INTEGER NOT NULL CHECK (last_token >= 1)
);
CREATE TABLE locks (
    cloud TEXT PRIMARY KEY NOT NULL REFERENCES lock_tokens (cloud),
    owner TEXT NOT NULL,
    token INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

CREATE TABLE operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cloud TEXT NOT NULL,
    revision INTEGER NOT NULL,
    kind TEXT NOT NULL,
    token INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    FOREIGN KEY (cloud, revision) REFERENCES revisions (cloud, number),
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
CREATE UNIQUE INDEX one_unfinished_operation_per_cloud
    ON operations (cloud) WHERE ended_at IS NULL;
CREATE TABLE journal_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    operation INTEGER NOT NULL REFERENCES operations (id),
    step_index INTEGER NOT NULL CHECK (step_index >= 0),
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX journal_steps_by_operation ON journal_steps (operation, step_index);
";

const V3: &str = "
-- Old instances of a component kept out of rotation after an upgrade, until
-- the bake window ends: at most one set per component. `containers` is a
-- JSON array of container names, kept in order.
CREATE TABLE standbys (
    cloud TEXT NOT NULL,
    component TEXT NOT NULL,
    containers TEXT NOT NULL,
    version TEXT NOT NULL,
    from_revision INTEGER NOT NULL,
    to_revision INTEGER NOT NULL,
    until_unix INTEGER NOT NULL,
    PRIMARY KEY (cloud, component)
);

-- Schema upgrades of components' databases, with the snapshot taken before
-- each. The snapshot is the last column, so reading the others never walks
-- its overflow pages; listings read only its length.
CREATE TABLE migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cloud TEXT NOT NULL,
    component TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    finalized_at TEXT,
    snapshot BLOB NOT NULL
);
CREATE INDEX migrations_by_component ON migrations (cloud, component, finalized_at);
";

const V4: &str = "
-- What the fleet index reads of each revision, beside the record so it
-- never parses records: its labels and component versions, JSON objects of
-- strings. NULL in revisions stored before version 4.
ALTER TABLE revisions ADD COLUMN labels_json TEXT;
ALTER TABLE revisions ADD COLUMN versions_json TEXT;
DROP TRIGGER revisions_are_immutable;
CREATE TRIGGER revisions_are_immutable
BEFORE UPDATE OF cloud, number, record_json, content_hash, created_at, author, message,
    labels_json, versions_json
ON revisions
BEGIN SELECT RAISE(ABORT, 'revisions are immutable'); END;
-- Covers every column the fleet index reads, so its queries read this index
-- and never the table rows, whose record_json may span overflow pages.
CREATE INDEX revisions_for_the_fleet_index
    ON revisions (cloud, number, status, labels_json, versions_json);

-- One change rolled out over many clouds in waves.
CREATE TABLE fleet_ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    selector TEXT NOT NULL,
    change TEXT NOT NULL,
    waves TEXT NOT NULL,
    max_parallel INTEGER NOT NULL CHECK (max_parallel >= 0),
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('running', 'halted', 'done', 'rolling-back', 'rolled-back'))
);
CREATE TABLE fleet_members (
    op INTEGER NOT NULL REFERENCES fleet_ops (id),
    cloud TEXT NOT NULL,
    wave INTEGER NOT NULL CHECK (wave >= 0),
    from_revision INTEGER NOT NULL,
    from_version TEXT NOT NULL,
    to_revision INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'in-progress', 'done', 'failed', 'rolling-back', 'rolled-back')),
    reason TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (op, cloud),
    FOREIGN KEY (cloud, to_revision) REFERENCES revisions (cloud, number)
);
";

/// What a file holds, as far as the store is concerned.
enum Contents {
    /// Nothing yet: a new store.
    Empty,
    /// An Ankyra store at this schema version.
    Store(i64),
    /// Something else.
    Foreign,
}

/// Checks the file is a store this build can use, then brings its schema up
/// to date. Nothing is written before the checks pass.
pub(super) fn prepare(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    // One read transaction, so the checks see one snapshot even while
    // another process creates the same store.
    let snapshot = conn.unchecked_transaction().map_err(open_error)?;
    let version = usable_version(&snapshot, path)?;
    snapshot.finish().map_err(open_error)?;
    // Changing the journal mode writes the file header, so only now.
    use_wal(conn).map_err(open_error)?;
    if version < SCHEMA_VERSION {
        migrate(conn, path)?;
    }
    Ok(())
}

/// Switches the file to WAL mode unless it is already (or in memory).
///
/// The switch needs the file to itself and, unlike other statements, fails
/// with `SQLITE_BUSY` at once instead of waiting when several processes
/// create one store together; so it is retried, with backoff, until
/// [`BUSY_TIMEOUT`] has passed.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if mode.eq_ignore_ascii_case("wal") || mode.eq_ignore_ascii_case("memory") {
            return Ok(());
        }
        match conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get::<_, String>(0))
        {
            Ok(_) => return Ok(()),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                if Instant::now() >= deadline {
                    return Err(e);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies the pending migrations in one transaction, checking the version
/// again inside it: another process may have migrated meanwhile.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_error)?;
    let from = usable_version(&tx, path)?;
    let pending = usize::try_from(from).expect("usable_version is between 0 and SCHEMA_VERSION");
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(pending) {
        tx.execute_batch(sql).map_err(open_error)?;
        tracing::info!(path = %path.display(), version = done + 1, "migrated the store schema");
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [SCHEMA_VERSION],
    )
    .map_err(open_error)?;
    tx.commit().map_err(open_error)
}

/// The file's schema version (0 for an empty file), or why it cannot be used.
fn usable_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let contents = match inspect(conn) {
        Ok(contents) => contents,
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            ) =>
        {
            Contents::Foreign
        }
        Err(source) => {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    match contents {
        Contents::Empty => Ok(0),
        Contents::Store(found) if (1..=SCHEMA_VERSION).contains(&found) => Ok(found),
        Contents::Store(found) if found > SCHEMA_VERSION => Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        }),
        Contents::Store(_) | Contents::Foreign => Err(StoreError::NotAStore {
            path: path.to_path_buf(),
        }),
    }
}

/// Reads, never writes, what the file holds.
fn inspect(conn: &Connection) -> rusqlite::Result<Contents> {
    let application_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let objects: i64 = conn.query_row(
        r"SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'",
        [],
        |row| row.get(0),
    )?;
    if application_id != APPLICATION_ID {
        return Ok(if application_id == 0 && objects == 0 {
            Contents::Empty
        } else {
            Contents::Foreign
        });
    }
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        return Ok(Contents::Foreign);
    }
    let version: Option<rusqlite::types::Value> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match version {
        Some(rusqlite::types::Value::Integer(version)) => Contents::Store(version),
        _ => Contents::Foreign,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_migration_sets_the_application_id() {
        assert!(V1.contains(&format!("application_id = {APPLICATION_ID};")));
        assert_eq!(&APPLICATION_ID.to_be_bytes(), b"ANKY");
    }
}
