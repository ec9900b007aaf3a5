//! Config files on the host, mounted read-only into containers. Files that
//! hold secrets are written 0600 in 0700 folders; nothing secret goes into
//! arguments or environment.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ankyra_catalog::ConfigFile;
use ankyra_runtime::{BindMount, ContainerFile};
use sha2::{Digest, Sha256};

use crate::EngineError;

/// The hash of a set of files: paths and contents, order-independent.
pub fn hash(files: &[ConfigFile]) -> String {
    let mut sorted: Vec<&ConfigFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update(f.content.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// The hash of everything an instance is started with: its files, command,
/// environment, working directory and volumes.
pub fn hash_process(p: &ankyra_catalog::ProcessSpec) -> String {
    let mut all = p.files.clone();
    all.push(ConfigFile {
        path: "\0process".into(),
        content: format!(
            "{:?}|{:?}|{:?}|{:?}{}",
            p.command,
            p.env,
            p.workdir,
            p.volumes,
            // Most processes share nothing of the host: their hash stays as it was.
            if p.host == ankyra_catalog::HostAccess::default() {
                String::new()
            } else {
                format!("|{:?}", p.host)
            }
        ),
        secret: false,
    });
    hash(&all)
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Write {
        path: path.display().to_string(),
        source,
    }
}

pub fn ensure_dir(dir: &Path) -> Result<(), EngineError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(write_err(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(write_err(dir))
}

/// Writes `content` to `path` in place (same inode, so a running container's
/// file bind mount sees the change), owner-only when `secret`.
pub fn write_in_place(path: &Path, content: &str, secret: bool) -> Result<(), EngineError> {
    let mode = if secret { 0o600 } else { 0o644 };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(write_err(path))?;
    f.write_all(content.as_bytes()).map_err(write_err(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(write_err(path))
}

/// Writes `files` under `dir` and returns the bind mounts that show them in a container.
pub fn materialize(dir: &Path, files: &[ConfigFile]) -> Result<Vec<BindMount>, EngineError> {
    ensure_dir(dir)?;
    let mut mounts = Vec::new();
    for f in files {
        let name: String = f
            .path
            .trim_start_matches('/')
            .chars()
            .map(|c| if c == '/' { '_' } else { c })
            .collect();
        let host: PathBuf = dir.join(name);
        write_in_place(&host, &f.content, f.secret)?;
        mounts.push(BindMount {
            source: host.display().to_string(),
            target: f.path.clone(),
            read_only: true,
        });
    }
    Ok(mounts)
}

/// How config files reach a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Written under the state directory and bind-mounted: the local engine,
    /// which sees this file system (a file rewritten in place shows at once).
    Bind,
    /// Copied into the container before it starts: a remote engine, which
    /// cannot see this machine's files.
    Copy,
}

/// What a container gets its files through.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Bind mounts (local engine).
    pub binds: Vec<BindMount>,
    /// Files to copy in (remote engine).
    pub files: Vec<ContainerFile>,
}

impl Delivered {
    /// Adds `other`'s mounts and files.
    pub fn extend(&mut self, other: Delivered) {
        self.binds.extend(other.binds);
        self.files.extend(other.files);
    }
}

/// `files` as a container will get them: written under `dir` and mounted
/// (`Bind`), or carried in memory to be copied in (`Copy`; nothing is
/// written on this machine).
pub fn deliver(how: Delivery, dir: &Path, files: &[ConfigFile]) -> Result<Delivered, EngineError> {
    Ok(match how {
        Delivery::Bind => Delivered {
            binds: materialize(dir, files)?,
            files: Vec::new(),
        },
        Delivery::Copy => Delivered {
            binds: Vec::new(),
            files: to_container_files(files),
        },
    })
}

/// Config files as files to copy into a container (secrets owner-only).
pub fn to_container_files(files: &[ConfigFile]) -> Vec<ContainerFile> {
    files
        .iter()
        .map(|f| ContainerFile {
            path: f.path.clone(),
            content: f.content.clone().into_bytes(),
            mode: if f.secret { 0o600 } else { 0o644 },
        })
        .collect()
}

/// Removes a cloud's files.
pub fn remove_all(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_owner_only_and_hash_ignores_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = vec![
            ConfigFile {
                path: "/etc/a.conf".into(),
                content: "a".into(),
                secret: false,
            },
            ConfigFile {
                path: "/etc/s/pw".into(),
                content: "x".into(),
                secret: true,
            },
        ];
        let mounts = materialize(&dir.path().join("c"), &files).expect("written");
        let mode = |p: &str| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&mounts[1].source), 0o600);
        assert_eq!(mode(&mounts[0].source), 0o644);
        let reversed: Vec<ConfigFile> = files.iter().rev().cloned().collect();
        assert_eq!(hash(&files), hash(&reversed));
    }
}
