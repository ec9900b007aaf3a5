//! `ankyra images build` and `ankyra images ls`.

use std::path::Path;
use std::sync::Arc;

use ankyra_catalog::{Catalog, ImageRecipe, DEFAULT_RELEASE};
use ankyra_images::{BuildOptions, BuiltImage, ImageInfo};
use ankyra_model::Version;
use ankyra_runtime::Docker;

use crate::engine::runtime;
use crate::{load_record, OpsError};

/// Image build progress, as the CLI draws it.
pub use ankyra_images::{ImageEvent, Reporter as ImageReporter};

fn bad(text: &str, reason: impl Into<String>, help: Option<String>) -> OpsError {
    OpsError::BadAssignment {
        text: text.into(),
        reason: reason.into(),
        help,
    }
}

/// The recipes a record needs, or those named `COMPONENT==VERSION`.
pub fn recipes(file: Option<&Path>, components: &[String]) -> Result<Vec<ImageRecipe>, OpsError> {
    let catalog = Catalog::get();
    let mut out: Vec<ImageRecipe> = Vec::new();
    if let Some(f) = file {
        let loaded = load_record(f)?;
        for c in &loaded.resolved.components {
            let (_, svc) = catalog
                .component(&c.name)
                .map_err(|_| bad(&c.name, "unknown component", None))?;
            // As the engine builds it: on the version's own release.
            let release = svc
                .release_of(&c.version)
                .unwrap_or(&loaded.resolved.release);
            let r = svc.image(&c.version, release);
            if r.reference() == c.image && !out.contains(&r) {
                out.push(r);
            }
        }
    }
    for text in components {
        let Some((name, version)) = text.split_once("==") else {
            return Err(bad(
                text,
                "expected COMPONENT==VERSION",
                Some("for example: keystone==29.1.0".into()),
            ));
        };
        let (_, svc) = catalog.component(name).map_err(|_| {
            bad(
                text,
                format!("unknown component `{name}`"),
                Some(format!(
                    "known components: {}",
                    catalog.component_names().join(", ")
                )),
            )
        })?;
        let v: Version = version
            .parse()
            .map_err(|e: ankyra_model::VersionError| bad(text, e.to_string(), None))?;
        let release = svc.release_of(&v).ok_or_else(|| {
            let list: Vec<String> = svc
                .known_versions()
                .iter()
                .map(ToString::to_string)
                .collect();
            bad(
                text,
                format!("unknown {} version `{v}`", svc.name()),
                Some(format!("valid: {}", list.join(", "))),
            )
        })?;
        // Infrastructure is versioned by Debian, not by an OpenStack series.
        let release = if release.starts_with("debian") {
            DEFAULT_RELEASE
        } else {
            release
        };
        let r = svc.image(&v, release);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.is_empty() {
        return Err(bad(
            "",
            "nothing to build",
            Some("give -f RECORD or COMPONENT==VERSION, e.g. keystone==29.1.0".into()),
        ));
    }
    Ok(out)
}

/// Builds what is missing of `recipes`.
pub fn build_images(
    recipes: &[ImageRecipe],
    reporter: Arc<dyn ImageReporter>,
) -> Result<Vec<BuiltImage>, OpsError> {
    let rt = runtime()?;
    rt.block_on(async {
        let docker = Docker::connect()
            .await
            .map_err(ankyra_engine::EngineError::from)?;
        ankyra_images::build(
            &docker,
            recipes,
            &BuildOptions::default(),
            reporter.as_ref(),
        )
        .await
        .map_err(|e| OpsError::Engine(e.into()))
    })
}

/// Every image Ankyra built.
pub fn list_images() -> Result<Vec<ImageInfo>, OpsError> {
    let rt = runtime()?;
    rt.block_on(async {
        let docker = Docker::connect()
            .await
            .map_err(ankyra_engine::EngineError::from)?;
        ankyra_images::list(&docker)
            .await
            .map_err(|e| OpsError::Engine(e.into()))
    })
}
