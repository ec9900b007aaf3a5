//! Moving an image from one engine to another without a registry: `docker save` on
//! one, `docker load` on the other, streamed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bollard::image::ImportImageOptions;
use futures_util::{StreamExt, TryStreamExt};
use tracing::{debug, info};

use super::{Docker, DockerError};

/// A progress line every this many bytes.
const PROGRESS_EVERY: u64 = 64 * 1024 * 1024;

/// What [`Docker::copy_image`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageCopy {
    /// The image's ID (the same on both engines).
    pub id: String,
    /// Bytes of the archive streamed; 0 when the target had the image already.
    pub bytes: u64,
    /// Seconds the export and load took together.
    pub seconds: f64,
}

impl ImageCopy {
    /// Throughput in MB/s (10^6 bytes), 0 when nothing moved.
    pub fn megabytes_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

/// Whether `reference` is an image ID (`sha256:...` or a bare hex prefix) rather than
/// a `repository[:tag]` name.
fn is_id(reference: &str) -> bool {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    reference.starts_with("sha256:")
        || (hex.len() >= 12 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Splits `repo[:tag]` (the registry may carry a port: `host:5000/repo:tag`).
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

impl Docker {
    /// Makes image `image` (a name or ID on this engine) exist on engine `to`, with the
    /// same ID and the name `image` (or, given an ID, every name it has here). Does
    /// nothing but tagging when `to` has that ID already. The archive is streamed from
    /// this engine's export into `to`'s load, never held whole in memory; progress is
    /// logged at info every 64 MiB.
    pub async fn copy_image(&self, to: &Docker, image: &str) -> Result<ImageCopy, DockerError> {
        let source = self.require_image(image).await?;
        let tags: Vec<String> = if is_id(image) {
            source.repo_tags.clone()
        } else {
            vec![image.to_string()]
        };
        let start = Instant::now();
        let mut bytes = 0;
        if to.inspect_image(&source.id).await?.is_some() {
            debug!(
                image,
                to = to.address(),
                "the target engine has the image already"
            );
        } else {
            bytes = self.stream_image(to, image).await?;
            // The load answers before the image is visible on some engines: look.
            to.require_image(&source.id).await?;
        }
        for tag in &tags {
            let (repo, tag) = split_tag(tag);
            to.tag_image(&source.id, repo, tag).await?;
        }
        let copy = ImageCopy {
            id: source.id,
            bytes,
            seconds: start.elapsed().as_secs_f64(),
        };
        info!(
            image,
            from = self.address(),
            to = to.address(),
            bytes = copy.bytes,
            seconds = format_args!("{:.1}", copy.seconds),
            mb_per_s = format_args!("{:.1}", copy.megabytes_per_second()),
            "image copied"
        );
        Ok(copy)
    }

    /// Pipes `GET /images/{image}/get` here into `POST /images/load` on `to`; returns
    /// the bytes moved.
    async fn stream_image(&self, to: &Docker, image: &str) -> Result<u64, DockerError> {
        let moved = Arc::new(AtomicU64::new(0));
        // The load's body is a stream of bytes that cannot carry an error: an export
        // error ends it early (the load then fails on a cut archive) and is kept here
        // to be reported instead of the load's.
        let export_error: Arc<Mutex<Option<bollard::errors::Error>>> = Arc::default();
        let body = {
            let moved = Arc::clone(&moved);
            let export_error = Arc::clone(&export_error);
            let image = image.to_string();
            let from = self.address().to_string();
            self.inner
                .export_image(&image)
                .map(move |chunk| match chunk {
                    Ok(chunk) => {
                        let before = moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        let after = before + chunk.len() as u64;
                        if after / PROGRESS_EVERY > before / PROGRESS_EVERY {
                            info!(image, from, mib = after >> 20, "copying image");
                        }
                        Some(chunk)
                    }
                    Err(e) => {
                        if let Ok(mut slot) = export_error.lock() {
                            slot.get_or_insert(e);
                        }
                        None
                    }
                })
                .take_while(|chunk| std::future::ready(chunk.is_some()))
                .filter_map(std::future::ready)
        };
        let loaded = to
            .inner
            .import_image_stream(ImportImageOptions { quiet: true }, body, None)
            .try_collect::<Vec<_>>()
            .await;
        let export_failed = export_error.lock().ok().and_then(|mut slot| slot.take());
        if let Some(source) = export_failed {
            return Err(DockerError::ExportImage {
                image: image.to_string(),
                from: self.address().to_string(),
                source: Box::new(source),
            });
        }
        loaded.map_err(|source| DockerError::LoadImage {
            image: image.to_string(),
            to: to.address().to_string(),
            source: Box::new(source),
        })?;
        Ok(moved.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_told_apart() {
        assert!(is_id("sha256:0123456789abcdef"));
        assert!(is_id("0123456789ab"));
        assert!(!is_id("ankyra/keystone:29.1.0"));
        assert!(!is_id("cafe"));
    }

    #[test]
    fn tags_split_after_the_last_colon_unless_it_is_a_registry_port() {
        assert_eq!(split_tag("a/b:1.0"), ("a/b", "1.0"));
        assert_eq!(split_tag("reg:5000/a/b:2"), ("reg:5000/a/b", "2"));
        assert_eq!(split_tag("reg:5000/a/b"), ("reg:5000/a/b", "latest"));
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
    }
}
