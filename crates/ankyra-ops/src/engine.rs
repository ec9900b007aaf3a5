//! The one way the verbs reach a container engine: a runtime, a connection
//! to the engine the record names, one call.

use std::path::Path;
use std::sync::Arc;

use ankyra_catalog::EngineTarget;
use ankyra_engine::{Engine, NoReporter, Reporter};

use crate::OpsError;

/// The async runtime the engine's verbs run on (two cores: two workers).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, OpsError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| OpsError::Runtime { source })
}

/// Connects to `target` and runs `f` on it, progress to `reporter`.
pub(crate) fn on_engine<T>(
    state: &Path,
    target: &EngineTarget,
    reporter: Arc<dyn Reporter>,
    f: impl AsyncFnOnce(&Engine) -> Result<T, OpsError>,
) -> Result<T, OpsError> {
    runtime()?.block_on(async {
        let engine = Engine::connect_to(state.to_path_buf(), reporter, target).await?;
        f(&engine).await
    })
}

/// [`on_engine`] for calls that only read (no progress to show).
pub(crate) fn reading_engine<T>(
    state: &Path,
    target: &EngineTarget,
    f: impl AsyncFnOnce(&Engine) -> Result<T, OpsError>,
) -> Result<T, OpsError> {
    on_engine(state, target, Arc::new(NoReporter), f)
}
