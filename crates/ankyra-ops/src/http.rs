//! `serve`'s read-only HTTP API: a small HTTP/1.1 server on tokio.
//!
//! Every request carries `Authorization: Bearer TOKEN`, the token kept in a
//! 0600 file ([`load_or_create_token`]); nothing is answered without it, not
//! even health. Endpoints, all `GET`, all JSON:
//!
//! - `/v1/health`: `{"status":"ok"}`
//! - `/v1/clouds[?where=EXPR]`: the rows of `fleet ls [--where EXPR]`
//! - `/v1/fleet`: the fleet operations, newest first (`fleet status`)
//!
//! The input is hostile until the token is checked: the head is at most
//! [`MAX_HEAD`] bytes and must arrive within [`READ_TIMEOUT`], no body is
//! accepted, at most [`MAX_CONNECTIONS`] are served at once, and every
//! connection is closed after one response.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ankyra_store::Store;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::OpsError;

/// The largest request head (request line and headers) read.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its whole request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to take the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, and how much, is read and dropped after a response before closing.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Connections served at once; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 64;

/// Opens a new store handle; called once per request, on a blocking thread.
pub type HttpOpener = dyn Fn() -> Result<Box<dyn Store>, OpsError> + Send + Sync;

/// Told the address bound (the real port when 0 was asked) and the token file.
pub type OnListening = dyn FnOnce(SocketAddr, &Path) + Send;

/// The HTTP API `serve` runs beside its reconcile loop.
pub struct Http {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The file the bearer token is read from, or created in (0600) when missing.
    pub token_file: PathBuf,
    /// Opens a store handle for one request.
    pub open: Arc<HttpOpener>,
    /// Called once the socket is bound, before any request is answered.
    pub on_listening: Box<OnListening>,
}

/// The token file's name in the state folder, when `--token-file` is not given.
pub fn default_token_file(state: &Path) -> PathBuf {
    state.join("serve-token")
}

/// Why the HTTP API could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The token file could not be read or created.
    #[error("cannot read or create the token file {path}")]
    TokenFile {
        /// The token file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token file can be read by other users: its token is not secret.
    #[error("the token file {path} is readable by other users (mode {mode:o}); `chmod 600` it or remove it for a new token")]
    TokenFileExposed {
        /// The token file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The token file holds no usable token.
    #[error("the token file {path} holds no usable token (at least 32 visible ASCII characters, no spaces); remove it for a new one")]
    TokenFileInvalid {
        /// The token file.
        path: PathBuf,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The token in `path`, or a new random 256-bit one (64 hex digits) written
/// there first: the file 0600, a missing parent folder made 0700. A file other
/// users can read is refused.
pub fn load_or_create_token(path: &Path) -> Result<String, HttpError> {
    let io = |source| HttpError::TokenFile {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(_) => return read_token(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io)?;
        }
    }
    let token = new_token();
    // Written whole to a private temporary file, then linked into place: a
    // reader never sees half a token, and of two servers starting at once the
    // second keeps the first one's token instead of replacing it.
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = (|| {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(token),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_token(path),
        Err(e) => Err(io(e)),
    }
}

fn read_token(path: &Path) -> Result<String, HttpError> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |source| HttpError::TokenFile {
        path: path.to_path_buf(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HttpError::TokenFileExposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let token = text.trim_end_matches(['\n', '\r']);
    if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::TokenFileInvalid {
            path: path.to_path_buf(),
        });
    }
    Ok(token.to_string())
}

fn new_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Binds `http.listen`; the address actually bound comes back with the listener.
pub(crate) async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), HttpError> {
    let bind = |source| HttpError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    Ok((listener, bound))
}

/// Answers connections on `listener` until the task is aborted.
pub(crate) async fn run(listener: TcpListener, token: Arc<str>, open: Arc<HttpOpener>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // Taken before accepting: beyond the limit, clients wait in the
        // kernel's listen queue rather than in memory here.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: pass, do not spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let token = token.clone();
        let open = open.clone();
        tokio::spawn(async move {
            connection(stream, peer, &token, open).await;
            drop(slot);
        });
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, token: &str, open: Arc<HttpOpener>) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Response::refusal(Refusal::new(
            408,
            "timeout",
            "the request head took too long",
        )),
        Ok(Err(ReadHead::TooLarge)) => Response::refusal(too_large()),
        Ok(Err(ReadHead::Closed)) => return,
        Ok(Ok(head)) => match decide(&head, token) {
            Ok(route) => answer(route, open).await,
            Err(refusal) => {
                if refusal.status == 401 {
                    // The peer, never what it presented.
                    tracing::warn!(
                        peer = %peer,
                        reason = refusal.code,
                        "refused a request without a valid token"
                    );
                }
                Response::refusal(refusal)
            }
        },
    };
    tracing::debug!(peer = %peer, status = response.status, "answered");
    let bytes = response.to_bytes();
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    })
    .await;
    // Closing with unread input (a refused body or an oversized head) would
    // reset the connection and could lose the response on its way: read a
    // little more first, briefly.
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[derive(Debug, PartialEq, Eq)]
enum ReadHead {
    /// The client went away (or failed) before the head ended.
    Closed,
    /// No end of head within [`MAX_HEAD`] bytes.
    TooLarge,
}

/// Reads up to the blank line ending the head; the head without that line.
async fn read_head<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, ReadHead> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = r.read(&mut chunk).await.map_err(|_| ReadHead::Closed)?;
        if n == 0 {
            return Err(ReadHead::Closed);
        }
        // Look for the end again only where the new bytes may complete it.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = find(&buf[from..], b"\r\n\r\n") {
            let end = from + at;
            if end + 4 > MAX_HEAD {
                return Err(ReadHead::TooLarge);
            }
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() >= MAX_HEAD {
            return Err(ReadHead::TooLarge);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What a request asks for, once it passed every check.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Health,
    /// With a `where` expression already checked to parse.
    Clouds {
        selector: Option<String>,
    },
    Fleet,
}

/// A request head, as far as this server cares.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    method: String,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    has_body: bool,
}

/// An error answer: status and the `{code, message, hint}` body.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    status: u16,
    code: &'static str,
    message: String,
    hint: Option<String>,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            hint: None,
        }
    }

    fn bad(message: impl Into<String>) -> Refusal {
        Refusal::new(400, "bad_request", message)
    }
}

fn too_large() -> Refusal {
    Refusal::new(
        431,
        "head_too_large",
        format!("the request head is larger than {MAX_HEAD} bytes"),
    )
}

/// The route for a head, or why it is refused. Checks in order: size and
/// syntax, token, body, method, path; a client without the token learns
/// nothing about the paths.
fn decide(head: &[u8], token: &str) -> Result<Route, Refusal> {
    if head.len() > MAX_HEAD {
        return Err(too_large());
    }
    let head = parse_head(head)?;
    check_token(head.authorization.as_deref(), token)?;
    if head.has_body {
        return Err(Refusal::new(
            413,
            "body_not_accepted",
            "this API takes no request body",
        ));
    }
    let known = matches!(
        head.path.as_str(),
        "/v1/health" | "/v1/clouds" | "/v1/fleet"
    );
    if !known {
        return Err(Refusal {
            hint: Some("endpoints: /v1/health, /v1/clouds[?where=EXPR], /v1/fleet".into()),
            ..Refusal::new(404, "not_found", "no such endpoint")
        });
    }
    if head.method != "GET" {
        return Err(Refusal::new(
            405,
            "method_not_allowed",
            "only GET is allowed",
        ));
    }
    let params = parse_query(head.query.as_deref())?;
    let mut selector = None;
    for (name, value) in params {
        match (head.path.as_str(), name.as_str()) {
            ("/v1/clouds", "where") if selector.is_none() => selector = Some(value),
            ("/v1/clouds", "where") => return Err(Refusal::bad("`where` is given twice")),
            _ => return Err(Refusal::bad(format!("unknown query parameter `{name}`"))),
        }
    }
    Ok(match head.path.as_str() {
        "/v1/health" => Route::Health,
        "/v1/fleet" => Route::Fleet,
        _ => {
            if let Some(expr) = &selector {
                if let Err(e) = ankyra_fleet::Selector::parse(expr) {
                    let (message, hint) = match OpsError::from(e) {
                        OpsError::Fleet { reason, help } => (reason, Some(help)),
                        other => (other.to_string(), None),
                    };
                    return Err(Refusal {
                        hint,
                        ..Refusal::new(400, "bad_selector", message)
                    });
                }
            }
            Route::Clouds { selector }
        }
    })
}

/// Parses the request line and the headers this server reads.
fn parse_head(head: &[u8]) -> Result<Head, Refusal> {
    let text =
        std::str::from_utf8(head).map_err(|_| Refusal::bad("the request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::bad("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Refusal::bad("malformed request line: bad method"));
    }
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(Refusal::bad(
            "malformed request line: only HTTP/1.0 and HTTP/1.1",
        ));
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Refusal::bad("malformed request line: bad target"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (target, None),
    };
    let mut authorization = None;
    let mut has_body = false;
    let mut content_length: Option<&str> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::bad("malformed header line"));
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            // Also refuses obsolete folded lines, which start with a space.
            return Err(Refusal::bad("malformed header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("authorization") {
            if authorization.replace(value.to_string()).is_some() {
                return Err(Refusal::bad("more than one Authorization header"));
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if content_length.replace(value).is_some() {
                return Err(Refusal::bad("more than one Content-Length header"));
            }
            let n: u64 = value
                .parse()
                .map_err(|_| Refusal::bad("Content-Length is not a number"))?;
            has_body |= n > 0;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        }
    }
    Ok(Head {
        method: method.to_string(),
        path: path.to_string(),
        query,
        authorization,
        has_body,
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `Bearer TOKEN` with the right token (scheme case-insensitive), compared in
/// constant time.
fn check_token(header: Option<&str>, token: &str) -> Result<(), Refusal> {
    let refuse = |code, message: &str| {
        Err(Refusal {
            hint: Some(
                "send `Authorization: Bearer TOKEN`, the token from the file `serve` logged".into(),
            ),
            ..Refusal::new(401, code, message)
        })
    };
    let Some(header) = header else {
        return refuse("missing_token", "a bearer token is required");
    };
    let Some((scheme, presented)) = header.split_once(' ') else {
        return refuse("bad_scheme", "a bearer token is required");
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return refuse("bad_scheme", "a bearer token is required");
    }
    if !constant_time_eq(presented.trim().as_bytes(), token.as_bytes()) {
        return refuse("invalid_token", "the token is not valid");
    }
    Ok(())
}

/// Equal bytes, in time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `a=1&b=%2C` into percent-decoded pairs.
fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, Refusal> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(Vec::new());
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Result<String, Refusal> {
    let bad = || Refusal::bad("bad percent-encoding in the query");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Refusal::bad("the query is not UTF-8 once decoded"))
}

/// A response to write.
struct Response {
    status: u16,
    body: Vec<u8>,
    www_authenticate: bool,
}

impl Response {
    fn json<T: Serialize>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status: 200,
                body,
                www_authenticate: false,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot serialize a response");
                Response::refusal(Refusal::new(
                    500,
                    "internal",
                    "cannot serialize the response",
                ))
            }
        }
    }

    fn refusal(r: Refusal) -> Response {
        let body = serde_json::json!({ "code": r.code, "message": r.message, "hint": r.hint });
        Response {
            status: r.status,
            body: body.to_string().into_bytes(),
            www_authenticate: r.status == 401,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            _ => "Unknown",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.body.len()
        );
        if self.www_authenticate {
            out.push_str("WWW-Authenticate: Bearer realm=\"ankyra\"\r\n");
        }
        if self.status == 405 {
            out.push_str("Allow: GET\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Runs the route's ankyra-ops function on a blocking thread with its own store handle.
async fn answer(route: Route, open: Arc<HttpOpener>) -> Response {
    if route == Route::Health {
        return Response::json(&serde_json::json!({ "status": "ok" }));
    }
    match tokio::task::spawn_blocking(move || respond(route, &*open)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "a request's worker failed");
            Response::refusal(Refusal::new(
                500,
                "internal",
                "the request failed; see the server's log",
            ))
        }
    }
}

/// The answer to a checked request; blocks on the store.
fn respond(route: Route, open: &HttpOpener) -> Response {
    let store = match open() {
        Ok(store) => store,
        Err(e) => return store_failed(&e),
    };
    let answered = match route {
        Route::Health => Ok(Response::json(&serde_json::json!({ "status": "ok" }))),
        Route::Clouds { selector } => {
            crate::fleet_ls(&*store, selector.as_deref(), &[]).map(|rows| Response::json(&rows))
        }
        Route::Fleet => crate::fleet_status(&*store, None).map(|ops| Response::json(&ops)),
    };
    answered.unwrap_or_else(|e| store_failed(&e))
}

fn store_failed(e: &OpsError) -> Response {
    // The cause stays in the server's log: store errors may name hosts and
    // paths the client has no business seeing.
    tracing::warn!(error = %e, "cannot answer a request");
    Response::refusal(Refusal::new(
        500,
        "store",
        "the store failed; see the server's log",
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn head(lines: &[&str]) -> Vec<u8> {
        lines.join("\r\n").into_bytes()
    }

    fn status(r: Result<Route, Refusal>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(refusal) => refusal.status,
        }
    }

    #[test]
    fn every_request_is_checked_for_the_token_before_anything_else_but_syntax() {
        let auth = format!("Authorization: Bearer {TOKEN}");
        let lower = format!("authorization: bearer {TOKEN}");
        let basic = format!("Authorization: Basic {TOKEN}");
        let wrong = format!("Authorization: Bearer {}0", &TOKEN[1..]);
        let prefix = format!("Authorization: Bearer {}", &TOKEN[..63]);
        let oversized = format!("X-Pad: {}", "a".repeat(MAX_HEAD));
        let get = "GET /v1/health HTTP/1.1";
        #[rustfmt::skip]
        let cases: &[(&str, &[&str], u16)] = &[
            ("no header", &[get, "Host: x"], 401),
            ("no header, unknown path", &["GET /nope HTTP/1.1"], 401),
            ("wrong scheme", &[get, &basic], 401),
            ("scheme without token", &[get, "Authorization: Bearer"], 401),
            ("empty token", &[get, "Authorization: Bearer "], 401),
            ("wrong token", &[get, &wrong], 401),
            ("token prefix", &[get, &prefix], 401),
            ("right token", &[get, &auth], 200),
            ("scheme in lower case", &[get, &lower], 200),
            ("two tokens", &[get, &auth, &auth], 400),
            ("oversized head", &[get, &auth, &oversized], 431),
            ("body with the token", &[get, &auth, "Content-Length: 5"], 413),
            ("empty body is fine", &[get, &auth, "Content-Length: 0"], 200),
            ("chunked body", &[get, &auth, "Transfer-Encoding: chunked"], 413),
            ("body without the token", &[get, "Content-Length: 5"], 401),
            ("bad content length", &[get, &auth, "Content-Length: -1"], 400),
            ("bad request line", &["GET /v1/health", &auth], 400),
            ("extra space", &["GET  /v1/health HTTP/1.1", &auth], 400),
            ("lower-case method", &["get /v1/health HTTP/1.1", &auth], 400),
            ("HTTP/2", &["GET /v1/health HTTP/2.0", &auth], 400),
            ("absolute form", &["GET http://x/v1/health HTTP/1.1", &auth], 400),
            ("empty head", &[""], 400),
            ("header without colon", &[get, &auth, "oops"], 400),
            ("folded header", &[get, &auth, " folded: x"], 400),
            ("unknown path", &["GET /v1/nope HTTP/1.1", &auth], 404),
            ("other method", &["POST /v1/clouds HTTP/1.1", &auth], 405),
            ("unknown parameter", &["GET /v1/clouds?x=1 HTTP/1.1", &auth], 400),
            ("bad percent", &["GET /v1/clouds?where=%zz HTTP/1.1", &auth], 400),
            ("truncated percent", &["GET /v1/clouds?where=a%2 HTTP/1.1", &auth], 400),
            ("bad selector", &["GET /v1/clouds?where=%3D%3D HTTP/1.1", &auth], 400),
            ("good selector", &["GET /v1/clouds?where=region%3Deu-west HTTP/1.1", &auth], 200),
            ("fleet", &["GET /v1/fleet HTTP/1.0", &auth], 200),
        ];
        for (name, lines, want) in cases {
            assert_eq!(status(decide(&head(lines), TOKEN)), *want, "{name}");
        }
    }

    #[test]
    fn a_non_utf8_head_is_refused() {
        assert_eq!(status(decide(b"GET /\xff HTTP/1.1", TOKEN)), 400);
    }

    #[test]
    fn the_where_parameter_is_percent_decoded() {
        let h = head(&[
            "GET /v1/clouds?where=region%3Deu-west%2Ckeystone%3C30 HTTP/1.1",
            &format!("Authorization: Bearer {TOKEN}"),
        ]);
        assert_eq!(
            decide(&h, TOKEN),
            Ok(Route::Clouds {
                selector: Some("region=eu-west,keystone<30".into())
            })
        );
    }

    #[test]
    fn a_refused_token_says_so_without_echoing_it() {
        let h = head(&[
            "GET /v1/health HTTP/1.1",
            "Authorization: Bearer sesame-sesame",
        ]);
        let refusal = decide(&h, TOKEN).unwrap_err();
        let bytes = Response::refusal(refusal).to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("\r\nWWW-Authenticate: Bearer"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(!text.contains("sesame"), "{text}");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[tokio::test]
    async fn read_head_stops_at_the_blank_line_and_at_the_limit() {
        let mut ok: &[u8] = b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody";
        assert_eq!(read_head(&mut ok).await.unwrap(), b"GET / HTTP/1.1\r\nA: b");
        let big = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(
            read_head(&mut big.as_slice()).await,
            Err(ReadHead::TooLarge)
        );
        let mut cut: &[u8] = b"GET / HTTP/1.1\r\n";
        assert_eq!(read_head(&mut cut).await, Err(ReadHead::Closed));
        // The end just past the limit is still too large.
        let mut over = vec![b'a'; MAX_HEAD - 2];
        over.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            read_head(&mut over.as_slice()).await,
            Err(ReadHead::TooLarge)
        );
    }

    #[test]
    fn the_token_file_is_made_private_once_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("serve-token");
        let first = load_or_create_token(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(load_or_create_token(&path).unwrap(), first);
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve-token");
        std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create_token(&path),
            Err(HttpError::TokenFileExposed { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_or_create_token(&path).unwrap(), TOKEN);
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(
            load_or_create_token(&path),
            Err(HttpError::TokenFileInvalid { .. })
        ));
    }
}
