//! `ankyra serve --listen`: the read-only HTTP API, run for real and asked
//! over plain TCP (issue 6: every endpoint is authenticated).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::{edit, init, Env};

/// A running `ankyra serve`, killed (by its own handle) when dropped, so a
/// failed assertion does not leave it behind.
struct Server {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    port: u16,
}

impl Server {
    fn start(env: &Env) -> Server {
        let mut child = env
            .command(&["serve", "--listen", "127.0.0.1:0", "--interval", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let all = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
                let mut all = all.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut server = Server {
            child,
            stderr,
            reader: Some(reader),
            port: 0,
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => server.port = port.parse().unwrap(),
            Err(_) => panic!(
                "no `listening on` line; stderr:\n{}",
                server.stderr.lock().unwrap()
            ),
        }
        server
    }

    /// Kills the server and returns all it wrote on stderr.
    fn stop(mut self) -> String {
        self.kill();
        self.stderr.lock().unwrap().clone()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// Sends `request` as is; the status and the body of the answer.
    fn raw(&self, request: &[u8]) -> (u16, String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"));
        (status, head.to_string(), body.to_string())
    }

    /// `GET target` with `Authorization: Bearer TOKEN` when a token is given.
    fn get(&self, target: &str, token: Option<&str>) -> (u16, String, String) {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        self.raw(format!("GET {target} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn clouds(body: &str) -> Vec<String> {
    let rows: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut names: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cloud"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn serve_answers_its_api_only_to_requests_with_the_token() {
    let env = Env::new();
    for (name, region) in [("lab1", "eu-west"), ("lab2", "us-east")] {
        let f = init(&env, name);
        edit(&f, "    site: local", &format!("    region: {region}"));
        let out = env
            .command(&["commit", "-f", &format!("{name}.yaml")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", env.describe(&out));
    }
    let server = Server::start(&env);
    let token_file = env.path("serve-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim();
    assert_eq!(token.len(), 64);

    let (status, head, body) = server.get("/v1/health", None);
    assert_eq!(status, 401, "{head}\n{body}");
    assert!(head.contains("\r\nWWW-Authenticate: Bearer"), "{head}");
    assert!(head.contains("\r\nConnection: close"), "{head}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["code"], "missing_token");

    let wrong = "0".repeat(64);
    assert_eq!(server.get("/v1/clouds", Some(&wrong)).0, 401);
    assert_eq!(server.get("/v1/nowhere", Some(&wrong)).0, 401);

    let (status, head, body) = server.get("/v1/health", Some(token));
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"ok"}"#),
        "{head}"
    );
    assert!(
        head.contains("\r\nContent-Type: application/json"),
        "{head}"
    );

    let (status, _, body) = server.get("/v1/clouds", Some(token));
    assert_eq!(status, 200, "{body}");
    assert_eq!(clouds(&body), ["lab1", "lab2"]);

    let (status, _, body) = server.get("/v1/clouds?where=region%3Deu-west", Some(token));
    assert_eq!(status, 200, "{body}");
    assert_eq!(clouds(&body), ["lab1"]);

    let (status, _, body) = server.get("/v1/clouds?where=%3D%3D", Some(token));
    assert_eq!(status, 400, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["code"], "bad_selector", "{body}");

    let (status, _, body) = server.get("/v1/fleet", Some(token));
    assert_eq!((status, body.as_str()), (200, "[]"));

    assert_eq!(server.get("/v1/nowhere", Some(token)).0, 404);
    let post = format!("POST /v1/clouds HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n");
    assert_eq!(server.raw(post.as_bytes()).0, 405);
    let body = format!(
        "GET /v1/clouds HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    assert_eq!(server.raw(body.as_bytes()).0, 413);
    assert_eq!(server.raw(b"GARBAGE\r\n\r\n").0, 400);
    let oversized = format!(
        "GET /v1/health HTTP/1.1\r\nAuthorization: Bearer {token}\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9 * 1024)
    );
    assert_eq!(server.raw(oversized.as_bytes()).0, 431);

    let stderr = server.stop();
    assert!(stderr.contains("serve-token"), "{stderr}");
    assert!(
        !stderr.contains(token),
        "the token is in the log:\n{stderr}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}
