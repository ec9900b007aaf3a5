//! What a store keeps about the fleet as a whole: one index row per cloud,
//! and fleet operations (one change rolled out over many clouds in waves).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::NewRevision;

/// One cloud as the fleet index sees it: enough to select clouds and show
/// where each stands, read without the records themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudIndex {
    /// The cloud.
    pub cloud: String,
    /// Its latest revision.
    pub latest: u64,
    /// The latest revision's status mark (`applied`, `failed` ...), if any.
    pub latest_status: Option<String>,
    /// The latest revision's labels; `None` when it was stored before the
    /// store kept labels (and so cannot be selected by label until a new
    /// revision is stored).
    pub labels: Option<BTreeMap<String, String>>,
    /// The latest revision's component versions; `None` as for `labels`.
    pub versions: Option<BTreeMap<String, String>>,
    /// The newest revision whose status is `applied`, if any: what runs.
    pub applied: Option<u64>,
    /// That revision's component versions; `None` if there is no applied
    /// revision or it predates versions being kept.
    pub applied_versions: Option<BTreeMap<String, String>>,
    /// Components with a standby set (old instances kept for a fast
    /// rollback), by name.
    pub standby_components: Vec<String>,
    /// Components with an unfinalized database migration, by name.
    pub unfinalized_components: Vec<String>,
}

/// One cloud's part of a fleet operation, to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFleetMember {
    /// The cloud.
    pub cloud: String,
    /// The wave it is rolled out in (Ankyra's planner numbers them from 1).
    pub wave: u32,
    /// The cloud's latest revision when it was selected: `revision` goes on
    /// top of it, or the whole operation is refused.
    pub from_revision: u64,
    /// What the changed component ran before, for people and for rollbacks.
    pub from_version: String,
    /// The cloud's new revision (its `cloud` must be this member's).
    pub revision: NewRevision,
}

/// A fleet operation to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFleetOp {
    /// What it does: `set`.
    pub kind: String,
    /// The selector that chose the clouds, as the user wrote it.
    pub selector: String,
    /// The change, as the user wrote it (`keystone.version=29.1.0`).
    pub change: String,
    /// The waves, as the user wrote them.
    pub waves: String,
    /// How many clouds of a wave are rolled out at once.
    pub max_parallel: u32,
    /// Who made it.
    pub author: String,
    /// Why.
    pub message: String,
    /// Its clouds, each with its new revision.
    pub members: Vec<NewFleetMember>,
}

/// One cloud's part of a stored fleet operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetMember {
    /// The cloud.
    pub cloud: String,
    /// Its wave (Ankyra's planner numbers them from 1).
    pub wave: u32,
    /// The revision it was on when selected.
    pub from_revision: u64,
    /// What the changed component ran before.
    pub from_version: String,
    /// The revision the operation stored for it.
    pub to_revision: u64,
    /// Where its rollout stands.
    pub state: FleetMemberState,
    /// Why it failed or was rolled back, if it did.
    pub reason: Option<String>,
    /// RFC 3339 UTC time of its last change.
    pub updated_at: String,
}

/// A stored fleet operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetOp {
    /// Its id, unique in the store and growing: a later operation has a
    /// bigger id.
    pub id: u64,
    /// What it does: `set`.
    pub kind: String,
    /// The selector that chose the clouds.
    pub selector: String,
    /// The change.
    pub change: String,
    /// The waves.
    pub waves: String,
    /// How many clouds of a wave are rolled out at once.
    pub max_parallel: u32,
    /// Who made it.
    pub author: String,
    /// Why.
    pub message: String,
    /// RFC 3339 UTC time it was created.
    pub created_at: String,
    /// Where it stands.
    pub state: FleetOpState,
    /// Its clouds, by wave, then by cloud name.
    pub members: Vec<FleetMember>,
}

impl NewFleetOp {
    /// The operation as just stored by either backend: state `running`, its
    /// members (already written, each with its new revision) by wave, then
    /// by cloud name. Logs the creation.
    pub(crate) fn into_stored(
        self,
        id: u64,
        created_at: String,
        mut members: Vec<FleetMember>,
    ) -> FleetOp {
        members.sort_by(|a, b| (a.wave, &a.cloud).cmp(&(b.wave, &b.cloud)));
        tracing::info!(
            fleet_op = id, kind = %self.kind, change = %self.change, members = members.len(),
            "created a fleet operation"
        );
        FleetOp {
            id,
            kind: self.kind,
            selector: self.selector,
            change: self.change,
            waves: self.waves,
            max_parallel: self.max_parallel,
            author: self.author,
            message: self.message,
            created_at,
            state: FleetOpState::Running,
            members,
        }
    }
}

/// Defines a state enum with kebab-case names, `ALL`, `as_str`, `from_name`
/// and `Display`, the way [`StepState`](crate::StepState) has them.
macro_rules! named_states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every state, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The lowercase, hyphenated name, as stored and printed.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The state named `text` (as `as_str` writes it).
            pub fn from_name(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|s| s.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_states! {
    /// Where one cloud of a fleet operation stands. The runner moves it
    /// `pending` → `in-progress` → `done` or `failed`; a rollback moves a
    /// `done` or `failed` one → `rolling-back` → `rolled-back`.
    FleetMemberState {
        /// Not started.
        Pending => "pending",
        /// Its apply is running.
        InProgress => "in-progress",
        /// Applied and healthy.
        Done => "done",
        /// Its apply failed.
        Failed => "failed",
        /// Being brought back to its `from_revision`.
        RollingBack => "rolling-back",
        /// Back on its `from_revision`.
        RolledBack => "rolled-back",
    }
}

named_states! {
    /// Where a fleet operation stands: `running` until every wave is done
    /// (`done`) or a failure stops it (`halted`); a rollback of it goes
    /// `rolling-back` → `rolled-back`.
    FleetOpState {
        /// Waves are being rolled out.
        Running => "running",
        /// Stopped after a failure; nothing more is started.
        Halted => "halted",
        /// Every member is done.
        Done => "done",
        /// Its members are being brought back.
        RollingBack => "rolling-back",
        /// Every member that was changed is back.
        RolledBack => "rolled-back",
    }
}

impl FleetOpState {
    /// Whether the operation still holds its clouds (not done, not rolled back).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            FleetOpState::Running | FleetOpState::Halted | FleetOpState::RollingBack
        )
    }
}

/// The SQL filter (both backends) for operations that are
/// [`FleetOpState::is_unfinished`].
pub(crate) const UNFINISHED: &str = "WHERE state IN ('running', 'halted', 'rolling-back')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_filter_names_exactly_the_unfinished_states() {
        for state in FleetOpState::ALL {
            let quoted = format!("'{state}'");
            assert_eq!(
                UNFINISHED.contains(&quoted),
                state.is_unfinished(),
                "{state}"
            );
        }
    }

    #[test]
    fn fleet_states_round_trip_through_their_names() {
        for state in FleetMemberState::ALL {
            assert_eq!(FleetMemberState::from_name(state.as_str()), Some(*state));
            let json = serde_json::to_string(state).expect("serializes");
            assert_eq!(json, format!("\"{state}\""));
        }
        for state in FleetOpState::ALL {
            assert_eq!(FleetOpState::from_name(state.as_str()), Some(*state));
            let json = serde_json::to_string(state).expect("serializes");
            assert_eq!(json, format!("\"{state}\""));
        }
        assert_eq!(FleetMemberState::InProgress.as_str(), "in-progress");
        assert_eq!(FleetOpState::RolledBack.as_str(), "rolled-back");
        assert_eq!(FleetMemberState::from_name("inprogress"), None);
    }
}
