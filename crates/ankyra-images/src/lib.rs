//! Builds Ankyra's images locally: nothing can be pulled where Ankyra runs.
//!
//! Start with [`build`]: give it the catalog's [`ImageRecipe`]s and it builds
//! what is missing, reporting progress to a [`Reporter`]; [`list`] shows what
//! exists. Layers, bottom up:
//!
//! - `ankyra/base:bookworm-<hash>`: Debian bookworm with Python, made by
//!   mmdebstrap on the host and imported ([`base`]);
//! - infrastructure (mariadb, memcached, rabbitmq, haproxy): one apt layer on
//!   the base ([`debian`]);
//! - OpenStack services: a libraries layer per service and release
//!   (`ankyra/<service>-libs:<release>-<hash>`, pinned by
//!   `images/constraints/<release>.txt`), then the service itself, a small
//!   layer, so point releases share everything else ([`pypi`]).
//!
//! Wheels are fetched on the host into one cache (`<cache>/wheels`) and
//! bind-mounted into build containers, never left in a layer. Every image
//! carries OCI and `io.ankyra.*` [`labels`], among them the recipe hash: an
//! image whose hash matches is not rebuilt. Images are tagged only once built,
//! so a failed build leaves no half-tagged image; its error carries the
//! failing step's last output lines.

pub mod base;
mod build;
pub mod debian;
mod error;
pub mod guest;
mod host;
pub mod labels;
pub mod pypi;
mod report;
mod step;
mod wheels;

use std::path::PathBuf;

pub use ankyra_catalog::{ImageRecipe, ImageSource};
use ankyra_runtime::Docker;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use error::ImageError;
pub use report::{ImageEvent, NoReporter, Reporter};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Root file system tars, the wheel cache and scratch folders live here.
    pub cache_dir: PathBuf,
    /// Images built at once (two cores: 2).
    pub parallelism: usize,
    /// Debian mirror, reached over plain HTTP (containers cannot verify TLS here).
    pub debian_mirror: String,
    /// Debian security mirror.
    pub debian_security_mirror: String,
    /// The host Python (must be 3.11, bookworm's) that fetches wheels.
    pub python: String,
    /// Folder of `<release>.txt` constraints overriding the built-in ones.
    pub constraints_dir: Option<PathBuf>,
    /// Script that installs missing host tools (mmdebstrap), if allowed.
    pub host_deps_script: Option<PathBuf>,
}

impl Default for BuildOptions {
    /// `$ANKYRA_CACHE`, else `~/.cache/ankyra`; Debian's HTTP mirrors;
    /// `python3`; the repository's `scripts/ensure-host-deps.sh` when present.
    fn default() -> Self {
        let cache_dir = std::env::var_os("ANKYRA_CACHE")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("ankyra")))
            .unwrap_or_else(|| std::env::temp_dir().join("ankyra-cache"));
        let script = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/ensure-host-deps.sh"
        ));
        BuildOptions {
            cache_dir,
            parallelism: 2,
            debian_mirror: "http://deb.debian.org/debian".into(),
            debian_security_mirror: "http://deb.debian.org/debian-security".into(),
            python: "python3".into(),
            constraints_dir: None,
            host_deps_script: script.exists().then_some(script),
        }
    }
}

/// An image ready for use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuiltImage {
    /// `repository:tag`.
    pub reference: String,
    /// `sha256:...`: what a revision pins.
    pub id: String,
    /// Bytes, shared layers included.
    pub size: i64,
    /// Whether it was built now (false: found with the same recipe hash).
    pub created: bool,
    /// Wall time spent on it in this call.
    pub seconds: f64,
}

/// One image Ankyra built, as [`list`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// `repository:tag` (the first tag, when several).
    pub reference: String,
    /// The catalog service.
    pub service: String,
    /// The service's version.
    pub version: String,
    /// The release series (or `debian-12`).
    pub release: String,
    /// `sha256:...`.
    pub id: String,
    /// Bytes, shared layers included.
    pub size: i64,
}

/// Builds every image in `recipes` that is missing (or built from another
/// recipe), in parallel up to `opts.parallelism`, and returns them in the
/// order given. Stops at the first failure; images built before it stay.
pub async fn build(
    docker: &Docker,
    recipes: &[ImageRecipe],
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<BuiltImage>, ImageError> {
    build::Builder::new(docker, opts, reporter)
        .build_all(recipes)
        .await
}

/// The service images Ankyra built (not the base and library layers), sorted
/// by reference.
pub async fn list(docker: &Docker) -> Result<Vec<ImageInfo>, ImageError> {
    let images = docker
        .list_images_by_label(labels::ROLE, Some("service"))
        .await
        .map_err(ImageError::docker("ankyra images"))?;
    let get = |l: &std::collections::HashMap<String, String>, k: &str| {
        l.get(k).cloned().unwrap_or_default()
    };
    let mut out: Vec<ImageInfo> = images
        .into_iter()
        .map(|i| ImageInfo {
            reference: i
                .repo_tags
                .first()
                .cloned()
                .unwrap_or_else(|| "<none>".into()),
            service: get(&i.labels, labels::SERVICE),
            version: get(&i.labels, labels::VERSION),
            release: get(&i.labels, labels::RELEASE),
            id: i.id,
            size: i.size,
        })
        .collect();
    out.sort_by(|a, b| a.reference.cmp(&b.reference));
    Ok(out)
}

/// Bytes `image` adds on top of `below` (an image it is built on): the size of
/// its own layers.
pub async fn added_bytes(docker: &Docker, image: &str, below: &str) -> Result<i64, ImageError> {
    let top = docker
        .require_image(image)
        .await
        .map_err(ImageError::docker(image))?;
    let bottom = docker
        .require_image(below)
        .await
        .map_err(ImageError::docker(below))?;
    Ok(top.size - bottom.size)
}

/// The reference of the libraries layer an OpenStack image sits on (its
/// parent image's tag), if any.
pub async fn libs_layer_of(docker: &Docker, image: &str) -> Result<Option<String>, ImageError> {
    let details = docker
        .require_image(image)
        .await
        .map_err(ImageError::docker(image))?;
    let service = details
        .labels
        .get(labels::SERVICE)
        .cloned()
        .unwrap_or_default();
    let release = details
        .labels
        .get(labels::RELEASE)
        .cloned()
        .unwrap_or_default();
    let candidates = docker
        .list_images_by_label(labels::ROLE, Some("libs"))
        .await
        .map_err(ImageError::docker(image))?;
    for c in candidates {
        if c.labels.get(labels::SERVICE) != Some(&service)
            || c.labels.get(labels::RELEASE) != Some(&release)
        {
            continue;
        }
        let Some(libs) = docker
            .inspect_image(&c.id)
            .await
            .map_err(ImageError::docker(image))?
        else {
            continue;
        };
        if details.layers.starts_with(&libs.layers) {
            return Ok(c.repo_tags.first().cloned());
        }
    }
    Ok(None)
}

/// sha256 of a value's JSON form: recipe hashes.
pub(crate) fn recipe_hash(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}
