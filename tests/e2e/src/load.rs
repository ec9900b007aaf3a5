//! A steady load of keystone requests through HAProxy, run while Ankyra
//! changes the cloud: each round issues a token (password) and validates it,
//! and validates one token issued before the change. Every failure is kept
//! with its reason; latencies are kept for percentiles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::json;

/// Admin credentials and the keystone URL (`http://VIP:5000/v3`).
#[derive(Debug, Clone)]
pub struct Keystone {
    pub url: String,
    pub password: String,
}

impl Keystone {
    /// From the admin entry of the clouds.yaml Ankyra wrote.
    pub fn from_clouds_yaml(yaml: &str, cloud: &str) -> Result<Keystone> {
        let entry = crate::clouds::entry(yaml, cloud)?;
        let auth = entry.get("auth").context("clouds.yaml entry has no auth")?;
        let url = auth
            .get("auth_url")
            .and_then(|v| v.as_str())
            .context("no auth_url")?
            .trim_end_matches('/')
            .to_string();
        let url = if url.ends_with("/v3") {
            url
        } else {
            format!("{url}/v3")
        };
        let password = auth
            .get("password")
            .and_then(|v| v.as_str())
            .context("no password")?
            .to_string();
        Ok(Keystone { url, password })
    }

    /// The cloud's VIP (HAProxy's address), from the keystone URL.
    pub fn vip(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string()
    }

    fn client() -> Result<reqwest::blocking::Client> {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("http client")
    }

    /// Issues an admin token.
    pub fn issue(&self) -> Result<String> {
        issue(&Self::client()?, self)
    }

    /// Issues a token for `user` (domain `default`) scoped to `project` (domain
    /// `default`), with a password.
    pub fn issue_as(&self, user: &str, password: &str, project: &str) -> Result<String> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
        issue_body(&Self::client()?, &self.url, &body)
    }

    /// Validates a token (Ok only on 200).
    pub fn validate(&self, token: &str) -> Result<()> {
        let c = Self::client()?;
        let admin = issue(&c, self)?;
        validate(&c, self, &admin, token)
    }
}

fn issue(c: &reqwest::blocking::Client, k: &Keystone) -> Result<String> {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": k.password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    issue_body(c, &k.url, &body)
}

fn issue_body(
    c: &reqwest::blocking::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<String> {
    let r = c
        .post(format!("{url}/auth/tokens"))
        .json(body)
        .send()
        .map_err(|e| anyhow!("token issue: {e}"))?;
    let status = r.status();
    if status.as_u16() != 201 {
        return Err(anyhow!("token issue answered {status}"));
    }
    r.headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("token issue: no X-Subject-Token"))
}

fn validate(c: &reqwest::blocking::Client, k: &Keystone, admin: &str, token: &str) -> Result<()> {
    let r = c
        .get(format!("{}/auth/tokens", k.url))
        .header("X-Auth-Token", admin)
        .header("X-Subject-Token", token)
        .send()
        .map_err(|e| anyhow!("token validation: {e}"))?;
    if r.status().as_u16() != 200 {
        return Err(anyhow!("token validation answered {}", r.status()));
    }
    Ok(())
}

fn get(c: &reqwest::blocking::Client, url: &str, token: &str) -> Result<()> {
    let r = c
        .get(url)
        .header("X-Auth-Token", token)
        // Placement wants a microversion; other APIs ignore the header.
        .header("OpenStack-API-Version", "placement 1.0")
        .send()
        .map_err(|e| anyhow!("GET {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(anyhow!("GET {url} answered {}", r.status()));
    }
    Ok(())
}

/// What a load run saw.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub requests: u64,
    pub failures: Vec<String>,
    /// Request latencies in seconds, sorted.
    pub latencies: Vec<f64>,
    pub seconds: f64,
}

/// The `p` quantile (0..=1) of `sorted`, 0 when it is empty.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl LoadReport {
    pub fn percentile(&self, p: f64) -> f64 {
        quantile(&self.latencies, p)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} requests in {:.1} s, {} failed, p50 {:.3} s, p99 {:.3} s",
            self.requests,
            self.seconds,
            self.failures.len(),
            self.percentile(0.5),
            self.percentile(0.99)
        )
    }
}

/// A load running in its own thread until [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<LoadReport>>,
    handle: Option<JoinHandle<()>>,
    started: Instant,
}

impl Load {
    /// Starts the load: rounds of issue + validate (and validate `old_token`), paced
    /// at `pause` between rounds.
    pub fn start(k: &Keystone, old_token: Option<String>, pause: Duration) -> Result<Load> {
        Load::start_with(k, old_token, pause, None)
    }

    /// The same, plus a GET of `extra` (another API through HAProxy, e.g. placement's
    /// `/resource_providers`) with the round's token in every round.
    pub fn start_with(
        k: &Keystone,
        old_token: Option<String>,
        pause: Duration,
        extra: Option<String>,
    ) -> Result<Load> {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(LoadReport::default()));
        let client = Keystone::client()?;
        let k = k.clone();
        let (s, r) = (stop.clone(), report.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let record = |res: Result<()>, t: Instant| {
                    let mut rep = r.lock().unwrap_or_else(|p| p.into_inner());
                    rep.requests += 1;
                    rep.latencies.push(t.elapsed().as_secs_f64());
                    if let Err(e) = res {
                        rep.failures
                            .push(format!("{:.1}s: {e}", crate::log::elapsed_secs()));
                    }
                };
                let t = Instant::now();
                let token = issue(&client, &k);
                let token = match token {
                    Ok(tok) => {
                        record(Ok(()), t);
                        tok
                    }
                    Err(e) => {
                        record(Err(e), t);
                        std::thread::sleep(pause);
                        continue;
                    }
                };
                let t = Instant::now();
                record(validate(&client, &k, &token, &token), t);
                if let Some(old) = &old_token {
                    let t = Instant::now();
                    record(validate(&client, &k, &token, old), t);
                }
                if let Some(url) = &extra {
                    let t = Instant::now();
                    record(get(&client, url, &token), t);
                }
                std::thread::sleep(pause);
            }
        });
        Ok(Load {
            stop,
            report,
            handle: Some(handle),
            started: Instant::now(),
        })
    }

    /// Stops the load and returns what it saw.
    pub fn stop(mut self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let mut rep = self
            .report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        rep.seconds = self.started.elapsed().as_secs_f64();
        rep.latencies.sort_by(|a, b| a.total_cmp(b));
        rep
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
