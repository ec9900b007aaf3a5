//! The PostgreSQL schema, its versions and the checks made before anything
//! is written. Versioned independently of the SQLite schema: version 1 here
//! holds everything SQLite's version 4 does.

use postgres::Client;

use crate::StoreError;

/// Key of the advisory lock held while the schema is checked and migrated,
/// so two Ankyras starting at once on a new database do not both create it:
/// "ANKY", as SQLite's application id.
const MIGRATION_LOCK: i64 = 0x414e_4b59;

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only:
/// a released migration never changes.
const MIGRATIONS: &[&str] = &[V1];

/// The schema version this build reads and writes.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
-- Which schema version the store is at; its presence marks the database as
-- an Ankyra store.
CREATE TABLE ankyra_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per cloud (or lock name). A call that reads, then writes a
-- cloud's data locks its row first (FOR UPDATE), so such calls on one cloud
-- run one at a time across every process and machine, as SQLite's single
-- writer makes them; calls on other clouds go on in parallel.
CREATE TABLE write_keys (
    name TEXT PRIMARY KEY
);

CREATE TABLE revisions (
    cloud TEXT NOT NULL,
    number BIGINT NOT NULL CHECK (number >= 1),
    record_json TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT,
    -- What the fleet index reads, so it never reads records: JSON objects
    -- of strings.
    labels_json TEXT,
    versions_json TEXT,
    PRIMARY KEY (cloud, number)
);
-- The fleet index reads this index only (an index-only scan), never the
-- table rows that hold the records.
CREATE INDEX revisions_for_the_fleet_index
    ON revisions (cloud, number DESC) INCLUDE (status, labels_json, versions_json);
CREATE FUNCTION ankyra_refuse_revision_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'revisions are immutable and never deleted (%)', TG_OP;
END
$$;
CREATE TRIGGER revisions_are_immutable
BEFORE UPDATE OF cloud, number, record_json, content_hash, created_at, author, message,
    labels_json, versions_json
ON revisions FOR EACH ROW EXECUTE FUNCTION ankyra_refuse_revision_change();
CREATE TRIGGER revisions_are_never_deleted
BEFORE DELETE ON revisions FOR EACH ROW EXECUTE FUNCTION ankyra_refuse_revision_change();

CREATE TABLE secrets (
    cloud TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cloud, name)
);

-- The last fencing token issued per cloud; kept after a release so tokens
-- never repeat.
CREATE TABLE lock_tokens (
    cloud TEXT PRIMARY KEY,
    last_token BIGINT NOT NULL CHECK (last_token >= 1)
);
CREATE TABLE locks (
    cloud TEXT PRIMARY KEY REFERENCES lock_tokens (cloud),
    owner TEXT NOT NULL,
    token BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE operations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cloud TEXT NOT NULL,
    revision BIGINT NOT NULL,
    kind TEXT NOT NULL,
    token BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    outcome TEXT,
    FOREIGN KEY (cloud, revision) REFERENCES revisions (cloud, number),
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
CREATE UNIQUE INDEX one_unfinished_operation_per_cloud
    ON operations (cloud) WHERE ended_at IS NULL;
CREATE TABLE journal_steps (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation BIGINT NOT NULL REFERENCES operations (id),
    step_index BIGINT NOT NULL CHECK (step_index >= 0),
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    detail TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX journal_steps_by_operation ON journal_steps (operation, step_index);

-- `containers` is a JSON array of container names, kept in order.
CREATE TABLE standbys (
    cloud TEXT NOT NULL,
    component TEXT NOT NULL,
    containers TEXT NOT NULL,
    version TEXT NOT NULL,
    from_revision BIGINT NOT NULL,
    to_revision BIGINT NOT NULL,
    until_unix BIGINT NOT NULL,
    PRIMARY KEY (cloud, component)
);

CREATE TABLE migrations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cloud TEXT NOT NULL,
    component TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    finalized_at TIMESTAMPTZ,
    snapshot BYTEA NOT NULL
);
-- Snapshots are kept out of line and uncompressed (dumps compress poorly a
-- second time), so listings read their length from the pointer alone.
ALTER TABLE migrations ALTER COLUMN snapshot SET STORAGE EXTERNAL;
CREATE INDEX migrations_by_component ON migrations (cloud, component, finalized_at);

CREATE TABLE fleet_ops (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    selector TEXT NOT NULL,
    change TEXT NOT NULL,
    waves TEXT NOT NULL,
    max_parallel BIGINT NOT NULL CHECK (max_parallel >= 0),
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('running', 'halted', 'done', 'rolling-back', 'rolled-back'))
);
CREATE TABLE fleet_members (
    op BIGINT NOT NULL REFERENCES fleet_ops (id),
    cloud TEXT NOT NULL,
    wave BIGINT NOT NULL CHECK (wave >= 0),
    from_revision BIGINT NOT NULL,
    from_version TEXT NOT NULL,
    to_revision BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'in-progress', 'done', 'failed', 'rolling-back', 'rolled-back')),
    reason TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (op, cloud),
    FOREIGN KEY (cloud, to_revision) REFERENCES revisions (cloud, number)
);
"#;

/// What a database holds, as far as the store is concerned.
enum Contents {
    /// No tables: a new store.
    Empty,
    /// An Ankyra store at this schema version.
    Store(i64),
    /// Something else.
    Foreign,
}

/// Checks the database is a store this build can use, then brings its
/// schema up to date, all in one transaction under an advisory lock: a
/// refused database is left as it was, and of two Ankyras migrating at once
/// the second finds the work done.
pub(super) fn prepare(client: &mut Client, location: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let from = match inspect(&mut tx)? {
        Contents::Empty => 0,
        Contents::Store(found) if (1..=SCHEMA_VERSION).contains(&found) => found,
        Contents::Store(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::DatabaseTooNew {
                location: location.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Contents::Store(_) | Contents::Foreign => {
            return Err(StoreError::NotAStoreDatabase {
                location: location.to_owned(),
            });
        }
    };
    if from == SCHEMA_VERSION {
        // Nothing to change; the transaction ends without writing.
        return Ok(());
    }
    let pending = usize::try_from(from).expect("`from` is between 0 and SCHEMA_VERSION");
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(pending) {
        tx.batch_execute(sql)?;
        tracing::info!(location, version = done + 1, "migrated the store schema");
    }
    tx.execute(
        "INSERT INTO ankyra_meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&SCHEMA_VERSION.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

/// Reads, never writes, what the database's current schema holds.
fn inspect(tx: &mut postgres::Transaction<'_>) -> Result<Contents, StoreError> {
    let tables: i64 = tx
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
            &[],
        )?
        .try_get(0)?;
    if tables == 0 {
        return Ok(Contents::Empty);
    }
    let has_meta: bool = tx
        .query_one("SELECT to_regclass('ankyra_meta') IS NOT NULL", &[])?
        .try_get(0)?;
    if !has_meta {
        return Ok(Contents::Foreign);
    }
    let version: Option<String> = tx
        .query_opt(
            "SELECT value FROM ankyra_meta WHERE key = 'schema_version'",
            &[],
        )?
        .map(|row| row.try_get(0))
        .transpose()?;
    Ok(match version.and_then(|v| v.parse::<i64>().ok()) {
        Some(version) => Contents::Store(version),
        None => Contents::Foreign,
    })
}
