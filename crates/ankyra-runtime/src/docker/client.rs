//! Connecting to the engine.

use std::time::Duration;

use tracing::debug;

use super::DockerError;

/// A connection to a Docker Engine.
#[derive(Debug, Clone)]
pub struct Docker {
    pub(crate) inner: bollard::Docker,
    host: String,
}

/// Requests may take long: importing a 200 MB root file system or waiting for a
/// build step that installs a venv on fuse-overlayfs. bollard's default (two
/// minutes) would cut those off.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

impl Docker {
    /// Connects to the engine at `DOCKER_HOST` (`unix://` or `tcp://`), else the
    /// local socket, and negotiates the API version: the engine decides, so a
    /// 20.10 engine (API 1.41) works although bollard knows newer versions.
    pub async fn connect() -> Result<Docker, DockerError> {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let inner = bollard::Docker::connect_with_defaults()
            .map_err(|source| DockerError::Connect {
                host: host.clone(),
                source,
            })?
            .with_timeout(REQUEST_TIMEOUT);
        let inner = inner
            .negotiate_version()
            .await
            .map_err(|source| DockerError::Unreachable {
                host: host.clone(),
                source,
            })?;
        debug!(%host, api = %inner.client_version(), "connected to the Docker Engine");
        Ok(Docker { inner, host })
    }

    /// The address this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API version agreed with the engine, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.inner.client_version().to_string()
    }

    /// The engine's own version, e.g. `20.10.24`.
    pub async fn engine_version(&self) -> Result<String, DockerError> {
        let v = self
            .inner
            .version()
            .await
            .map_err(DockerError::api("version", self.host.clone()))?;
        Ok(v.version.unwrap_or_default())
    }

    /// The underlying bollard client, for calls this layer does not wrap yet.
    pub fn bollard(&self) -> &bollard::Docker {
        &self.inner
    }
}
