//! The values a store keeps.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A revision to store.
///
/// `Default` lets callers that predate a field keep compiling with
/// `..Default::default()`; every field should still be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewRevision {
    /// The cloud.
    pub cloud: String,
    /// The record as canonical JSON (`Record::canonical_json`).
    pub record_json: String,
    /// sha256 of `record_json`.
    pub content_hash: String,
    /// Who made it (user name).
    pub author: String,
    /// Why.
    pub message: String,
    /// The record's `metadata.labels`, kept beside the record so the fleet
    /// index can select clouds by label without parsing every record.
    pub labels: BTreeMap<String, String>,
    /// Component name to the version (or image) it runs in this revision, as
    /// text, for the same reason.
    pub versions: BTreeMap<String, String>,
}

/// A stored, immutable revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// The cloud.
    pub cloud: String,
    /// 1, 2, 3 ... per cloud.
    pub number: u64,
    /// The record as canonical JSON.
    pub record_json: String,
    /// sha256 of the record.
    pub content_hash: String,
    /// RFC 3339 UTC time it was stored.
    pub created_at: String,
    /// Who made it.
    pub author: String,
    /// Why.
    pub message: String,
}

/// A revision without its record, for history listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionSummary {
    /// 1, 2, 3 ... per cloud.
    pub number: u64,
    /// sha256 of the record.
    pub content_hash: String,
    /// RFC 3339 UTC time it was stored.
    pub created_at: String,
    /// Who made it.
    pub author: String,
    /// Why.
    pub message: String,
    /// The mark set by [`Store::set_revision_status`](crate::Store::set_revision_status)
    /// (such as `applied` or `failed`); `None` until one is set.
    pub status: Option<String>,
}

/// A lock on a cloud, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    /// The cloud.
    pub cloud: String,
    /// Who holds it (for people: user, host, process).
    pub owner: String,
    /// The fencing token: strictly increasing per cloud, never reused, even
    /// after a release or a forced unlock. Writes carry it so that a holder
    /// whose lock was taken over cannot write any more.
    pub token: u64,
    /// RFC 3339 UTC time the lock was taken.
    pub acquired_at: String,
    /// RFC 3339 UTC time of the last heartbeat (the acquisition counts as one).
    pub heartbeat_at: String,
}

/// What [`Store::acquire_lock`](crate::Store::acquire_lock) returns: the lock
/// just taken.
pub type LockGuardInfo = LockInfo;

/// The state of one step in the journal.
///
/// Transitions, per step of one operation (see [`StepState::can_follow`]):
/// nothing, `Failed` or `Started` → `Started` (a first run, a retry, or a
/// re-run after a crash); `Started` → `Done` or `Failed`. A `Done` step is
/// never run again within its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// Journaled before the step's side effects begin.
    Started,
    /// Journaled after the step's side effects are complete.
    Done,
    /// The step failed (after cleaning up what it started).
    Failed,
}

impl StepState {
    /// Every state, in lifecycle order.
    pub const ALL: [StepState; 3] = [StepState::Started, StepState::Done, StepState::Failed];

    /// The lowercase name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Started => "started",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }

    /// The state named `text` (as [`StepState::as_str`] writes it).
    pub fn from_name(text: &str) -> Option<StepState> {
        StepState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a step whose last journaled state is `previous` (`None`: not
    /// journaled yet) may become `self`.
    pub fn can_follow(self, previous: Option<StepState>) -> bool {
        match self {
            StepState::Started => previous != Some(StepState::Done),
            StepState::Done | StepState::Failed => previous == Some(StepState::Started),
        }
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One journal entry: a step changed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalStep {
    /// The step's position in its plan, from 0.
    pub step_index: u32,
    /// The step's name, for people.
    pub name: String,
    /// The state it entered.
    pub state: StepState,
    /// What happened (an error message for `Failed`); never a secret.
    pub detail: String,
    /// RFC 3339 UTC time of the entry.
    pub at: String,
}

/// An operation (apply, rollback ...) and its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    /// Its id, unique in the store.
    pub id: u64,
    /// The cloud.
    pub cloud: String,
    /// The revision it brings the cloud to.
    pub revision: u64,
    /// What it does: `apply`, `rollback` ...
    pub kind: String,
    /// The fencing token of the lock it runs under.
    pub token: u64,
    /// RFC 3339 UTC time it began.
    pub started_at: String,
    /// Every journal entry, oldest first.
    pub steps: Vec<JournalStep>,
}

impl Operation {
    /// The step a resumed run starts from: the lowest index whose last
    /// journaled state is not `Done` (0 if nothing is journaled).
    pub fn resume_index(&self) -> u32 {
        let mut last: BTreeMap<u32, StepState> = BTreeMap::new();
        for step in &self.steps {
            last.insert(step.step_index, step.state);
        }
        let mut index = 0;
        while last.get(&index) == Some(&StepState::Done) {
            index += 1;
        }
        index
    }
}

/// Old instances of one component kept running out of rotation after an
/// upgrade, so that rolling back within the bake window is only a switch of
/// traffic back to them, not a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standby {
    /// The cloud.
    pub cloud: String,
    /// The component (`keystone`, `nova-api` ...); a cloud has at most one
    /// standby set per component.
    pub component: String,
    /// Container names of the old instances, in the order given.
    pub containers: Vec<String>,
    /// The version they run.
    pub version: String,
    /// The revision they were started for.
    pub from_revision: u64,
    /// The revision that replaced them.
    pub to_revision: u64,
    /// When the bake window ends, seconds since the Unix epoch: after it the
    /// old instances may be removed.
    pub until_unix: i64,
}

/// A schema upgrade of one component's database, with the snapshot of the
/// database taken before it, so a rollback can restore the data the old
/// version understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// Its id, unique in the store and growing: a later migration has a
    /// bigger id.
    pub id: u64,
    /// The cloud.
    pub cloud: String,
    /// The component whose database was migrated.
    pub component: String,
    /// The version the database was at before.
    pub from_version: String,
    /// The version it was migrated to.
    pub to_version: String,
    /// The revision whose apply migrated it.
    pub revision: u64,
    /// RFC 3339 UTC time it was recorded.
    pub created_at: String,
    /// RFC 3339 UTC time it was finalized (the new version is kept and there
    /// is no going back to the snapshot); `None` while a rollback may still
    /// restore it.
    pub finalized_at: Option<String>,
    /// Size of the snapshot in bytes (the bytes themselves come from
    /// [`Store::snapshot`](crate::Store::snapshot), so listings stay small).
    pub snapshot_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(step_index: u32, state: StepState) -> JournalStep {
        JournalStep {
            step_index,
            name: format!("step {step_index}"),
            state,
            detail: String::new(),
            at: "2026-01-01T00:00:00Z".to_owned(),
        }
    }

    fn operation(steps: Vec<JournalStep>) -> Operation {
        Operation {
            id: 1,
            cloud: "lab1".to_owned(),
            revision: 1,
            kind: "apply".to_owned(),
            token: 1,
            started_at: "2026-01-01T00:00:00Z".to_owned(),
            steps,
        }
    }

    #[test]
    fn step_states_round_trip_through_their_names() {
        for state in StepState::ALL {
            assert_eq!(StepState::from_name(state.as_str()), Some(state));
        }
        assert_eq!(StepState::from_name("finished"), None);
    }

    #[test]
    fn done_and_failed_need_a_started_step_and_done_is_final() {
        use StepState::*;
        assert!(Started.can_follow(None));
        assert!(Started.can_follow(Some(Started)));
        assert!(Started.can_follow(Some(Failed)));
        assert!(!Started.can_follow(Some(Done)));
        for end in [Done, Failed] {
            assert!(end.can_follow(Some(Started)));
            assert!(!end.can_follow(None));
            assert!(!end.can_follow(Some(Done)));
            assert!(!end.can_follow(Some(Failed)));
        }
    }

    #[test]
    fn resume_starts_at_the_first_step_not_done() {
        use StepState::*;
        assert_eq!(operation(vec![]).resume_index(), 0);
        let op = operation(vec![entry(0, Started), entry(0, Done), entry(1, Started)]);
        assert_eq!(op.resume_index(), 1);
        let op = operation(vec![
            entry(0, Started),
            entry(0, Done),
            entry(1, Started),
            entry(1, Failed),
        ]);
        assert_eq!(op.resume_index(), 1);
        let op = operation(vec![entry(0, Started), entry(0, Done)]);
        assert_eq!(op.resume_index(), 1);
        let op = operation(vec![entry(1, Started), entry(1, Done)]);
        assert_eq!(op.resume_index(), 0);
    }
}
