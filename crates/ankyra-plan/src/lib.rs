//! The planner: compares what a revision wants ([`Desired`]) with what runs
//! ([`Observed`]) and returns an ordered [`Plan`] of [`Step`]s, each with its
//! reason. Pure code: no I/O, no async, no clock.
//!
//! Start at [`plan`]. [`Desired::from_resolved`] turns a catalog-checked
//! record into desired state; [`Observed::from_desired`] says "everything
//! runs as wanted", which is how a revision is compared with another.

mod desired;
mod diff;
mod observed;
mod step;

pub use desired::{config_hash, Desired, DesiredComponent};
pub use diff::{plan, plan_ordered, PlanError};
pub use observed::{Observed, ObservedComponent};
pub use step::{Change, Order, Plan, Step, StepKind, Strategy, Unchanged};
mod revdiff;
pub use revdiff::{diff_records, ComponentDiff, DiffStatus, FieldChange};
