//! A steady load on every OpenStack API of a cloud through HAProxy (its VIP), kept per
//! API: one request per API per second, each on a NEW TCP connection (no keep-alive,
//! so HAProxy picks a server for every request). Counters (requests, failures with the
//! first few reasons, latencies for percentiles) are taken per phase with
//! [`ApiLoad::take`] while the load keeps running.
//!
//! - identity: `GET /v3/auth/tokens` with `X-Subject-Token` = a user's token
//! - image: `GET :9292/v2/images`
//! - placement: `GET :8778/resource_providers` (microversion 1.14)
//! - network: `GET :9696/v2.0/networks`
//! - compute: `GET :8774/v2.1/servers`
//!
//! The requests carry an admin token, issued again every 10 minutes (tokens last an
//! hour); an issue that fails counts as a failed identity request and the old token is
//! used until the next try.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::load::Keystone;

/// How many failure texts are kept per API and phase.
const KEEP_FAILURES: usize = 5;
/// The admin token is issued again after this long.
const TOKEN_REFRESH: Duration = Duration::from_secs(600);

/// What one API saw in one phase.
#[derive(Debug, Clone, Default)]
pub struct ApiStats {
    pub requests: u64,
    pub failures: u64,
    /// The first [`KEEP_FAILURES`] failures: `T s: reason`.
    pub first_failures: Vec<String>,
    /// Latencies in seconds, in the order the answers came.
    pub latencies: Vec<f64>,
}

impl ApiStats {
    fn record(&mut self, seconds: f64, result: Result<()>) {
        self.requests += 1;
        self.latencies.push(seconds);
        if let Err(e) = result {
            self.failures += 1;
            if self.first_failures.len() < KEEP_FAILURES {
                self.first_failures
                    .push(format!("{:.1}s: {e:#}", crate::log::elapsed_secs()));
            }
        }
    }

    /// The `p` quantile (0..=1) of the latencies, 0 when there were none.
    pub fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        crate::load::quantile(&sorted, p)
    }
}

/// Every API's counters for one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseReport {
    pub phase: String,
    pub seconds: f64,
    pub apis: BTreeMap<String, ApiStats>,
}

impl PhaseReport {
    pub fn requests(&self) -> u64 {
        self.apis.values().map(|a| a.requests).sum()
    }

    pub fn failures(&self) -> u64 {
        self.apis.values().map(|a| a.failures).sum()
    }

    /// One line per API: requests, failed, p50 and p99 latency; then the kept failures.
    pub fn table(&self) -> String {
        let mut out = format!(
            "load during {} ({:.1} s): {} requests, {} failed\n",
            self.phase,
            self.seconds,
            self.requests(),
            self.failures()
        );
        for (name, a) in &self.apis {
            out.push_str(&format!(
                "  {name:<10} {:>5} requests {:>4} failed  p50 {:.3} s  p99 {:.3} s  max {:.3} s\n",
                a.requests,
                a.failures,
                a.percentile(0.5),
                a.percentile(0.99),
                a.percentile(1.0)
            ));
            for f in &a.first_failures {
                out.push_str(&format!("    {name} failed at {f}\n"));
            }
        }
        out
    }

    /// Ok when every API answered every request and each was asked at least `min`
    /// times; else an error with the table.
    pub fn check(&self, min: u64) -> Result<()> {
        let starved: Vec<&str> = self
            .apis
            .iter()
            .filter(|(_, a)| a.requests < min)
            .map(|(n, _)| n.as_str())
            .collect();
        if self.failures() > 0 || !starved.is_empty() {
            return Err(anyhow!(
                "expected 0 failed API requests (and at least {min} per API) during {}; \
                 too few requests: {starved:?}\n{}",
                self.phase,
                self.table()
            ));
        }
        Ok(())
    }
}

/// One API the load asks.
#[derive(Debug, Clone)]
struct Target {
    name: &'static str,
    url: String,
    /// The identity request: the user's token as `X-Subject-Token`.
    subject: Option<String>,
}

type Shared = Arc<Mutex<BTreeMap<String, ApiStats>>>;

/// The load, running in one thread per API until dropped or [`ApiLoad::stop`].
pub struct ApiLoad {
    stop: Arc<AtomicBool>,
    stats: Shared,
    handles: Vec<JoinHandle<()>>,
    since: Mutex<Instant>,
}

/// A client that opens a new TCP connection for every request.
fn fresh_client() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .context("http client")
}

fn ask(c: &reqwest::blocking::Client, t: &Target, token: &str) -> Result<()> {
    let mut req = c
        .get(&t.url)
        .header("Connection", "close")
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", "placement 1.14");
    if let Some(subject) = &t.subject {
        req = req.header("X-Subject-Token", subject);
    }
    let r = req.send().map_err(|e| anyhow!("GET {}: {e}", t.url))?;
    let status = r.status();
    // Read the body: the answer is complete only when the body is.
    let body = r
        .text()
        .map_err(|e| anyhow!("GET {}: reading the body: {e}", t.url))?;
    if !status.is_success() {
        let first: String = body.chars().take(200).collect();
        return Err(anyhow!("GET {} answered {status}: {first}", t.url));
    }
    Ok(())
}

impl ApiLoad {
    /// Starts the load on the cloud behind `k` (its VIP); the identity API validates
    /// `subject` (a user's token).
    pub fn start(k: &Keystone, subject: &str) -> Result<ApiLoad> {
        let vip = k.vip();
        let targets = vec![
            Target {
                name: "identity",
                url: format!("{}/auth/tokens", k.url),
                subject: Some(subject.to_string()),
            },
            Target {
                name: "image",
                url: format!("http://{vip}:9292/v2/images"),
                subject: None,
            },
            Target {
                name: "placement",
                url: format!("http://{vip}:8778/resource_providers"),
                subject: None,
            },
            Target {
                name: "network",
                url: format!("http://{vip}:9696/v2.0/networks"),
                subject: None,
            },
            Target {
                name: "compute",
                url: format!("http://{vip}:8774/v2.1/servers"),
                subject: None,
            },
        ];
        let token = Arc::new(Mutex::new((k.issue()?, Instant::now())));
        let stop = Arc::new(AtomicBool::new(false));
        let stats: Shared = Arc::new(Mutex::new(
            targets
                .iter()
                .map(|t| (t.name.to_string(), ApiStats::default()))
                .collect(),
        ));
        let mut handles = Vec::new();
        for t in targets {
            let (stop, stats, token, k) = (stop.clone(), stats.clone(), token.clone(), k.clone());
            let client = fresh_client()?;
            handles.push(std::thread::spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let record = |started: Instant, res: Result<()>| {
                        let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
                        s.entry(t.name.to_string())
                            .or_default()
                            .record(started.elapsed().as_secs_f64(), res);
                    };
                    // The identity thread keeps the admin token fresh.
                    if t.subject.is_some() {
                        let age = token.lock().unwrap_or_else(|p| p.into_inner()).1.elapsed();
                        if age >= TOKEN_REFRESH {
                            let started = Instant::now();
                            match k.issue() {
                                Ok(fresh) => {
                                    *token.lock().unwrap_or_else(|p| p.into_inner()) =
                                        (fresh, Instant::now());
                                    record(started, Ok(()));
                                }
                                Err(e) => record(started, Err(e.context("admin token issue"))),
                            }
                        }
                    }
                    let admin = token.lock().unwrap_or_else(|p| p.into_inner()).0.clone();
                    let started = Instant::now();
                    let res = ask(&client, &t, &admin);
                    record(started, res);
                    next += Duration::from_secs(1);
                    let now = Instant::now();
                    if next < now {
                        // Behind (a slow answer): the next request goes now.
                        next = now;
                    }
                    while !stop.load(Ordering::Relaxed) && Instant::now() < next {
                        std::thread::sleep(
                            next.saturating_duration_since(Instant::now())
                                .min(Duration::from_millis(200)),
                        );
                    }
                }
            }));
        }
        Ok(ApiLoad {
            stop,
            stats,
            handles,
            since: Mutex::new(Instant::now()),
        })
    }

    /// What every API saw since the last take (or the start), named `phase`; the
    /// counters start again from zero and the load goes on.
    pub fn take(&self, phase: &str) -> PhaseReport {
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        let seconds = since.elapsed().as_secs_f64();
        *since = Instant::now();
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let apis = stats
            .iter_mut()
            .map(|(name, s)| (name.clone(), std::mem::take(s)))
            .collect();
        PhaseReport {
            phase: phase.to_string(),
            seconds,
            apis,
        }
    }

    /// Stops every thread (waiting for requests in flight) and returns the last phase.
    pub fn stop(mut self, phase: &str) -> PhaseReport {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        self.take(phase)
    }
}

impl Drop for ApiLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_keep_the_first_failures_and_the_percentiles() {
        let mut a = ApiStats::default();
        for i in 0..100 {
            let res = if i % 10 == 0 {
                Err(anyhow!("boom {i}"))
            } else {
                Ok(())
            };
            a.record(f64::from(100 - i) / 100.0, res);
        }
        assert_eq!(a.requests, 100);
        assert_eq!(a.failures, 10);
        assert_eq!(a.first_failures.len(), KEEP_FAILURES);
        assert!(a.first_failures[0].ends_with("boom 0"));
        assert!((a.percentile(0.99) - 0.99).abs() < 1e-9);
        assert!((a.percentile(1.0) - 1.0).abs() < 1e-9);
        let mut r = PhaseReport {
            phase: "upgrade".into(),
            seconds: 1.0,
            apis: BTreeMap::from([("image".to_string(), a)]),
        };
        let err = r.check(1).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("during upgrade") && err.contains("boom 0"),
            "{err}"
        );
        r.apis.insert("image".into(), ApiStats::default());
        assert!(r.check(0).is_ok());
        assert!(r.check(1).is_err(), "an API never asked is not a pass");
    }
}
