//! Shared by the real-Docker tests: connecting (fails without Docker, never
//! skips), building under one process-wide lock, and containers removed on drop.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use ankyra_catalog::services::{
    glance::Glance, haproxy::HaProxy, keystone::Keystone, mariadb::MariaDb, placement::Placement,
};
use ankyra_catalog::{ImageRecipe, Service};
use ankyra_images::{build, BuildOptions, BuiltImage, ImageEvent};
use ankyra_runtime::{ContainerSpec, Docker, RunOutcome};

/// Tests in one binary build the same shared layers: one build at a time.
static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub async fn docker() -> Docker {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ankyra=debug,ankyra_images=debug")
        .with_test_writer()
        .try_init();
    Docker::connect()
        .await
        .expect("these tests need a running Docker Engine")
}

pub fn recipe(service: &str, version: &str, release: &str) -> ImageRecipe {
    let v = version.parse().expect("test versions are valid");
    match service {
        "keystone" => Keystone.image(&v, release),
        "glance" => Glance.image(&v, release),
        "placement" => Placement.image(&v, release),
        "mariadb" => MariaDb.image(&v, release),
        "haproxy" => HaProxy.image(&v, release),
        other => panic!("no test recipe for {other}"),
    }
}

/// Every image the tests use: the first test builds them all at once, two at
/// a time (CI has two cores), and the others find them built.
pub fn all_test_recipes() -> Vec<ImageRecipe> {
    vec![
        recipe("keystone", "27.1.0", "2025.1"),
        recipe("mariadb", "10.11", "2026.2"),
        recipe("glance", "33.0.0", "2026.2"),
        recipe("haproxy", "2.6", "2026.2"),
        recipe("placement", "16.0.0", "2026.2"),
        recipe("keystone", "27.0.2", "2025.1"),
    ]
}

/// Builds (or finds) every test image, returns those of `recipes`.
pub async fn build_images(docker: &Docker, recipes: &[ImageRecipe]) -> Vec<BuiltImage> {
    let _guard = BUILD_LOCK.lock().await;
    let reporter = |e: ImageEvent| tracing::info!(event = ?e, "image event");
    let mut all = all_test_recipes();
    all.extend(
        recipes
            .iter()
            .filter(|r| !all_test_recipes().contains(r))
            .cloned(),
    );
    match build(docker, &all, &BuildOptions::default(), &reporter).await {
        Ok(b) => recipes
            .iter()
            .map(|r| {
                b.iter()
                    .find(|x| x.reference == r.reference())
                    .cloned()
                    .expect("built what was asked")
            })
            .collect(),
        Err(e) => panic!("build failed: {}", chain(&e)),
    }
}

/// An error and its causes, one per line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!("\ncaused by: {s}"));
        src = s.source();
    }
    msg
}

/// A one-shot container that is removed when dropped, even if the test panics.
pub struct TestContainer {
    docker: Docker,
    pub name: String,
}

impl TestContainer {
    pub fn new(docker: &Docker, test: &str) -> TestContainer {
        let name = format!(
            "ankyra-test-{test}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        TestContainer {
            docker: docker.clone(),
            name,
        }
    }

    /// Runs `script` with `sh -ec` in `image` and waits for it.
    pub async fn run(&self, image: &str, script: &str) -> RunOutcome {
        let spec = ContainerSpec {
            name: self.name.clone(),
            image: image.into(),
            cmd: Some(vec!["/bin/sh".into(), "-ec".into(), script.into()]),
            ..Default::default()
        };
        self.docker
            .run_to_completion(&spec, 60)
            .await
            .expect("container runs")
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let name = self.name.clone();
        // The test's runtime may be shutting down: remove from a thread of our own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(docker.remove_container(&name));
            }
        })
        .join();
    }
}

/// A Python poller run inside the container: GETs `url` until it answers
/// (any HTTP status below 500 counts: glance's root answers 300), for 90 s;
/// if it never does, prints `log` and fails.
pub fn poll(url: &str, log: &str) -> String {
    format!(
        r#"python3 - <<'PY' || {{ cat {log}; exit 1; }}
import sys, time, urllib.request, urllib.error
err = None
for _ in range(180):
    try:
        r = urllib.request.urlopen('{url}', timeout=5)
        print('ANSWER', r.status, r.read()[:400]); sys.exit(0)
    except urllib.error.HTTPError as e:
        if e.code < 500:
            print('ANSWER', e.code, e.read()[:400]); sys.exit(0)
        err = e
    except Exception as e:
        err = e
    time.sleep(0.5)
print('NO ANSWER', err); sys.exit(1)
PY
"#
    )
}
