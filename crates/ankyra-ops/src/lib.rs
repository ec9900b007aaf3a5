//! One function per verb (init, validate, commit, plan, set, history, show,
//! diff, catalog): what the CLI and the server both call. Each reads its
//! inputs, calls the layers below in order (record → catalog → plan → store),
//! and returns plain data the caller prints.

mod catalog_info;
mod deploy;
mod error;
mod fleet;
mod http;
mod images;
mod init;
mod lifecycle;
mod record_file;
mod revisions;
mod set;

pub use ankyra_engine::{ApplyOptions, ComponentStatus, Event, Reporter, StatusReport};
pub use catalog_info::{catalog_info, ServiceInfo};
pub use deploy::{apply, destroy, serve, state_dir, status, Applied};
pub use error::OpsError;
pub use fleet::{
    fleet_ls, fleet_plan, fleet_rollback, fleet_run, fleet_start, fleet_status, FleetComponent,
    FleetEvent, FleetPlan, FleetReporter, FleetRow, PlannedCloud, StoreOpener,
};
pub use http::{default_token_file, Http, HttpError, HttpOpener, OnListening};
pub use images::{build_images, list_images, recipes, ImageEvent, ImageReporter};
pub use init::init;
pub use lifecycle::{apply_latest, finalize, rollback, RolledBack};
pub use record_file::{load_record, validate, Loaded};
pub use revisions::{
    commit, default_store_path, diff, history, is_postgres, open_store, plan_cloud, plan_file,
    show, unlock, CommitResult, Shown,
};
pub use set::{set, SetResult};

/// The JSON Schema of a record.
pub fn schema() -> serde_json::Value {
    ankyra_model::json_schema()
}
