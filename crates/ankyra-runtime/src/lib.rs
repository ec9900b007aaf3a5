//! Ankyra's container runtime: a small layer over the Docker Engine API.
//!
//! Start with [`Docker::connect`], which talks to the local engine (or
//! `DOCKER_HOST`) with a negotiated API version: the engines Ankyra runs on
//! speak API 1.41 and refuse newer clients. The calls are grouped the way the
//! engine groups them:
//!
//! - images ([`docker::images`]): list by label, inspect, history, import a
//!   root file system tar, commit a container with config changes, tag, remove;
//! - containers ([`docker::containers`]): create from a [`ContainerSpec`]
//!   (bind mounts, env, labels), start, wait, logs, remove, and
//!   [`Docker::run_to_completion`] for one-shot jobs.
//!
//! Every failure is a [`DockerError`] naming the call and its target; bollard's
//! error is kept as the source. Networks, volumes and exec come later with the
//! deploy engine.

pub mod docker;

pub use docker::containers::{
    BindMount, ContainerSpec, NetworkAttachment, RunOutcome, VolumeMount,
};
pub use docker::images::{CommitOptions, ImageDetails, ImageSummary};
pub use docker::listing::ContainerInfo;
pub use docker::networks::NetworkInfo;
pub use docker::{Docker, DockerError};
