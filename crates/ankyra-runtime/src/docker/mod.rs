//! The Docker Engine, through bollard. [`Docker`] is cheap to clone: clones
//! share one connection pool.

pub mod client;
pub mod containers;
pub mod exec;
pub mod images;
pub mod listing;
pub mod networks;

pub use client::Docker;

/// What went wrong talking to the Docker Engine. The engine's own message is in
/// the source error.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No client could be made for the address (bad `DOCKER_HOST`).
    #[error("cannot use the Docker Engine address {host}")]
    Connect {
        /// The address tried (`DOCKER_HOST` or the default socket).
        host: String,
        /// bollard's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine did not answer the version negotiation: it is not running or
    /// this user may not use its socket.
    #[error("the Docker Engine at {host} does not answer (is it running, may this user use it?)")]
    Unreachable {
        /// The address tried.
        host: String,
        /// bollard's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// An image that must exist does not.
    #[error("image {reference} does not exist")]
    ImageNotFound {
        /// The reference or ID asked for.
        reference: String,
    },
    /// A container that must exist does not.
    #[error("container {name} does not exist")]
    ContainerNotFound {
        /// The container name or ID asked for.
        name: String,
    },
    /// Any other failed engine call.
    #[error("Docker Engine call `{call}` on {target} failed")]
    Api {
        /// The call, e.g. `commit`.
        call: &'static str,
        /// What it was about: an image, a container.
        target: String,
        /// bollard's error, with the engine's message.
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    pub(crate) fn api(
        call: &'static str,
        target: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> Self {
        let target = target.into();
        move |source| DockerError::Api {
            call,
            target,
            source,
        }
    }
}

/// Whether bollard reports the engine's 404 (no such image or container).
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
