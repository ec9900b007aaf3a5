//! What can go wrong in a store.

use std::path::PathBuf;

use crate::StepState;

/// What can go wrong in a store. Messages describe the store layer only; the
/// cause, when there is one, is the error's `source()`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store file could not be opened or created.
    #[error("cannot open the store at {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The directory that holds the store could not be created.
    #[error("cannot create the store directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store file could not be created, inspected or made owner-only.
    #[error("cannot create the store file {path} or make it readable by its owner only")]
    FileAccess {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an Ankyra store (or is corrupt); it is left untouched.
    #[error("{path} is not an Ankyra store or is damaged; it was left untouched")]
    NotAStore {
        /// The file.
        path: PathBuf,
    },
    /// The store was written by a newer Ankyra; it is left untouched.
    #[error("the store at {path} has schema version {found}, newer than this Ankyra understands ({supported}); upgrade Ankyra")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build reads.
        supported: i64,
    },
    /// No such cloud.
    #[error("no cloud named `{cloud}` in the store")]
    UnknownCloud {
        /// The cloud asked for.
        cloud: String,
    },
    /// No such revision.
    #[error("cloud `{cloud}` has no revision {number} (latest is {latest})")]
    UnknownRevision {
        /// The cloud.
        cloud: String,
        /// The revision asked for.
        number: u64,
        /// Its latest revision.
        latest: u64,
    },
    /// A conditional put ([`Store::put_revision_if_latest`](crate::Store::put_revision_if_latest))
    /// found another revision latest than the one its caller read: someone else
    /// recorded a revision in between. Nothing was stored.
    #[error(
        "cloud `{cloud}` changed after this command read {}: revision {found} was recorded first, by `{author}` at {created_at}; nothing was stored, re-run the command to make its change on top of revision {found}",
        read_text(*.expected)
    )]
    Conflict {
        /// The cloud.
        cloud: String,
        /// The latest revision the caller read (`None`: it read none).
        expected: Option<u64>,
        /// The revision that is latest now.
        found: u64,
        /// Who recorded it.
        author: String,
        /// When it was recorded (RFC 3339 UTC).
        created_at: String,
    },
    /// Another owner holds a live lock on the cloud.
    #[error("cloud `{cloud}` is locked by `{owner}` since {since}: another operation is running on it; re-run when it has ended")]
    Locked {
        /// The cloud.
        cloud: String,
        /// Who holds the lock.
        owner: String,
        /// When they took it (RFC 3339 UTC).
        since: String,
    },
    /// The lock this token stood for is gone: it expired and was taken over,
    /// or it was released or force-unlocked.
    #[error("the lock on cloud `{cloud}` with token {token} is no longer held; another process took it over or it was unlocked")]
    LockLost {
        /// The cloud.
        cloud: String,
        /// The token that is no longer the holder's.
        token: u64,
    },
    /// A write carried a fencing token that is not the current lock holder's.
    #[error("write to cloud `{cloud}` refused: fencing token {token} is stale ({})", holder_text(*.holder))]
    Fenced {
        /// The cloud.
        cloud: String,
        /// The token the write carried.
        token: u64,
        /// The current holder's token, if the cloud is locked.
        holder: Option<u64>,
    },
    /// No operation with this id.
    #[error("no operation {id} in the journal")]
    UnknownOperation {
        /// The operation asked for.
        id: u64,
    },
    /// No component database migration with this id.
    #[error("no database migration {id} in the store")]
    UnknownMigration {
        /// The migration asked for.
        id: u64,
    },
    /// The operation has ended; its journal is closed.
    #[error("operation {id} has already ended ({outcome})")]
    OperationEnded {
        /// The operation.
        id: u64,
        /// How it ended.
        outcome: String,
    },
    /// The operation was neither begun nor resumed through this store handle,
    /// so the handle has no fencing token to write to it with.
    #[error(
        "operation {id} was neither begun nor resumed through this store handle; resume it first"
    )]
    OperationNotHeld {
        /// The operation.
        id: u64,
    },
    /// The cloud has an operation that has not ended; resume or end it first.
    #[error("cloud `{cloud}` has unfinished operation {id}; resume or end it first")]
    UnfinishedOperation {
        /// The cloud.
        cloud: String,
        /// The unfinished operation.
        id: u64,
    },
    /// A journal step state change that [`StepState::can_follow`] forbids.
    #[error("operation {operation}: step {step_index} cannot become {to} after {}", from.map_or("nothing", StepState::as_str))]
    StepOutOfOrder {
        /// The operation.
        operation: u64,
        /// The step.
        step_index: u32,
        /// Its last journaled state, if any.
        from: Option<StepState>,
        /// The state asked for.
        to: StepState,
    },
    /// A time stored in the store cannot be read.
    #[error("the store holds an unreadable time `{value}`")]
    BadTime {
        /// The stored text.
        value: String,
        /// Why it does not parse.
        #[source]
        source: time::error::Parse,
    },
    /// A query failed.
    #[error("store query failed")]
    Query(#[from] rusqlite::Error),

    /// No fleet operation with this id.
    #[error("no fleet operation {id} in the store")]
    UnknownFleetOp {
        /// The fleet operation asked for.
        id: u64,
    },
    /// The fleet operation has no member for this cloud.
    #[error("fleet operation {id} does not include cloud `{cloud}`")]
    UnknownFleetMember {
        /// The fleet operation.
        id: u64,
        /// The cloud asked for.
        cloud: String,
    },
    /// A fleet operation member's new revision has the content its cloud
    /// already has: a cloud the change is already made in should not have
    /// been selected. Nothing was stored.
    #[error("cloud `{cloud}` already has this content in revision {revision}, so it has nothing to roll out; leave it out of the fleet operation (nothing was stored)")]
    FleetMemberUnchanged {
        /// The cloud.
        cloud: String,
        /// Its latest revision, which has the content already.
        revision: u64,
    },
    /// A fleet operation member's new revision is for another cloud.
    #[error("fleet operation member `{cloud}` carries a revision of cloud `{revision_cloud}`; nothing was stored")]
    FleetMemberMismatch {
        /// The member's cloud.
        cloud: String,
        /// The cloud its revision names.
        revision_cloud: String,
    },
    /// A cloud is listed twice in one fleet operation.
    #[error("cloud `{cloud}` is listed twice in the fleet operation; nothing was stored")]
    DuplicateFleetMember {
        /// The cloud.
        cloud: String,
    },
    /// A value the store holds cannot be read back (it was written by
    /// something else, or is damaged).
    #[error("the store holds an unreadable {what}: `{value}`")]
    BadStoredValue {
        /// What it should have been.
        what: &'static str,
        /// What it is.
        value: String,
    },
    /// A JSON value the store holds cannot be read back.
    #[error("the store holds an unreadable {what}")]
    BadStoredJson {
        /// What it should have been.
        what: &'static str,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },

    /// A PostgreSQL store was asked for, but this build has no PostgreSQL
    /// support (the `postgres` feature).
    #[cfg(not(feature = "postgres"))]
    #[error(
        "{location} names a PostgreSQL store, but this Ankyra was built without PostgreSQL support"
    )]
    PostgresNotBuilt {
        /// The URL, without its password.
        location: String,
    },
    /// The PostgreSQL server could not be reached or refused the login.
    #[cfg(feature = "postgres")]
    #[error("cannot connect to the PostgreSQL store at {location}")]
    Connect {
        /// The URL, without its password.
        location: String,
        /// Why.
        #[source]
        source: postgres::Error,
    },
    /// The database holds tables but no Ankyra store; it is left untouched.
    #[cfg(feature = "postgres")]
    #[error("the PostgreSQL database at {location} holds tables but no Ankyra store; it was left untouched (use an empty database)")]
    NotAStoreDatabase {
        /// The URL, without its password.
        location: String,
    },
    /// The database was written by a newer Ankyra; it is left untouched.
    #[cfg(feature = "postgres")]
    #[error("the PostgreSQL store at {location} has schema version {found}, newer than this Ankyra understands ({supported}); upgrade Ankyra")]
    DatabaseTooNew {
        /// The URL, without its password.
        location: String,
        /// Its schema version.
        found: i64,
        /// The newest this build reads.
        supported: i64,
    },
    /// The thread that talks to PostgreSQL could not be started.
    #[cfg(feature = "postgres")]
    #[error("cannot start the thread for the PostgreSQL store at {location}")]
    SpawnWorker {
        /// The URL, without its password.
        location: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The thread that talks to PostgreSQL has stopped (it panicked), so
    /// this handle can do nothing more; open a new one.
    #[cfg(feature = "postgres")]
    #[error(
        "the connection to the PostgreSQL store at {location} has stopped; open the store again"
    )]
    WorkerGone {
        /// The URL, without its password.
        location: String,
    },
    /// A PostgreSQL query failed.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL store query failed")]
    Postgres(#[from] postgres::Error),
}

fn holder_text(holder: Option<u64>) -> String {
    match holder {
        Some(token) => format!("the lock is held with token {token}"),
        None => "the cloud is not locked".to_owned(),
    }
}

fn read_text(expected: Option<u64>) -> String {
    match expected {
        Some(number) => format!("revision {number}"),
        None => "that it had no revision".to_owned(),
    }
}
