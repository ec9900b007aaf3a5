//! The Docker Engine, through bollard. [`Docker`] is cheap to clone: clones
//! share one connection pool.

pub mod client;
pub mod containers;
pub mod copy;
pub mod exec;
pub mod files;
pub mod images;
pub mod listing;
pub mod networks;
pub(crate) mod retry;

pub use client::{Docker, EngineAddress, TlsFiles};

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
        source: Box<bollard::errors::Error>,
    },
    /// The engine did not answer the version negotiation: it is not running, this
    /// user may not use its socket, or it refused our TLS client certificate.
    #[error(
        "the Docker Engine at {host} does not answer or refuses us \
         (is it running, may this user or certificate use it?)"
    )]
    Unreachable {
        /// The address tried.
        host: String,
        /// bollard's error.
        #[source]
        source: Box<bollard::errors::Error>,
    },
    /// Nothing answered at a remote address within the connect timeout.
    #[error("the Docker Engine at {host} did not answer within {after:?} (is the address right, is it reachable?)")]
    ConnectTimedOut {
        /// The address tried.
        host: String,
        /// How long we waited.
        after: std::time::Duration,
    },
    /// An address whose scheme this layer cannot speak (`ssh://`: bollard 0.18 has no
    /// SSH transport), or `unix://` with TLS files.
    #[error("cannot speak to a Docker Engine at {host} (TLS: {tls}): use unix:// or tcp:// (with or without TLS)")]
    UnsupportedAddress {
        /// The address given.
        host: String,
        /// Whether TLS files came with it.
        tls: bool,
    },
    /// A TLS file (CA, certificate, key) for a remote engine cannot be read.
    #[error("cannot read TLS file {path} for the Docker Engine at {host}")]
    TlsFile {
        /// The engine's address.
        host: String,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file to copy into a container has a path the engine would not place there.
    #[error("cannot copy a file to `{path}` in container {container}: {reason}")]
    InvalidFilePath {
        /// The container.
        container: String,
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tar archive of files for a container could not be built.
    #[error("cannot pack files for container {container}")]
    PackFiles {
        /// The container.
        container: String,
        /// The I/O error from the tar builder.
        #[source]
        source: std::io::Error,
    },
    /// A file to copy out of a container is not there (or is not a regular file).
    #[error("container {container} has no file {path}")]
    FileNotFound {
        /// The container.
        container: String,
        /// The path asked for.
        path: String,
    },
    /// The archive the engine sent for a file could not be read.
    #[error("cannot read the archive of {path} from container {container}")]
    UnpackFile {
        /// The container.
        container: String,
        /// The path asked for.
        path: String,
        /// The I/O error from the tar reader.
        #[source]
        source: std::io::Error,
    },
    /// Copying an image between engines failed while reading it from the source engine.
    #[error("cannot export image {image} from the Docker Engine at {from}")]
    ExportImage {
        /// The image.
        image: String,
        /// The source engine's address.
        from: String,
        /// bollard's error.
        #[source]
        source: Box<bollard::errors::Error>,
    },
    /// Copying an image between engines failed while loading it into the target engine.
    #[error("cannot load image {image} into the Docker Engine at {to}")]
    LoadImage {
        /// The image.
        image: String,
        /// The target engine's address.
        to: String,
        /// bollard's error.
        #[source]
        source: Box<bollard::errors::Error>,
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
    #[error("Docker Engine call `{call}` on {target} failed (engine {engine})")]
    Api {
        /// The call, e.g. `commit`.
        call: &'static str,
        /// What it was about: an image, a container.
        target: String,
        /// The engine's address ([`Docker::address`]).
        engine: String,
        /// bollard's error, with the engine's message.
        #[source]
        source: Box<bollard::errors::Error>,
    },
}

impl Docker {
    /// Turns bollard's error for `call` on `target` into [`DockerError::Api`], naming
    /// this engine.
    pub(crate) fn api_error(
        &self,
        call: &'static str,
        target: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let target = target.into();
        let engine = self.address().to_string();
        move |source| DockerError::Api {
            call,
            target,
            engine,
            source: Box::new(source),
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
