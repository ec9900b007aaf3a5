//! Retrying engine calls while the engine briefly refuses connections.
//!
//! An engine restarting (dockerd upgraded, a remote host rebooting its daemon) refuses or
//! resets connections for a few seconds, and a busy one answers 5xx. Calls that are safe
//! to repeat go through [`retry`]: reads (inspect, list, version) and idempotent writes
//! (start, stop, remove, tag, put files). Create-container and exec-create never do:
//! the first attempt may have worked although its answer was lost.

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::warn;

/// How long and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// No new attempt starts later than this after the first one.
    pub window: Duration,
    /// The pause after the first failure; doubled after each one.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Backoff {
    /// What engine calls use: ~20 s, 100 ms doubling to 2 s.
    pub(crate) const ENGINE: Backoff = Backoff {
        window: Duration::from_secs(20),
        first: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };
}

/// Runs `op` until it succeeds, fails with an error that is not transient
/// ([`is_transient`]), or the next attempt would start after the window
/// (counted from the first failure). Each retry is
/// logged at warn with the call's name and target.
pub(crate) async fn retry<T, F, Fut>(
    backoff: &Backoff,
    call: &'static str,
    target: &str,
    mut op: F,
) -> Result<T, bollard::errors::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, bollard::errors::Error>>,
{
    // The window runs from the first refusal, not the first attempt: a long
    // call (waiting for a job) that breaks late still gets its retries.
    let mut first_failure: Option<Instant> = None;
    let mut pause = backoff.first;
    let mut attempt = 1u32;
    loop {
        let result = op().await;
        let since = match &result {
            Err(_) => first_failure.get_or_insert_with(Instant::now).elapsed(),
            Ok(_) => Duration::ZERO,
        };
        match result {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && since + pause <= backoff.window => {
                warn!(
                    call,
                    target,
                    attempt,
                    retry_in_ms = pause.as_millis() as u64,
                    error = %e,
                    "the Docker Engine refused a call; retrying"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(backoff.max);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether an error means the engine did not take the call and may take it soon: the
/// connection was refused, reset or closed early (also the socket missing while dockerd
/// restarts), or a 502/503/504, or a 500 saying it is busy. TLS failures, timeouts and
/// other answers (404, 409, 400, most 500s) are final.
pub(crate) fn is_transient(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            502..=504 => true,
            500 => {
                let m = message.to_ascii_lowercase();
                ["busy", "try again", "temporarily", "connection refused"]
                    .iter()
                    .any(|w| m.contains(w))
            }
            _ => false,
        },
        E::IOError { err } => transient_io(err.kind()),
        E::HyperResponseError { err } => err.is_incomplete_message() || chain_is_transient(err),
        E::HyperLegacyError { err } => chain_is_transient(err),
        _ => false,
    }
}

fn transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            // A unix socket is missing while its dockerd restarts.
            | K::NotFound
    )
}

/// Walks the source chain: an I/O error of a transient kind, or hyper's "connection
/// closed before message completed" (its type is not reachable through bollard, so by
/// its fixed message).
fn chain_is_transient(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if transient_io(io.kind()) {
                return true;
            }
        }
        if err
            .to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const FAST: Backoff = Backoff {
        window: Duration::from_millis(300),
        first: Duration::from_millis(10),
        max: Duration::from_millis(40),
    };

    fn refused() -> bollard::errors::Error {
        bollard::errors::Error::IOError {
            err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        }
    }

    fn status(code: u16, message: &str) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: code,
            message: message.into(),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_the_call_works() {
        let attempts = AtomicU32::new(0);
        let result = retry(&FAST, "inspect image", "x", || async {
            match attempts.fetch_add(1, Ordering::SeqCst) {
                0 => Err(refused()),
                1 => Err(status(503, "daemon busy")),
                _ => Ok("done"),
            }
        })
        .await;
        assert_eq!(result.ok(), Some("done"));
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_returned_at_once() {
        for e in [
            status(404, "no such image"),
            status(500, "invalid mount config"),
        ] {
            let attempts = AtomicU32::new(0);
            let mut e = Some(e);
            let result: Result<(), _> = retry(&FAST, "inspect image", "x", || {
                attempts.fetch_add(1, Ordering::SeqCst);
                let e = e.take().expect("called once");
                async move { Err(e) }
            })
            .await;
            assert!(result.is_err());
            assert_eq!(attempts.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn retrying_stops_after_the_window() {
        let attempts = AtomicU32::new(0);
        let start = Instant::now();
        let result: Result<(), _> = retry(&FAST, "list containers", "x", || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(refused())
        })
        .await;
        let took = start.elapsed();
        assert!(matches!(
            result,
            Err(bollard::errors::Error::IOError { .. })
        ));
        assert!(took <= FAST.window + Duration::from_millis(100), "{took:?}");
        // 10 + 20 + 40 + 40 + 40 + 40 + 40 ms fit in 300 ms: 8 attempts, not more.
        let n = attempts.load(Ordering::SeqCst);
        assert!((5..=9).contains(&n), "{n} attempts");
    }

    #[test]
    fn busy_and_gateway_answers_are_transient_other_answers_are_not() {
        assert!(is_transient(&status(503, "")));
        assert!(is_transient(&status(502, "")));
        assert!(is_transient(&status(500, "the daemon is busy, try again")));
        assert!(!is_transient(&status(500, "invalid mount config")));
        assert!(!is_transient(&status(409, "conflict")));
        assert!(!is_transient(&status(404, "no such container")));
        assert!(!is_transient(&bollard::errors::Error::RequestTimeoutError));
    }

    #[tokio::test]
    async fn a_refused_tcp_connection_is_transient() {
        // A port nobody listens on: bind, note it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let docker = bollard::Docker::connect_with_http(
            &format!("tcp://127.0.0.1:{port}"),
            5,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("an http client needs no connection");
        let e = docker.version().await.expect_err("nobody listens there");
        assert!(is_transient(&e), "{e:?}");
    }

    #[tokio::test]
    async fn a_missing_unix_socket_is_transient() {
        let dir = std::env::temp_dir().join(format!("ankyra-retry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sock = dir.join("docker.sock");
        // bollard checks the socket when connecting, so make one, then remove it.
        let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind a socket");
        let docker = bollard::Docker::connect_with_unix(
            &format!("unix://{}", sock.display()),
            5,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("socket exists");
        drop(listener);
        std::fs::remove_dir_all(&dir).expect("remove temp dir");
        let e = docker.version().await.expect_err("the socket is gone");
        assert!(is_transient(&e), "{e:?}");
    }
}
