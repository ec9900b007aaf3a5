//! Connecting to an engine: the local one ([`Docker::connect`]) or any by address
//! ([`Docker::connect_to`]: a unix socket, plain TCP, or TCP with TLS client certificates).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tracing::debug;

use super::retry::{self, Backoff};
use super::DockerError;

/// A connection to a Docker Engine.
#[derive(Debug, Clone)]
pub struct Docker {
    pub(crate) inner: bollard::Docker,
    host: String,
    backoff: Backoff,
}

/// Where an engine listens, and how to prove who we are to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineAddress {
    /// `unix:///var/run/docker.sock`, `tcp://198.51.100.10:2376` (also `http://`,
    /// `https://`). SSH (`ssh://`) is not supported: bollard 0.18 has no SSH transport.
    pub url: String,
    /// Client certificate and the CA the engine's certificate must be signed by. With it,
    /// a `tcp://` address is spoken to over TLS.
    pub tls: Option<TlsFiles>,
}

/// PEM files for TLS with a client certificate (`dockerd --tlsverify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA the engine's server certificate must chain to (`ca.pem`).
    pub ca: PathBuf,
    /// Our client certificate (`cert.pem`).
    pub cert: PathBuf,
    /// Its private key (`key.pem`).
    pub key: PathBuf,
}

impl EngineAddress {
    /// The local engine's default socket.
    pub fn local() -> EngineAddress {
        EngineAddress {
            url: "unix:///var/run/docker.sock".into(),
            tls: None,
        }
    }
}

impl fmt::Display for EngineAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)?;
        if self.tls.is_some() {
            f.write_str(" (TLS)")?;
        }
        Ok(())
    }
}

/// Requests may take long: importing a 200 MB root file system or waiting for a
/// build step that installs a venv on fuse-overlayfs. bollard's default (two
/// minutes) would cut those off.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long [`Docker::connect_to`] waits for the engine's first answer. bollard sets no
/// TCP connect timeout, so an address that drops packets would otherwise hang for
/// minutes (the kernel's SYN retries).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
                source: Box::new(source),
            })?
            .with_timeout(REQUEST_TIMEOUT);
        let inner = inner
            .negotiate_version()
            .await
            .map_err(|source| DockerError::Unreachable {
                host: host.clone(),
                source: Box::new(source),
            })?;
        debug!(%host, api = %inner.client_version(), "connected to the Docker Engine");
        Ok(Docker {
            inner,
            host,
            backoff: Backoff::ENGINE,
        })
    }

    /// Connects to the engine at `address` and negotiates the API version. Fails within
    /// a few seconds (never hangs) when nothing answers there, and at once when the
    /// engine refuses us (a TLS engine without our client certificate, a missing
    /// socket, a CA that did not sign the engine's certificate). Does not retry.
    pub async fn connect_to(address: &EngineAddress) -> Result<Docker, DockerError> {
        let host = address.url.clone();
        let connect_error = |source| DockerError::Connect {
            host: host.clone(),
            source: Box::new(source),
        };
        let version = bollard::API_DEFAULT_VERSION;
        let secs = REQUEST_TIMEOUT.as_secs();
        let (scheme, rest) = address.url.split_once("://").unwrap_or(("", &address.url));
        let inner = match (scheme, &address.tls) {
            ("unix", None) => bollard::Docker::connect_with_unix(&address.url, secs, version)
                .map_err(connect_error)?,
            ("tcp" | "http", None) => {
                bollard::Docker::connect_with_http(&format!("tcp://{rest}"), secs, version)
                    .map_err(connect_error)?
            }
            ("tcp" | "https", Some(tls)) => {
                // bollard reads the CA now but the key and certificate only during the
                // handshake, where a missing file reads as a TLS failure: check first.
                for path in [&tls.ca, &tls.cert, &tls.key] {
                    std::fs::metadata(path).map_err(|source| DockerError::TlsFile {
                        host: host.clone(),
                        path: path.clone(),
                        source,
                    })?;
                }
                bollard::Docker::connect_with_ssl(
                    &format!("tcp://{rest}"),
                    &tls.key,
                    &tls.cert,
                    &tls.ca,
                    secs,
                    version,
                )
                .map_err(connect_error)?
            }
            _ => {
                return Err(DockerError::UnsupportedAddress {
                    host,
                    tls: address.tls.is_some(),
                })
            }
        };
        let negotiated = tokio::time::timeout(CONNECT_TIMEOUT, inner.negotiate_version()).await;
        let inner = match negotiated {
            Ok(Ok(inner)) => inner,
            Ok(Err(source)) => {
                return Err(DockerError::Unreachable {
                    host,
                    source: Box::new(source),
                })
            }
            Err(_) => {
                return Err(DockerError::ConnectTimedOut {
                    host,
                    after: CONNECT_TIMEOUT,
                })
            }
        };
        debug!(%host, api = %inner.client_version(), "connected to the Docker Engine");
        Ok(Docker {
            inner,
            host,
            backoff: Backoff::ENGINE,
        })
    }

    /// The address this client talks to (`unix:///...`, `tcp://host:port`), for messages.
    pub fn address(&self) -> &str {
        &self.host
    }

    /// The address this client talks to; the same as [`Docker::address`].
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API version agreed with the engine, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.inner.client_version().to_string()
    }

    /// The engine's own version, e.g. `20.10.24`. Retried while the engine refuses
    /// connections.
    pub async fn engine_version(&self) -> Result<String, DockerError> {
        let v = self
            .retrying("version", &self.host, || self.inner.version())
            .await
            .map_err(self.api_error("version", self.host.clone()))?;
        Ok(v.version.unwrap_or_default())
    }

    /// The underlying bollard client, for calls this layer does not wrap yet.
    pub fn bollard(&self) -> &bollard::Docker {
        &self.inner
    }

    /// Runs a call that is safe to repeat, retrying while the engine refuses
    /// connections or is busy (see [`retry::retry`]).
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        call: &'static str,
        target: &str,
        op: F,
    ) -> Result<T, bollard::errors::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, bollard::errors::Error>>,
    {
        retry::retry(&self.backoff, call, target, op).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn an_unsupported_scheme_is_an_error_naming_the_address() {
        let address = EngineAddress {
            url: "ssh://root@site-b".into(),
            tls: None,
        };
        let e = Docker::connect_to(&address).await.expect_err("no ssh");
        assert!(e.to_string().contains("ssh://root@site-b"), "{e}");
    }

    #[tokio::test]
    async fn missing_tls_files_are_named() {
        let address = EngineAddress {
            url: "tcp://127.0.0.1:2376".into(),
            tls: Some(TlsFiles {
                ca: "/nonexistent/ca.pem".into(),
                cert: "/nonexistent/cert.pem".into(),
                key: "/nonexistent/key.pem".into(),
            }),
        };
        let e = Docker::connect_to(&address).await.expect_err("no files");
        assert!(
            matches!(&e, DockerError::TlsFile { path, .. } if path.ends_with("ca.pem")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_address_fails_at_once_naming_it() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let address = EngineAddress {
            url: format!("tcp://127.0.0.1:{port}"),
            tls: None,
        };
        let start = Instant::now();
        let e = Docker::connect_to(&address)
            .await
            .expect_err("nobody there");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(e.to_string().contains(&address.url), "{e}");
    }
}
