//! The engine: runs a plan on a container engine.
//!
//! Start at [`Engine::apply`]: it renders every component's files from the
//! catalog, observes what runs, plans, and runs the steps in dependency
//! waves (independent components in parallel), with bootstrap jobs, readiness
//! gates and keystone registration. [`Engine::status`] reports what runs,
//! [`Engine::reconcile`] is one pass of `serve`, [`Engine::destroy`] removes a
//! cloud. Progress goes to a [`Reporter`].

mod access;
mod context;
mod error;
mod files;
mod identity;
mod instances;
pub mod killpoint;
pub mod lb;
mod naming;
mod observe;
mod probe;
mod report;
mod rollout;
mod run;
mod secrets;
mod snapshot;
mod space;
mod status;

pub use error::EngineError;
pub use report::{Event, NoReporter, Reporter};
pub use run::{
    check_downgrade, holder_is_dead, owner as lock_owner, ApplyOptions, ApplyOutcome, Engine,
    Finalized, Parked, Switch,
};
pub use status::{BakeStatus, ComponentStatus, ContainerStatus, StatusReport};
