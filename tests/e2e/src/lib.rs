//! Harness for Ankyra's end-to-end tests: drives the real `ankyra` binary, the
//! `openstack` client and (with the `docker` feature) the Docker Engine API, black-box.
//!
//! - [`Cloud`]: a cloud deployed from `ankyra init` output under a unique name, destroyed
//!   with `--purge` on drop (unless `ANKYRA_E2E_KEEP=1`).
//! - [`Serve`]: `ankyra serve` as a child process, stopped with SIGTERM by its PID.
//! - [`status::Status`]: the parsed `ankyra status -o json`.
//! - `engine::Engine` (feature `docker`): inspect, stop, start, kill and remove containers.
//! - [`disk::LoopDisk`]: a small ext4 disk on a loop device, for a volume a test fills.
//! - `api_load::ApiLoad` (feature `docker`): one request per second on every OpenStack
//!   API through the VIP, each on a new connection, counted per API and phase.
//! - [`releases`]: the 2026.1 record, step times and the critical path of an apply.
//! - [`secrets`]: a cloud's generated secrets, read from its store, and a search that
//!   names where one shows up without printing it.
//!
//! Progress goes straight to the process's stderr (not through libtest's capture), so CI
//! shows what is happening while the long deploy runs.

#[cfg(feature = "docker")]
pub mod api_load;
pub mod cloud;
pub mod clouds;
pub mod disk;
#[cfg(feature = "docker")]
pub mod engine;
#[cfg(feature = "docker")]
pub mod guests;
#[cfg(feature = "docker")]
pub mod load;
pub mod log;
pub mod multihost;
pub mod paths;
pub mod process;
pub mod releases;
pub mod secrets;
pub mod status;
pub mod wait;

pub use cloud::{Cloud, Serve};
pub use status::Status;
