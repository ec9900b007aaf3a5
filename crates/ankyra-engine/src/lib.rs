//! The engine: runs a plan on a container engine.
//!
//! Start at [`Engine::apply`]: it renders every component's files from the
//! catalog, observes what runs, plans, and runs the steps in dependency
//! waves (independent components in parallel), with bootstrap jobs, readiness
//! gates and keystone registration. [`Engine::status`] reports what runs,
//! [`Engine::reconcile`] is one pass of `serve`, [`Engine::destroy`] removes a
//! cloud. Progress goes to a [`Reporter`].

mod access;
mod apply;
mod context;
mod destroy;
mod downgrade;
mod engine;
mod error;
mod files;
mod finalize;
mod guest;
mod identity;
mod instances;
pub mod killpoint;
pub mod lb;
mod lbconf;
mod lock;
mod naming;
mod nova_gate;
mod nova_versions;
mod observe;
mod preflight;
mod probe;
mod register;
mod report;
mod rollout;
mod secrets;
mod snapshot;
mod space;
mod status;
mod step;
mod workers;

pub use apply::{guests_at_risk, ApplyOptions, ApplyOutcome, Parked, Switch};
pub use downgrade::check_downgrade;
pub use engine::Engine;
pub use error::EngineError;
pub use finalize::Finalized;
pub use lock::{holder_is_dead, owner as lock_owner};
pub use preflight::{Blocker, Preflight};
pub use report::{Event, NoReporter, Reporter};
pub use status::{BakeStatus, ComponentStatus, ContainerStatus, StatusReport};
