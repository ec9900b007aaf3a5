//! One build step: a container from an image runs a shell script, and is
//! committed as a new (untagged) image. This replaces Dockerfile steps: the
//! classic builder costs ~8–10 s per step here, and a bind mount keeps the
//! wheels out of every layer, which `COPY` could not.

use std::sync::atomic::{AtomicU64, Ordering};

use ankyra_runtime::{BindMount, CommitOptions, ContainerSpec, Docker};
use tracing::{debug, warn};

use crate::error::ImageError;

/// How many output lines a failed step reports.
const TAIL_LINES: usize = 40;

/// Prefix of every build container's name, so leftovers can be found.
pub(crate) const BUILD_CONTAINER_PREFIX: &str = "ankyra-build-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) struct Step<'a> {
    /// The image the build is for (for errors and names).
    pub image: &'a str,
    /// What the step does (for errors and progress).
    pub what: &'a str,
    /// Image to start from.
    pub from: &'a str,
    /// Shell script run with `sh -ec`.
    pub script: String,
    pub binds: Vec<BindMount>,
    pub commit: CommitOptions,
}

/// Removes the container even when the build (or read) future is dropped
/// (cancelled), unless disarmed.
pub(crate) struct Cleanup {
    pub(crate) docker: Docker,
    pub(crate) name: String,
    pub(crate) armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let docker = self.docker.clone();
        let name = std::mem::take(&mut self.name);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = docker.remove_container(&name).await {
                    warn!(%name, error = %e, "could not remove a build container");
                }
            });
        }
    }
}

impl Step<'_> {
    /// Runs the step and commits it under a temporary reference
    /// (`ankyra-tmp/...`), which it returns; [`promote`] moves the real tag.
    pub(crate) async fn run(self, docker: &Docker) -> Result<String, ImageError> {
        let slug: String = self
            .image
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = format!(
            "{BUILD_CONTAINER_PREFIX}{slug}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let spec = ContainerSpec {
            name: name.clone(),
            image: self.from.to_string(),
            cmd: Some(vec!["/bin/sh".into(), "-ec".into(), self.script.clone()]),
            binds: self.binds.clone(),
            ..Default::default()
        };
        debug!(image = self.image, step = self.what, container = %name, "running build step");
        let mut cleanup = Cleanup {
            docker: docker.clone(),
            name: name.clone(),
            armed: true,
        };
        let outcome = docker
            .run_to_completion(&spec, TAIL_LINES)
            .await
            .map_err(ImageError::docker(self.image))?;
        if outcome.exit_code != 0 {
            return Err(ImageError::StepFailed {
                image: self.image.into(),
                step: self.what.into(),
                exit_code: outcome.exit_code,
                output: outcome.output_tail,
            });
        }
        let temp_tag = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let committed = docker
            .commit(&name, TEMP_REPOSITORY, &temp_tag, self.commit)
            .await;
        cleanup.armed = false;
        docker
            .remove_container(&name)
            .await
            .map_err(ImageError::docker(self.image))?;
        committed.map_err(ImageError::docker(self.image))?;
        Ok(format!("{TEMP_REPOSITORY}:{temp_tag}"))
    }
}

/// Where steps commit before the build is known good.
pub(crate) const TEMP_REPOSITORY: &str = "ankyra-tmp/build";

/// Moves a build's result from its temporary reference `temp` to `reference`.
/// On failure the temporary image is removed, so a failed build leaves
/// nothing tagged.
pub(crate) async fn tag_or_discard(
    docker: &Docker,
    temp: &str,
    reference: &str,
) -> Result<(), ImageError> {
    let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    if let Err(e) = docker.tag_image(temp, repo, tag).await {
        let _ = docker.remove_image(temp, false).await;
        return Err(ImageError::docker(reference)(e));
    }
    // Only untags: the image also carries `reference` now.
    docker
        .remove_image(temp, false)
        .await
        .map_err(ImageError::docker(reference))
}

/// Removes build containers a crashed earlier run left behind.
pub(crate) async fn remove_leftovers(docker: &Docker) -> Result<(), ImageError> {
    let names = docker
        .container_names_containing(BUILD_CONTAINER_PREFIX)
        .await
        .map_err(ImageError::docker("leftover build containers"))?;
    for n in names
        .into_iter()
        .filter(|n| n.starts_with(BUILD_CONTAINER_PREFIX))
    {
        // Another process may be building right now: only remove those of
        // processes that are gone.
        let pid = n.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists()) {
            continue;
        }
        debug!(container = %n, "removing a leftover build container");
        docker
            .remove_container(&n)
            .await
            .map_err(ImageError::docker("leftover build containers"))?;
    }
    Ok(())
}
