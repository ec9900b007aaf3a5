//! One function per verb (init, validate, commit, plan, set, history, show,
//! diff, catalog): what the CLI and the server both call. Each reads its
//! inputs, calls the layers below in order (record → catalog → plan → store),
//! and returns plain data the caller prints.

mod catalog_info;
mod deploy;
mod engine;
mod error;
mod finalize;
mod fleet;
mod http;
mod images;
mod init;
mod plan;
mod record_file;
mod revisions;
mod rollback;
mod serve;
mod set;
mod store_location;
mod upgrade;

pub use ankyra_engine::{
    ApplyOptions, Blocker, ComponentStatus, EngineError, Event, Finalized, Preflight, Reporter,
    StatusReport,
};
pub use catalog_info::{catalog_info, ServiceInfo};
pub use deploy::{apply, apply_latest, destroy, status, Applied};
pub use error::OpsError;
pub use finalize::{finalize, finalize_cloud};
pub use fleet::{
    fleet_ls, fleet_plan, fleet_rollback, fleet_run, fleet_start, fleet_status, FleetComponent,
    FleetEvent, FleetPlan, FleetReporter, FleetRow, PlannedCloud, StoreOpener,
};
pub use http::{default_token_file, Http, HttpError, HttpOpener, OnListening};
pub use images::{build_images, list_images, recipes, ImageEvent, ImageReporter};
pub use init::init;
pub use plan::{plan_cloud, plan_file, plan_running};
pub use record_file::{load_record, validate, Loaded};
pub use revisions::{commit, diff, history, show, unlock, CommitResult, Shown};
pub use rollback::{rollback, rollback_cloud, CloudRolledBack, ComponentBack, RolledBack};
pub use serve::serve;
pub use set::{set, SetResult};
pub use store_location::{
    default_store_path, is_postgres, open_store, state_dir, PASSWORD_FILE_ENV,
};
pub use upgrade::{upgrade, Move, Upgraded};

/// The JSON Schema of a record.
pub fn schema() -> serde_json::Value {
    ankyra_model::json_schema()
}
