//! Errors of the verbs, and the exit code each maps to (one place).

use std::path::PathBuf;

use ankyra_model::RecordErrors;
use ankyra_plan::PlanError;
use ankyra_store::StoreError;

/// What a verb can fail with.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OpsError {
    /// The record is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Record(#[from] RecordErrors),
    /// The record file could not be read.
    #[error("cannot read {path}")]
    #[diagnostic(help("check the path given with -f"))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store failed or refused.
    #[error(transparent)]
    #[diagnostic(code(ankyra::store))]
    Store(#[from] StoreError),
    /// No plan could be made.
    #[error(transparent)]
    #[diagnostic(code(ankyra::plan), help("upgrade one release at a time (N → N+1), or SLURP to SLURP; `ankyra catalog SERVICE` lists versions"))]
    Plan(#[from] PlanError),
    /// `serve`'s HTTP API could not start (port in use, token file unsafe).
    #[error(transparent)]
    #[diagnostic(code(ankyra::serve))]
    Http(#[from] crate::HttpError),
    /// A fleet command was refused or failed.
    #[error("{reason}")]
    #[diagnostic(code(ankyra::fleet))]
    Fleet {
        /// What is wrong.
        reason: String,
        /// What to do.
        #[help]
        help: String,
    },
    /// A fleet operation halted: a cloud failed (and rolled back by itself).
    #[error("fleet operation {op} halted: `{cloud}` failed; no further cloud was touched")]
    #[diagnostic(
        code(ankyra::fleet),
        help("`ankyra fleet status {op}` shows why; then `ankyra fleet resume {op}` or `ankyra fleet rollback {op}`")
    )]
    FleetHalted {
        /// The operation.
        op: u64,
        /// The cloud that failed.
        cloud: String,
    },
    /// A `component=value` argument is wrong.
    #[error("`{text}`: {reason}")]
    #[diagnostic(code(ankyra::args))]
    BadAssignment {
        /// The argument.
        text: String,
        /// What is wrong.
        reason: String,
        /// What would be valid.
        #[help]
        help: Option<String>,
    },
    /// A stored record no longer reads (written by another Ankyra?).
    #[error("revision {number} of `{cloud}` holds a record this Ankyra cannot read")]
    #[diagnostic(code(ankyra::store))]
    StoredRecord {
        /// The cloud.
        cloud: String,
        /// The revision.
        number: u64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A cloud with no revision was asked for.
    #[error("cloud `{cloud}` has no revision yet")]
    #[diagnostic(code(ankyra::args), help("record one with `ankyra commit -f RECORD`"))]
    NoRevision {
        /// The cloud.
        cloud: String,
    },
    /// The engine failed.
    #[error(transparent)]
    #[diagnostic(code(ankyra::engine))]
    Engine(#[from] ankyra_engine::EngineError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    #[diagnostic(code(ankyra::runtime))]
    Runtime {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An unknown service was asked for.
    #[error("unknown service `{name}`")]
    #[diagnostic(code(ankyra::args))]
    UnknownService {
        /// What was asked.
        name: String,
        /// Known services.
        #[help]
        help: String,
    },
    /// A whole-cloud change refused by its pre-flight check; nothing was recorded.
    #[error("`{cloud}` is not ready for this change; nothing was recorded or touched:\n{}", blockers.iter().map(|b| format!("  - [{}] {}", b.check, b.reason)).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(code(ankyra::preflight))]
    Preflight {
        /// The cloud.
        cloud: String,
        /// Everything that blocks, each with what to do.
        blockers: Vec<ankyra_engine::Blocker>,
    },
    /// A rollback has nothing to go back to.
    #[error("cannot roll back {component} of `{cloud}`: {reason}")]
    #[diagnostic(code(ankyra::rollback))]
    Rollback {
        /// The cloud.
        cloud: String,
        /// The component.
        component: String,
        /// Why, and what to do.
        reason: String,
    },
}

impl OpsError {
    /// The process exit code: 2 for bad arguments or records, 3 for failures
    /// that need a person (store trouble). 1 is kept for "failed and rolled back".
    ///
    /// A lost race is 3 too: [`StoreError::Conflict`] (another revision was
    /// recorded between this command's read and its write; nothing was stored)
    /// and [`StoreError::Locked`] (another process runs an operation on the
    /// cloud). The input was fine, so not 2, and nothing changed, so not 1: a
    /// person looks at what the other writer did and re-runs if still wanted.
    pub fn exit_code(&self) -> i32 {
        match self {
            OpsError::Record(_)
            | OpsError::Read { .. }
            | OpsError::BadAssignment { .. }
            | OpsError::NoRevision { .. }
            | OpsError::UnknownService { .. }
            | OpsError::Rollback { .. }
            | OpsError::Fleet { .. }
            | OpsError::Plan(_) => 2,
            OpsError::Store(
                StoreError::UnknownCloud { .. } | StoreError::UnknownRevision { .. },
            ) => 2,
            OpsError::Store(StoreError::Conflict { .. } | StoreError::Locked { .. }) => 3,
            OpsError::Store(_)
            | OpsError::StoredRecord { .. }
            | OpsError::Runtime { .. }
            | OpsError::Http(_) => 3,
            // Nothing changed, but the cloud needs a person before it may.
            OpsError::Preflight { .. } => 3,
            // A failed gate was rolled back automatically, and a full database
            // volume stops an upgrade before it goes on: the cloud serves as before.
            OpsError::Engine(
                ankyra_engine::EngineError::GateFailed { .. }
                | ankyra_engine::EngineError::DiskFull { .. },
            ) => 1,
            OpsError::FleetHalted { .. } => 1,
            OpsError::Engine(ankyra_engine::EngineError::Refused { .. }) => 2,
            OpsError::Engine(_) => 3,
        }
    }
}
