//! Where Ankyra keeps what it knows: records and their revisions, the
//! operation journal, locks and secrets, and what a rollback needs after an
//! upgrade: the standby instances of each component and the snapshots taken
//! before its database migrations.
//!
//! [`Store`] is the trait every backend implements; [`SqliteStore`] is the
//! embedded default (one owner-only file). `PgStore` (feature `postgres`, on
//! by default) keeps a fleet's store in one PostgreSQL database shared by
//! many machines; both run the same behavioural suite (`suite`, behind the
//! `test-suite` feature).
//!
//! Start with [`open`] (a path or a `postgres://` URL), then
//! [`Store::put_revision`]. Fleet-wide reads go through [`Store::fleet_index`],
//! fleet rollouts through [`Store::create_fleet_op`]. An engine
//! run takes a lock ([`Store::acquire_lock`]), whose fencing token it passes to
//! [`Store::journal_begin`]; the journal then refuses writes once another
//! process holds the lock.

#![warn(missing_docs)]

mod error;
mod fleet;
mod location;
#[cfg(feature = "postgres")]
mod postgres;
mod rules;
mod sqlite;
#[cfg(any(test, feature = "test-suite"))]
pub mod suite;
mod types;

use std::time::Duration;

#[cfg(feature = "postgres")]
pub use self::postgres::PgStore;
pub use error::StoreError;
pub use fleet::{
    CloudIndex, FleetMember, FleetMemberState, FleetOp, FleetOpState, NewFleetMember, NewFleetOp,
};
pub use location::{describe_location, open};
pub use sqlite::SqliteStore;
pub use types::{
    JournalStep, LockGuardInfo, LockInfo, Migration, NewRevision, Operation, Revision,
    RevisionSummary, Standby, StepState,
};

/// The lock name a fleet operation's runner holds (with
/// [`Store::acquire_lock`]) while it rolls the operation out, so that two
/// runners never drive one operation. Lock names are free text, so this one
/// never clashes with a cloud's.
pub fn fleet_op_lock_name(id: u64) -> String {
    format!("fleet-op/{id}")
}

/// A place that keeps clouds' revisions, secrets, locks and journal.
/// Implementations must make each call atomic: it is either fully done or not
/// at all, even when several processes share the store.
pub trait Store: Send {
    /// Stores `new` as the next revision of its cloud, unless its content hash
    /// equals the latest revision's, in which case nothing is written and the
    /// latest revision is returned with `created == false`.
    fn put_revision(&mut self, new: NewRevision) -> Result<(Revision, bool), StoreError>;
    /// Like [`Store::put_revision`], but only if the cloud's latest revision is
    /// still `expected_latest` (`None`: the cloud has no revision yet), checked
    /// atomically with the numbering: optimistic concurrency for
    /// read-modify-write callers (`ankyra set`), so that of several writers
    /// who read the same latest revision exactly one stores. Otherwise nothing
    /// is written and it fails with [`StoreError::Conflict`], naming the
    /// revision that got in first, who made it and when; the check comes
    /// before the identical-content one, so a stale caller is told even when
    /// its content happens to equal the latest. [`StoreError::UnknownCloud`]
    /// if `expected_latest` is `Some` and the cloud has no revision.
    fn put_revision_if_latest(
        &mut self,
        new: NewRevision,
        expected_latest: Option<u64>,
    ) -> Result<(Revision, bool), StoreError>;
    /// The latest revision of a cloud, if any.
    fn latest(&self, cloud: &str) -> Result<Option<Revision>, StoreError>;
    /// A given revision of a cloud: [`StoreError::UnknownCloud`] if the cloud
    /// has no revision, [`StoreError::UnknownRevision`] if not this one.
    fn revision(&self, cloud: &str, number: u64) -> Result<Revision, StoreError>;
    /// Every revision of a cloud, oldest first, without the record bodies;
    /// [`StoreError::UnknownCloud`] if it has none.
    fn history(&self, cloud: &str) -> Result<Vec<RevisionSummary>, StoreError>;
    /// Every cloud with at least one revision, by name.
    fn clouds(&self) -> Result<Vec<String>, StoreError>;
    /// Marks a revision (`applied`, `failed` ...), replacing any earlier mark.
    /// The revision's content never changes.
    fn set_revision_status(
        &mut self,
        cloud: &str,
        number: u64,
        status: &str,
    ) -> Result<(), StoreError>;

    /// The cloud's secret `name`. If there is none yet, `generate` is called
    /// once and its value stored and returned; this is atomic, so concurrent
    /// callers all get the one stored value.
    fn secret(
        &mut self,
        cloud: &str,
        name: &str,
        generate: &mut dyn FnMut() -> String,
    ) -> Result<String, StoreError>;
    /// The names (never the values) of the cloud's secrets, sorted.
    fn secrets(&self, cloud: &str) -> Result<Vec<String>, StoreError>;

    /// Locks `cloud` for `owner` and returns the lock with a new fencing
    /// token. If another owner holds a lock whose last heartbeat is younger
    /// than `ttl`, fails with [`StoreError::Locked`]; an older lock is taken
    /// over. The same owner acquiring again gets a new token, which fences
    /// its old one.
    fn acquire_lock(
        &mut self,
        cloud: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LockGuardInfo, StoreError>;
    /// Records that the holder of `token` is alive; [`StoreError::LockLost`]
    /// if `token` no longer holds the lock.
    fn heartbeat(&mut self, cloud: &str, token: u64) -> Result<(), StoreError>;
    /// Releases the lock held with `token`; [`StoreError::LockLost`] if it no
    /// longer holds it (nothing is released then).
    fn release_lock(&mut self, cloud: &str, token: u64) -> Result<(), StoreError>;
    /// Removes whatever lock the cloud has, returning it. For people who know
    /// the holder is dead; the holder's later writes are fenced.
    fn force_unlock(&mut self, cloud: &str) -> Result<Option<LockInfo>, StoreError>;
    /// The cloud's lock, if any (it may be expired).
    fn lock_info(&self, cloud: &str) -> Result<Option<LockInfo>, StoreError>;

    /// Begins an operation of `kind` (`apply`, `rollback` ...) bringing
    /// `cloud` to `revision`, under the lock held with `token`, and returns
    /// its id. This handle then writes the operation's journal with `token`.
    /// Fails with [`StoreError::Fenced`] if `token` is not the
    /// current holder's, [`StoreError::UnfinishedOperation`] if the cloud has
    /// an operation not yet ended, and [`StoreError::UnknownRevision`] or
    /// [`StoreError::UnknownCloud`] if the revision does not exist.
    fn journal_begin(
        &mut self,
        cloud: &str,
        revision: u64,
        kind: &str,
        token: u64,
    ) -> Result<u64, StoreError>;
    /// Adopts the unfinished operation `op` for the lock now held with
    /// `token` (after the previous holder died), so its journal can go on.
    /// Fails with [`StoreError::Fenced`] if `token` is not the current
    /// holder's and [`StoreError::OperationEnded`] if the operation ended.
    /// From then on this handle writes to `op` with `token`, and handles
    /// using an older token are fenced.
    fn journal_resume(&mut self, op: u64, token: u64) -> Result<Operation, StoreError>;
    /// Journals that step `step_index` of `op` entered `state`.
    ///
    /// The write carries the fencing token this handle began or resumed `op`
    /// with: it is refused with [`StoreError::Fenced`] once that token no
    /// longer holds the lock (even if a new holder has resumed `op`), with
    /// [`StoreError::OperationNotHeld`] if this handle did neither, and with
    /// [`StoreError::StepOutOfOrder`] when the transition is not allowed (see
    /// [`StepState::can_follow`]).
    fn journal_step(
        &mut self,
        op: u64,
        step_index: u32,
        name: &str,
        state: StepState,
        detail: &str,
    ) -> Result<(), StoreError>;
    /// Ends `op` with `outcome` (`done`, `rolled-back`, `failed` ...). Fenced
    /// like [`Store::journal_step`].
    fn journal_end(&mut self, op: u64, outcome: &str) -> Result<(), StoreError>;
    /// The cloud's operation that has not ended, with its journal, if any
    /// (there is at most one).
    fn unfinished_operation(&self, cloud: &str) -> Result<Option<Operation>, StoreError>;

    /// Records (or replaces) the standby set of a component: a cloud has at
    /// most one per component, the old instances of its latest upgrade.
    fn put_standby(&mut self, standby: &Standby) -> Result<(), StoreError>;
    /// Every standby set of a cloud, by component name order (none for a
    /// cloud the store does not know).
    fn standbys(&self, cloud: &str) -> Result<Vec<Standby>, StoreError>;
    /// Forgets a component's standby set (no error when there is none), once
    /// its old instances are removed or back in rotation.
    fn clear_standby(&mut self, cloud: &str, component: &str) -> Result<(), StoreError>;

    /// Records that `component`'s database of `cloud` was migrated from
    /// `from_version` to `to_version` while applying `revision`, keeping
    /// `snapshot`, the database as it was before, for a rollback. The
    /// migration starts unfinalized and gets a new id, bigger than any before.
    fn record_migration(
        &mut self,
        cloud: &str,
        component: &str,
        from_version: &str,
        to_version: &str,
        revision: u64,
        snapshot: &[u8],
    ) -> Result<Migration, StoreError>;
    /// A cloud's migrations, newest first, without snapshot bytes.
    fn migrations(&self, cloud: &str) -> Result<Vec<Migration>, StoreError>;
    /// The snapshot of one migration, byte for byte;
    /// [`StoreError::UnknownMigration`] if there is no such migration.
    fn snapshot(&self, migration: u64) -> Result<Vec<u8>, StoreError>;
    /// Marks every unfinalized migration of a component finalized now (the
    /// new version is kept; earlier marks stay as they were); returns how
    /// many it marked.
    fn finalize_migrations(&mut self, cloud: &str, component: &str) -> Result<u64, StoreError>;

    /// One row per cloud with a revision, by cloud name: its latest and
    /// newest applied revisions with their labels and versions, and which
    /// components have a standby set or an unfinalized migration. Made with a
    /// few queries for the whole fleet (never one per cloud) that never read
    /// the records, so selecting among 10,000 clouds stays fast.
    fn fleet_index(&self) -> Result<Vec<CloudIndex>, StoreError>;

    /// Stores a fleet operation and, in the same transaction, each member's
    /// new revision (numbered as [`Store::put_revision`] numbers them). The
    /// operation starts `running`, every member `pending`.
    ///
    /// All or nothing: if any member's cloud is no longer on its
    /// `from_revision` ([`StoreError::Conflict`], or
    /// [`StoreError::UnknownCloud`]), already has the new content
    /// ([`StoreError::FleetMemberUnchanged`]), is listed twice
    /// ([`StoreError::DuplicateFleetMember`]) or carries another cloud's
    /// revision ([`StoreError::FleetMemberMismatch`]), nothing is written.
    fn create_fleet_op(&mut self, op: NewFleetOp) -> Result<FleetOp, StoreError>;
    /// A fleet operation with its members; [`StoreError::UnknownFleetOp`] if
    /// there is none with this id.
    fn fleet_op(&self, id: u64) -> Result<FleetOp, StoreError>;
    /// Every fleet operation with its members, newest first.
    fn fleet_ops(&self) -> Result<Vec<FleetOp>, StoreError>;
    /// The fleet operations not finished (running, halted or rolling back)
    /// with their members, newest first: what a new fleet change must not
    /// overlap. Reads only those, however long the history.
    fn unfinished_fleet_ops(&self) -> Result<Vec<FleetOp>, StoreError>;
    /// Sets where one member of a fleet operation stands and why (`reason`
    /// replaces any earlier one), stamping the time.
    /// [`StoreError::UnknownFleetOp`] or [`StoreError::UnknownFleetMember`]
    /// if there is no such operation or member. The caller holds the
    /// operation's lock ([`fleet_op_lock_name`]); the store does not check
    /// the transition.
    fn set_fleet_member(
        &mut self,
        id: u64,
        cloud: &str,
        state: FleetMemberState,
        reason: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Sets where a fleet operation stands; [`StoreError::UnknownFleetOp`] if
    /// there is none with this id.
    fn set_fleet_op_state(&mut self, id: u64, state: FleetOpState) -> Result<(), StoreError>;
}
