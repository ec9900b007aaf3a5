//! Ankyra's container runtime: a small layer over the Docker Engine API.
//!
//! Start with [`Docker::connect`], which talks to the local engine (or
//! `DOCKER_HOST`) with a negotiated API version: the engines Ankyra runs on
//! speak API 1.41 and refuse newer clients. [`Docker::connect_to`] talks to any
//! engine by [`EngineAddress`]: a unix socket, plain TCP, or TCP with TLS client
//! certificates ([`TlsFiles`]) for another site's engine. Calls that are safe to
//! repeat (reads, start, stop, remove) are retried for ~20 s while an engine
//! refuses connections; create-container and exec never are. The calls are
//! grouped the way the engine groups them:
//!
//! - images ([`docker::images`]): list by label, inspect, history, import a
//!   root file system tar, commit a container with config changes, tag, remove;
//! - containers ([`docker::containers`]): create from a [`ContainerSpec`]
//!   (bind mounts, env, labels), start, wait, logs, remove, and
//!   [`Docker::run_to_completion`] for one-shot jobs;
//! - files ([`docker::files`]): [`ContainerFile`]s copied into a container, at
//!   creation ([`ContainerSpec::files`]) or later ([`Docker::put_files`]), where a
//!   remote engine cannot bind-mount this machine's files;
//! - copying an image between engines without a registry ([`Docker::copy_image`]).
//!
//! Every failure is a [`DockerError`] naming the call, its target and the engine; bollard's
//! error is kept as the source. Networks, volumes and exec come later with the
//! deploy engine.

pub mod docker;

pub use docker::containers::{
    BindMount, ContainerSpec, HostSettings, NetworkAttachment, RunOutcome, VolumeMount,
};
pub use docker::copy::ImageCopy;
pub use docker::files::ContainerFile;
pub use docker::images::{CommitOptions, ImageDetails, ImageSummary};
pub use docker::listing::ContainerInfo;
pub use docker::networks::NetworkInfo;
pub use docker::{Docker, DockerError, EngineAddress, TlsFiles};
