//! Orchestration: which images are missing, what they share, what runs in
//! parallel. Shared layers (base, libraries) are built once per run even when
//! several recipes need them at the same time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ankyra_catalog::{ImageRecipe, ImageSource};
use ankyra_runtime::Docker;
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::{Mutex, OnceCell};
use tracing::{info, info_span, Instrument};

use crate::error::ImageError;
use crate::report::{ImageEvent, Reporter};
use crate::wheels::{self, normalize};
use crate::{base, debian, labels, pypi, recipe_hash, step, BuildOptions, BuiltImage};

/// Bumped when the way images are built changes, so old images are rebuilt.
const BUILD_SCHEME: u32 = 1;
/// Bumped when the service layer's script changes (2: unit tests pruned).
const SERVICE_SCHEME: u32 = 3;

pub(crate) struct Builder<'a> {
    docker: &'a Docker,
    opts: &'a BuildOptions,
    reporter: &'a dyn Reporter,
    base: OnceCell<String>,
    libs: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    /// One pip at a time writes the shared wheel cache.
    pip: Mutex<()>,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(
        docker: &'a Docker,
        opts: &'a BuildOptions,
        reporter: &'a dyn Reporter,
    ) -> Self {
        Builder {
            docker,
            opts,
            reporter,
            base: OnceCell::new(),
            libs: Mutex::new(HashMap::new()),
            pip: Mutex::new(()),
        }
    }

    pub(crate) async fn build_all(
        &self,
        recipes: &[ImageRecipe],
    ) -> Result<Vec<BuiltImage>, ImageError> {
        step::remove_leftovers(self.docker).await?;
        // Alternate PyPI and Debian recipes: while one fetches wheels on the
        // host, the other keeps Docker busy.
        let (mut py, mut deb): (Vec<_>, Vec<_>) = recipes
            .iter()
            .enumerate()
            .partition(|(_, r)| matches!(r.source, ImageSource::Pypi { .. }));
        let mut order = Vec::with_capacity(recipes.len());
        while !py.is_empty() || !deb.is_empty() {
            if !py.is_empty() {
                order.push(py.remove(0));
            }
            if !deb.is_empty() {
                order.push(deb.remove(0));
            }
        }
        let mut built: Vec<(usize, BuiltImage)> = futures_util::stream::iter(order)
            .map(|(i, r)| async move { self.build_one(r).await.map(|b| (i, b)) })
            .buffer_unordered(self.opts.parallelism.max(1))
            .try_collect()
            .await?;
        built.sort_by_key(|(i, _)| *i);
        Ok(built.into_iter().map(|(_, b)| b).collect())
    }

    async fn build_one(&self, recipe: &ImageRecipe) -> Result<BuiltImage, ImageError> {
        let reference = recipe.reference();
        let span = info_span!("image", reference = %reference);
        let result = self.build_one_inner(recipe).instrument(span).await;
        match &result {
            Ok(b) => self.reporter.event(ImageEvent::Done { image: b.clone() }),
            Err(e) => self.reporter.event(ImageEvent::Failed {
                reference,
                error: e.to_string(),
            }),
        }
        result
    }

    async fn build_one_inner(&self, recipe: &ImageRecipe) -> Result<BuiltImage, ImageError> {
        let start = Instant::now();
        let reference = recipe.reference();
        self.reporter.event(ImageEvent::Started {
            reference: reference.clone(),
        });
        let base_ref = base::base_reference(self.opts);
        let constraints = match &recipe.source {
            ImageSource::Pypi { release, .. } => Some(wheels::constraints(self.opts, release)?),
            ImageSource::Debian { .. } => None,
        };
        let hash = recipe_hash(&serde_json::json!({
            "scheme": BUILD_SCHEME,
            "service_scheme": SERVICE_SCHEME,
            "recipe": recipe,
            "base": base_ref,
            "constraints": constraints,
        }));
        if let Some(found) = self.existing(&reference, &hash).await? {
            return Ok(BuiltImage {
                seconds: start.elapsed().as_secs_f64(),
                ..found
            });
        }
        // Another ankyra process may be building the same image: wait for it,
        // then look again, so two applies never build one image twice.
        let _lock = self.lock(&reference).await?;
        if let Some(found) = self.existing(&reference, &hash).await? {
            return Ok(BuiltImage {
                seconds: start.elapsed().as_secs_f64(),
                ..found
            });
        }
        let base = self.base().await?;
        self.step(&reference, "build");
        let temp = match (&recipe.source, constraints.as_deref()) {
            (ImageSource::Debian { packages }, _) => {
                debian::build(self.docker, recipe, packages, &base, &hash).await?
            }
            (
                ImageSource::Pypi {
                    package,
                    release,
                    extras,
                    debs,
                },
                Some(constraints),
            ) => {
                let scratch = self.scratch()?;
                let wheel_dir = wheels::wheel_dir(self.opts)?;
                let libs = self
                    .libs(recipe, package, release, extras, debs, constraints, &base)
                    .await?;
                let service_constraints = wheels::without(constraints, package);
                let file = scratch.path().join("service-constraints.txt");
                std::fs::write(&file, &service_constraints).map_err(ImageError::io(&file))?;
                let mut reqs = vec![format!("{package}=={}", recipe.version)];
                reqs.extend(extras.iter().map(|e| e.to_string()));
                {
                    let _pip = self.pip.lock().await;
                    self.step(&reference, "fetch wheels");
                    wheels::ensure_wheels(self.opts, &file, &reqs, scratch.path()).await?;
                }
                self.step(&reference, "install the service");
                let layer = pypi::ServiceLayer {
                    recipe,
                    package,
                    release,
                    extras,
                    hash: &hash,
                    constraints: &service_constraints,
                };
                pypi::build_service(self.docker, &layer, &libs, &wheel_dir, scratch.path()).await?
            }
            (ImageSource::Pypi { .. }, None) => {
                unreachable!("constraints are read for every PyPI recipe")
            }
        };
        step::tag_or_discard(self.docker, &temp, &reference).await?;
        let details = self
            .docker
            .require_image(&reference)
            .await
            .map_err(ImageError::docker(&reference))?;
        let seconds = start.elapsed().as_secs_f64();
        info!(%reference, id = %details.id, seconds, "built");
        Ok(BuiltImage {
            reference,
            id: details.id,
            size: details.size,
            created: true,
            seconds,
        })
    }

    /// The image already tagged `reference` if it was built from `hash`.
    async fn existing(
        &self,
        reference: &str,
        hash: &str,
    ) -> Result<Option<BuiltImage>, ImageError> {
        let found = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(ImageError::docker(reference))?;
        Ok(found
            .filter(|d| d.labels.get(labels::RECIPE_HASH).map(String::as_str) == Some(hash))
            .map(|d| BuiltImage {
                reference: reference.to_string(),
                id: d.id,
                size: d.size,
                created: false,
                seconds: 0.0,
            }))
    }

    async fn base(&self) -> Result<String, ImageError> {
        self.base
            .get_or_try_init(|| async {
                let reference = base::base_reference(self.opts);
                self.reporter.event(ImageEvent::Started {
                    reference: reference.clone(),
                });
                base::ensure_base(self.docker, self.opts).await
            })
            .await
            .cloned()
    }

    #[allow(clippy::too_many_arguments)]
    async fn libs(
        &self,
        recipe: &ImageRecipe,
        package: &str,
        release: &str,
        extras: &[&str],
        debs: &[&str],
        constraints: &str,
        base: &str,
    ) -> Result<String, ImageError> {
        let hash = recipe_hash(&serde_json::json!({
            "scheme": BUILD_SCHEME, "base": base, "package": package, "release": release,
            "extras": extras, "debs": debs, "constraints": constraints,
        }));
        let reference = format!("ankyra/{}-libs:{release}-{}", recipe.service, &hash[..12]);
        let cell = self
            .libs
            .lock()
            .await
            .entry(reference.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            if self
                .docker
                .inspect_image(&reference)
                .await
                .map_err(ImageError::docker(&reference))?
                .is_some()
            {
                return Ok(reference.clone());
            }
            self.reporter.event(ImageEvent::Started {
                reference: reference.clone(),
            });
            let scratch = self.scratch()?;
            let file = scratch.path().join("constraints.txt");
            std::fs::write(&file, constraints).map_err(ImageError::io(&file))?;
            let mut reqs = vec![package.to_string()];
            reqs.extend(extras.iter().map(|e| e.to_string()));
            let resolved = {
                let _pip = self.pip.lock().await;
                self.step(&reference, "fetch wheels");
                wheels::check_python(self.opts).await?;
                wheels::ensure_wheels(self.opts, &file, &reqs, scratch.path()).await?
            };
            let me = normalize(package);
            let libs: Vec<(String, String)> = resolved
                .into_iter()
                .filter(|(n, _)| normalize(n) != me)
                .collect();
            self.step(&reference, "install libraries");
            let layer = pypi::LibsLayer {
                reference: &reference,
                service: recipe.service,
                release,
                hash: &hash,
                debs,
                libs: &libs,
            };
            let wheel_dir = wheels::wheel_dir(self.opts)?;
            let id =
                pypi::build_libs(self.docker, &layer, base, &wheel_dir, scratch.path()).await?;
            step::tag_or_discard(self.docker, &id, &reference).await?;
            Ok(reference.clone())
        })
        .await
        .cloned()
    }

    /// A scratch folder the engine can bind-mount (under the cache, on this host).
    /// An exclusive lock on `reference` across processes, held until dropped.
    async fn lock(&self, reference: &str) -> Result<std::fs::File, ImageError> {
        lock_reference(self.opts, reference).await
    }

    fn scratch(&self) -> Result<tempfile::TempDir, ImageError> {
        let dir = self.opts.cache_dir.join("tmp");
        std::fs::create_dir_all(&dir).map_err(ImageError::io(&dir))?;
        tempfile::TempDir::new_in(&dir).map_err(ImageError::io(&dir))
    }

    fn step(&self, reference: &str, step: &str) {
        self.reporter.event(ImageEvent::Step {
            reference: reference.to_string(),
            step: step.to_string(),
        });
    }
}

/// An exclusive lock on building `reference`, across processes (a file under
/// the cache's `locks`), held until the file is dropped.
pub(crate) async fn lock_reference(
    opts: &BuildOptions,
    reference: &str,
) -> Result<std::fs::File, ImageError> {
    let dir = opts.cache_dir.join("locks");
    std::fs::create_dir_all(&dir).map_err(ImageError::io(&dir))?;
    let name: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(ImageError::io(&path))?;
    let waited = path.clone();
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| ImageError::io(&waited)(std::io::Error::other(e)))?
        .map_err(ImageError::io(&path))
}
