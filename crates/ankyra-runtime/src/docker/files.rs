//! Files copied into containers: what a remote engine gets instead of bind mounts (it
//! cannot see this machine's file system).

use std::io::Read;

use bollard::container::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::TryStreamExt;
use tracing::debug;

use super::{is_not_found, Docker, DockerError};

/// A file placed in a container through the engine API (`PUT /containers/{id}/archive`).
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerFile {
    /// Absolute path inside the container; missing parent folders are created
    /// (root-owned, mode 0755) by the engine.
    pub path: String,
    /// Its bytes.
    pub content: Vec<u8>,
    /// Permission bits, e.g. `0o644`, `0o600`. The owner is root.
    pub mode: u32,
}

impl std::fmt::Debug for ContainerFile {
    // Contents may be secrets (config files with passwords): never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerFile")
            .field("path", &self.path)
            .field("bytes", &self.content.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// Why files could not be packed; turned into a [`DockerError`] naming the container.
#[derive(Debug)]
pub(crate) enum PackError {
    Path { path: String, reason: &'static str },
    Io(std::io::Error),
}

impl PackError {
    fn for_container(self, container: &str) -> DockerError {
        match self {
            PackError::Path { path, reason } => DockerError::InvalidFilePath {
                container: container.to_string(),
                path,
                reason,
            },
            PackError::Io(source) => DockerError::PackFiles {
                container: container.to_string(),
                source,
            },
        }
    }
}

/// Checks a path and returns it relative to `/`, as the archive stores it.
fn relative_path(path: &str) -> Result<&str, PackError> {
    let invalid = |reason| PackError::Path {
        path: path.to_string(),
        reason,
    };
    let rel = path
        .strip_prefix('/')
        .ok_or_else(|| invalid("the path must be absolute"))?;
    if rel.is_empty() || rel.ends_with('/') {
        return Err(invalid("the path must name a file, not a folder"));
    }
    if rel
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(invalid("the path must not contain `.`, `..` or `//`"));
    }
    Ok(rel)
}

/// A tar archive (in memory) holding `files`, owned by root with their modes, to be
/// extracted at `/`. Only files: folders that exist keep their owner and mode, missing
/// ones are made by the engine.
pub(crate) fn pack(files: &[ContainerFile]) -> Result<Vec<u8>, PackError> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let rel = relative_path(&file.path)?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(file.content.len() as u64);
        header.set_mode(file.mode & 0o7777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        // append_data sets the path (with GNU long-name entries when needed) and checksum.
        builder
            .append_data(&mut header, rel, file.content.as_slice())
            .map_err(PackError::Io)?;
    }
    builder.into_inner().map_err(PackError::Io)
}

impl Docker {
    /// Writes `files` into container `container` (created or running), replacing files
    /// at those paths. Safe to repeat, so retried while the engine refuses connections.
    pub async fn put_files(
        &self,
        container: &str,
        files: &[ContainerFile],
    ) -> Result<(), DockerError> {
        if files.is_empty() {
            return Ok(());
        }
        let archive = pack(files).map_err(|e| e.for_container(container))?;
        let archive = bytes::Bytes::from(archive);
        debug!(
            container,
            files = files.len(),
            bytes = archive.len(),
            "copying files into container"
        );
        self.retrying("put files", container, || {
            self.inner.upload_to_container(
                container,
                Some(UploadToContainerOptions {
                    path: "/",
                    no_overwrite_dir_non_dir: "",
                }),
                archive.clone(),
            )
        })
        .await
        .map_err(self.api_error("put files", container))
    }
}

/// The content of the first regular file in a tar archive, if any.
fn first_file(archive: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            let mut content = Vec::new();
            entry.read_to_end(&mut content)?;
            return Ok(Some(content));
        }
    }
    Ok(None)
}

impl Docker {
    /// The content of file `path` in container `container` (running or stopped), e.g.
    /// a dump a one-shot job wrote, where a remote engine's files cannot be read from
    /// here. Held in memory: meant for files of a few hundred MB at most. Retried while
    /// the engine refuses connections.
    pub async fn download_file(&self, container: &str, path: &str) -> Result<Vec<u8>, DockerError> {
        let not_found = || DockerError::FileNotFound {
            container: container.to_string(),
            path: path.to_string(),
        };
        let downloaded = self
            .retrying("download file", container, || {
                self.inner
                    .download_from_container(container, Some(DownloadFromContainerOptions { path }))
                    .try_fold(Vec::new(), |mut all, chunk| async move {
                        all.extend_from_slice(&chunk);
                        Ok(all)
                    })
            })
            .await;
        let archive = match downloaded {
            Ok(archive) => archive,
            Err(e) if is_not_found(&e) => return Err(not_found()),
            Err(e) => {
                return Err(self
                    .api_error("download file", format!("{container}:{path}"))(
                    e
                ))
            }
        };
        debug!(
            container,
            path,
            bytes = archive.len(),
            "copied a file out of a container"
        );
        first_file(&archive)
            .map_err(|source| DockerError::UnpackFile {
                container: container.to_string(),
                path: path.to_string(),
                source,
            })?
            .ok_or_else(not_found)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn file(path: &str, content: &str, mode: u32) -> ContainerFile {
        ContainerFile {
            path: path.into(),
            content: content.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn files_are_packed_root_owned_with_their_modes_relative_to_the_root() {
        let long = format!("/etc/{}/x.conf", "d".repeat(120));
        let tar = pack(&[
            file("/etc/keystone/keystone.conf", "[DEFAULT]\n", 0o640),
            file("/srv/run.sh", "#!/bin/sh\n", 0o755),
            file(&long, "long", 0o600),
        ])
        .expect("packs");
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let header = entry.header().clone();
            let path = entry.path().expect("path").display().to_string();
            let mut content = String::new();
            entry.read_to_string(&mut content).expect("content");
            assert_eq!(header.uid().expect("uid"), 0);
            assert_eq!(header.gid().expect("gid"), 0);
            seen.push((path, header.mode().expect("mode"), content));
        }
        assert_eq!(
            seen,
            vec![
                (
                    "etc/keystone/keystone.conf".into(),
                    0o640,
                    "[DEFAULT]\n".into()
                ),
                ("srv/run.sh".into(), 0o755, "#!/bin/sh\n".into()),
                (long[1..].to_string(), 0o600, "long".into()),
            ]
        );
    }

    #[test]
    fn paths_the_engine_would_misplace_are_refused() {
        for bad in ["etc/x", "/", "/etc/", "/etc/../x", "/etc//x", "/./x"] {
            let e = pack(&[file(bad, "", 0o644)])
                .expect_err(bad)
                .for_container("c1");
            assert!(
                matches!(&e, DockerError::InvalidFilePath { path, container, .. }
                    if path == bad && container == "c1"),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn a_downloaded_archive_yields_its_file_and_a_folder_yields_none() {
        let tar = pack(&[file("/tmp/dump.sql", "CREATE TABLE t;\n", 0o600)]).expect("packs");
        assert_eq!(
            first_file(&tar).expect("reads").as_deref(),
            Some(&b"CREATE TABLE t;\n"[..])
        );
        let mut folder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        folder
            .append_data(&mut header, "srv/", std::io::empty())
            .expect("packs");
        let folder = folder.into_inner().expect("packs");
        assert_eq!(first_file(&folder).expect("reads"), None);
    }

    #[test]
    fn debug_output_never_shows_contents() {
        let shown = format!("{:?}", file("/etc/secret", "hunter2", 0o600));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("600"), "{shown}");
    }
}
