//! HAProxy's runtime API: adding, draining and parking servers without a
//! reload, so a switch between instances drops no request. HAProxy forgets
//! runtime changes when it restarts, so callers keep haproxy.cfg in step.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::EngineError;

/// How long one runtime API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an unreachable runtime API is retried (an HAProxy restart takes ~1 s).
const RETRY_FOR: Duration = Duration::from_secs(30);
/// How a connection failure starts its detail (what is retried).
const UNREACHABLE: &str = "cannot connect to";

/// A server's administrative state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// In rotation.
    Ready,
    /// No new requests; those in flight finish.
    Drain,
    /// Out of rotation (maintenance), the container still running.
    Maint,
}

impl ServerState {
    fn keyword(self) -> &'static str {
        match self {
            ServerState::Ready => "ready",
            ServerState::Drain => "drain",
            ServerState::Maint => "maint",
        }
    }
}

/// One server's line of `show stat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerStat {
    /// The backend (`listen` section).
    pub backend: String,
    /// The server (container name).
    pub server: String,
    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check` ...
    pub status: String,
    /// Sessions in flight.
    pub current_sessions: u64,
    /// Responses with a 5xx status since HAProxy started.
    pub http_5xx: u64,
    /// Connection and response errors towards this server.
    pub errors: u64,
}

impl ServerStat {
    /// Whether HAProxy sends it new requests.
    pub fn is_up(&self) -> bool {
        self.status == "UP" || self.status.starts_with("UP ")
    }
}

/// A client of one HAProxy's runtime API (`stats socket ipv4@...:9999 level admin`).
#[derive(Debug, Clone)]
pub struct RuntimeApi {
    address: String,
}

impl RuntimeApi {
    /// The runtime API of the HAProxy at `vip`.
    pub fn new(vip: &str) -> RuntimeApi {
        RuntimeApi {
            address: format!("{vip}:{}", ankyra_catalog::services::haproxy::RUNTIME_PORT),
        }
    }

    /// The runtime API at `address` (`host:port`).
    pub fn at(address: &str) -> RuntimeApi {
        RuntimeApi {
            address: address.to_string(),
        }
    }

    /// Sends one command and returns HAProxy's answer. A refused or dropped
    /// connection (HAProxy restarting: it comes back with haproxy.cfg, which
    /// is kept in step) is retried with backoff for up to `RETRY_FOR`; every
    /// command Ankyra sends is safe to repeat. An answer is never retried.
    pub async fn call(&self, command: &str) -> Result<String, EngineError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            match self.call_once(command).await {
                Err(EngineError::LoadBalancer { detail, .. })
                    if detail.starts_with(UNREACHABLE) && started.elapsed() < RETRY_FOR =>
                {
                    tracing::warn!(command, %detail, "HAProxy's runtime API unreachable, retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    async fn call_once(&self, command: &str) -> Result<String, EngineError> {
        let fail = |detail: String| EngineError::LoadBalancer {
            command: command.to_string(),
            detail,
        };
        let exchange = async {
            let mut stream = TcpStream::connect(&self.address)
                .await
                .map_err(|e| fail(format!("{UNREACHABLE} {}: {e}", self.address)))?;
            // Dropped before any answer (HAProxy died mid-call): as unreachable as refused.
            let dropped = |e: std::io::Error| {
                if is_dropped(&e) {
                    fail(format!(
                        "{UNREACHABLE} {}: connection dropped: {e}",
                        self.address
                    ))
                } else {
                    fail(e.to_string())
                }
            };
            stream
                .write_all(format!("{command}\n").as_bytes())
                .await
                .map_err(dropped)?;
            let mut answer = Vec::new();
            match stream.read_to_end(&mut answer).await {
                Ok(_) => {}
                Err(e) if answer.is_empty() => return Err(dropped(e)),
                Err(e) => return Err(fail(e.to_string())),
            }
            Ok::<String, EngineError>(String::from_utf8_lossy(&answer).into_owned())
        };
        let answer = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| fail("no answer within 10 s".into()))??;
        // Commands answer nothing on success, or a message; errors name themselves.
        let lower = answer.to_ascii_lowercase();
        if lower.contains("unknown command")
            || lower.contains("no such")
            || lower.contains("require")
            || lower.starts_with("error")
            || lower.contains("invalid")
            || lower.contains("cannot")
        {
            return Err(fail(answer.trim().to_string()));
        }
        Ok(answer)
    }

    /// Every server of every backend.
    pub async fn stats(&self) -> Result<Vec<ServerStat>, EngineError> {
        Ok(parse_stat(&self.call("show stat").await?))
    }

    /// One server's line, if HAProxy knows it.
    pub async fn server(
        &self,
        backend: &str,
        server: &str,
    ) -> Result<Option<ServerStat>, EngineError> {
        Ok(self
            .stats()
            .await?
            .into_iter()
            .find(|s| s.backend == backend && s.server == server))
    }

    /// Adds a server with health checks (as in haproxy.cfg), in rotation once checks pass.
    pub async fn add_server(
        &self,
        backend: &str,
        server: &str,
        address: &str,
        port: u16,
    ) -> Result<(), EngineError> {
        if self.server(backend, server).await?.is_none() {
            self.call(&format!(
                "add server {backend}/{server} {address}:{port} check inter 2000 rise 2 fall 5"
            ))
            .await?;
        }
        // A dynamic server starts in maintenance with checks off.
        self.call(&format!("enable health {backend}/{server}"))
            .await?;
        self.set_state(backend, server, ServerState::Ready).await
    }

    /// Changes a server's administrative state.
    pub async fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerState,
    ) -> Result<(), EngineError> {
        self.call(&format!(
            "set server {backend}/{server} state {}",
            state.keyword()
        ))
        .await
        .map(|_| ())
    }

    /// Removes a server (it must be in maintenance with nothing in flight).
    pub async fn remove_server(&self, backend: &str, server: &str) -> Result<(), EngineError> {
        if self.server(backend, server).await?.is_none() {
            return Ok(());
        }
        self.set_state(backend, server, ServerState::Maint).await?;
        self.wait_idle(backend, server, Duration::from_secs(30))
            .await?;
        self.call(&format!("del server {backend}/{server}"))
            .await
            .map(|_| ())
    }

    /// Waits until HAProxy's checks mark a server UP.
    pub async fn wait_up(
        &self,
        backend: &str,
        server: &str,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        loop {
            let s = self.server(backend, server).await?;
            if s.as_ref().is_some_and(ServerStat::is_up) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(EngineError::LoadBalancer {
                    command: format!("wait for {backend}/{server} to be UP"),
                    detail: format!(
                        "still {} after {} s",
                        s.map(|s| s.status).unwrap_or_else(|| "absent".into()),
                        timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until a server has no request in flight (after a drain).
    pub async fn wait_idle(
        &self,
        backend: &str,
        server: &str,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        loop {
            match self.server(backend, server).await? {
                None => return Ok(()),
                Some(s) if s.current_sessions == 0 => return Ok(()),
                Some(_) if started.elapsed() > timeout => {
                    // Long requests are cut only after the timeout: the caller goes on.
                    tracing::warn!(backend, server, "requests still in flight after the drain");
                    return Ok(());
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// Parses `show stat` CSV: `# pxname,svname,...` then one line per proxy and server.
/// A connection HAProxy closed under us, as a restart does.
fn is_dropped(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}

pub fn parse_stat(csv: &str) -> Vec<ServerStat> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(status)) = (col("pxname"), col("svname"), col("status")) else {
        return Vec::new();
    };
    let num = |fields: &[&str], name: &str| -> u64 {
        col(name)
            .and_then(|i| fields.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    lines
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let server = *fields.get(sv)?;
            if server == "FRONTEND" || server == "BACKEND" || server.is_empty() {
                return None;
            }
            Some(ServerStat {
                backend: fields.get(px)?.to_string(),
                server: server.to_string(),
                status: fields.get(status)?.to_string(),
                current_sessions: num(&fields, "scur"),
                http_5xx: num(&fields, "hrsp_5xx"),
                errors: num(&fields, "econ") + num(&fields, "eresp"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_stat_gives_servers_only_with_their_counters() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,\n\
keystone,FRONTEND,,,0,1,4000,3,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,,,0,3,0,0,0,\n\
keystone,c1-keystone-1,0,0,2,1,,3,0,0,,0,,1,2,0,0,UP,1,1,0,0,0,30,0,,1,2,1,,3,,2,0,,1,L7OK,200,3,0,3,0,0,4,\n\
keystone,c1-keystone-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,30,0,,1,2,2,,0,,2,0,,0,,,,0,0,0,0,0,\n\
keystone,BACKEND,0,0,0,1,400,3,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,30,0,,1,2,0,,3,,1,0,,1,,,,0,3,0,0,0,\n";
        let s = parse_stat(csv);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].server, "c1-keystone-1");
        assert!(s[0].is_up());
        assert_eq!(s[0].current_sessions, 2);
        assert_eq!(s[0].http_5xx, 4);
        assert_eq!(s[0].errors, 3);
        assert_eq!(s[1].status, "MAINT");
        assert!(!s[1].is_up());
    }

    #[tokio::test]
    async fn a_restarting_haproxy_is_waited_for_and_an_answer_is_not_retried() {
        // Find a free port, then leave it closed for a moment: "HAProxy restarting".
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = probe.local_addr().expect("addr");
        drop(probe);
        let server = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
            for answer in ["", "No such server.\n"] {
                let (mut s, _) = listener.accept().await.expect("accept");
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                s.write_all(answer.as_bytes()).await.expect("write");
            }
        });
        let api = RuntimeApi::at(&addr.to_string());
        // The port opens only after the first attempts were refused.
        let ok = api.call("set server keystone/k1 state ready").await;
        assert!(ok.is_ok(), "{ok:?}");
        let err = api.call("set server keystone/k9 state ready").await;
        assert!(
            matches!(err, Err(EngineError::LoadBalancer { ref detail, .. }) if detail.contains("No such server"))
        );
        server.await.expect("server");
    }

    #[tokio::test]
    async fn a_connection_reset_before_the_answer_is_retried() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            // First call: read the command, then reset (SO_LINGER 0), as a dying HAProxy.
            let (s, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 256];
            let mut s = s;
            let _ = s.read(&mut buf).await;
            s.set_zero_linger().expect("linger");
            drop(s);
            // Its retry gets an answer.
            let (mut s, _) = listener.accept().await.expect("accept");
            let _ = s.read(&mut buf).await;
            s.write_all(b"# pxname,svname\n").await.expect("write");
        });
        let api = RuntimeApi::at(&addr.to_string());
        let answer = api.call("show stat").await;
        assert!(
            matches!(answer.as_deref(), Ok("# pxname,svname\n")),
            "{answer:?}"
        );
        server.await.expect("server");
    }

    #[test]
    fn garbage_gives_nothing() {
        assert!(parse_stat("").is_empty());
        assert!(parse_stat("Unknown command\n").is_empty());
    }
}
