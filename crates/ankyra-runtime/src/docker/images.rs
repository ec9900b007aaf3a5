//! Images: list, inspect, import, commit, tag, remove.

use std::collections::HashMap;

use bollard::container::Config;
use bollard::image::{
    CommitContainerOptions, CreateImageOptions, ListImagesOptions, RemoveImageOptions,
    TagImageOptions,
};
use bollard::models::HealthConfig;
use futures_util::TryStreamExt;
use serde::Serialize;
use tracing::debug;

use super::{is_not_found, Docker, DockerError};

/// One image as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// `sha256:...`.
    pub id: String,
    /// `repository:tag` references pointing at it (may be empty).
    pub repo_tags: Vec<String>,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Bytes of all its layers, shared ones included.
    pub size: i64,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// What inspecting an image tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDetails {
    /// `sha256:...`.
    pub id: String,
    /// `repository:tag` references pointing at it.
    pub repo_tags: Vec<String>,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Bytes of all its layers, shared ones included.
    pub size: i64,
    /// The layer digests, bottom first: two images share a prefix when they
    /// share layers.
    pub layers: Vec<String>,
    /// Its health check test, if any (`["CMD", ...]`).
    pub healthcheck: Option<Vec<String>>,
}

/// The configuration a commit writes into the new image. Fields left `None`
/// or empty are inherited from the container, which itself inherited them from
/// its image, so set every field the build container changed.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Labels (merged over the parent image's).
    pub labels: HashMap<String, String>,
    /// Health check test (`["CMD", ...]`).
    pub healthcheck: Option<Vec<String>>,
    /// Default command.
    pub cmd: Option<Vec<String>>,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// The commit message shown by `docker history`.
    pub comment: Option<String>,
}

impl Docker {
    /// Images carrying label `key` (with `value`, when given).
    pub async fn list_images_by_label(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<Vec<ImageSummary>, DockerError> {
        let label = match value {
            Some(v) => format!("{key}={v}"),
            None => key.to_string(),
        };
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![label.clone()]);
        let list = self
            .retrying("list images", &label, || {
                self.inner.list_images(Some(ListImagesOptions {
                    all: false,
                    filters: filters.clone(),
                    digests: false,
                }))
            })
            .await
            .map_err(self.api_error("list images", format!("label {label}")))?;
        Ok(list
            .into_iter()
            .map(|i| ImageSummary {
                id: i.id,
                repo_tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                labels: i.labels,
                size: i.size,
                created: i.created,
            })
            .collect())
    }

    /// Inspects an image by reference or ID; `None` when it does not exist.
    pub async fn inspect_image(
        &self,
        reference: &str,
    ) -> Result<Option<ImageDetails>, DockerError> {
        let inspected = self
            .retrying("inspect image", reference, || {
                self.inner.inspect_image(reference)
            })
            .await;
        let i = match inspected {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.api_error("inspect image", reference)(e)),
        };
        let config = i.config.unwrap_or_default();
        Ok(Some(ImageDetails {
            id: i.id.unwrap_or_default(),
            repo_tags: i.repo_tags.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
            size: i.size.unwrap_or_default(),
            layers: i.root_fs.and_then(|r| r.layers).unwrap_or_default(),
            healthcheck: config.healthcheck.and_then(|h| h.test),
        }))
    }

    /// Like [`Docker::inspect_image`], but a missing image is an error.
    pub async fn require_image(&self, reference: &str) -> Result<ImageDetails, DockerError> {
        self.inspect_image(reference)
            .await?
            .ok_or_else(|| DockerError::ImageNotFound {
                reference: reference.into(),
            })
    }

    /// Sizes of the image's history entries, newest first (what each step added).
    pub async fn image_layer_sizes(&self, reference: &str) -> Result<Vec<i64>, DockerError> {
        let h = self
            .retrying("image history", reference, || {
                self.inner.image_history(reference)
            })
            .await
            .map_err(self.api_error("image history", reference))?;
        Ok(h.into_iter().map(|e| e.size).collect())
    }

    /// Imports a root file system tar as image `repo:tag` (`docker import`) and
    /// returns its ID. `changes` are Dockerfile lines (`LABEL a=b`, `ENV ...`).
    pub async fn import_rootfs(
        &self,
        tar: bytes::Bytes,
        repo: &str,
        tag: &str,
        changes: &[&str],
    ) -> Result<String, DockerError> {
        let reference = format!("{repo}:{tag}");
        debug!(%reference, bytes = tar.len(), "importing a root file system");
        let options = CreateImageOptions {
            from_src: "-",
            repo,
            tag,
            changes: changes.to_vec(),
            ..Default::default()
        };
        self.inner
            .create_image(Some(options), Some(tar), None)
            .try_collect::<Vec<_>>()
            .await
            .map_err(self.api_error("import", reference.clone()))?;
        Ok(self.require_image(&reference).await?.id)
    }

    /// Commits a container as image `repo:tag` and returns the image's ID.
    /// Builders commit under a temporary name and move the real tag only once
    /// the whole build worked.
    pub async fn commit(
        &self,
        container: &str,
        repo: &str,
        tag: &str,
        options: CommitOptions,
    ) -> Result<String, DockerError> {
        let config = Config::<String> {
            labels: Some(options.labels),
            healthcheck: options.healthcheck.map(|test| HealthConfig {
                test: Some(test),
                ..Default::default()
            }),
            cmd: options.cmd,
            env: (!options.env.is_empty()).then_some(options.env),
            working_dir: options.working_dir,
            ..Default::default()
        };
        self.inner
            .commit_container(
                CommitContainerOptions {
                    container: container.to_string(),
                    repo: repo.to_string(),
                    tag: tag.to_string(),
                    comment: options.comment.unwrap_or_default(),
                    pause: false,
                    ..Default::default()
                },
                config,
            )
            .await
            .map_err(self.api_error("commit", container))?;
        // bollard 0.18 reads the answer's `Id` under another key (`ID`), so
        // ask the engine for the new image instead.
        Ok(self.require_image(&format!("{repo}:{tag}")).await?.id)
    }

    /// Points `repo:tag` at `image` (an ID or reference), moving the tag if it
    /// pointed elsewhere.
    pub async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
        debug!(%image, %repo, %tag, "tagging");
        self.retrying("tag", image, || {
            self.inner
                .tag_image(image, Some(TagImageOptions { repo, tag }))
        })
        .await
        .map_err(self.api_error("tag", format!("{image} as {repo}:{tag}")))
    }

    /// Removes an image or one of its tags; a missing image is not an error.
    /// With `force`, removes it even when tagged several times.
    pub async fn remove_image(&self, reference: &str, force: bool) -> Result<(), DockerError> {
        match self
            .retrying("remove image", reference, || {
                self.inner.remove_image(
                    reference,
                    Some(RemoveImageOptions {
                        force,
                        noprune: false,
                    }),
                    None,
                )
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.api_error("remove image", reference)(e)),
        }
    }
}
