//! Upgrade and rollback of keystone, side by side in one run, under the same steady
//! token load (issue + validate through HAProxy):
//!
//! - "recreate": what kolla-ansible and `docker compose up -d` do: schema jobs with the
//!   new image, then every keystone container stopped, removed and created again from
//!   the new image (same name, address, mounts, command); rollback the same way back.
//! - "ankyra": `ankyra set CLOUD keystone=NEW --apply` (start-first through HAProxy's
//!   runtime API), then `ankyra rollback CLOUD keystone` inside the bake window.
//!
//! Writes a Markdown table to bench/results/<date>-<host>/upgrade.md.
//! Run: `bench/upgrade/run.sh` (builds, needs the Docker Engine; ~6 minutes).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ankyra_e2e::load::{Keystone, Load, LoadReport};
use ankyra_e2e::Cloud;
use anyhow::{ensure, Context, Result};
use bollard::container::{Config, CreateContainerOptions, StartContainerOptions};
use bollard::models::{EndpointIpamConfig, EndpointSettings};
use bollard::Docker;
use serde_json::Value;

const OLD: &str = "27.1.0";
const NEW: &str = "29.1.0";

struct Row {
    way: &'static str,
    change: String,
    report: LoadReport,
    wall: f64,
    switch: Option<f64>,
}

fn record(name: &str, keystone: &str) -> String {
    format!(
        "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: {name}\nspec:\n  release: \"2025.1\"\n  \
         rollout:\n    bakeWindow: 15m\n    observe: 5s\n  components:\n    mariadb: {{}}\n    \
         memcached: {{}}\n    haproxy: {{}}\n    keystone:\n      version: {keystone}\n      replicas: 2\n"
    )
}

/// Runs `change` under load; the load starts 2 s before and stops 2 s after.
fn measured(
    k: &Keystone,
    change: impl FnOnce() -> Result<Option<f64>>,
) -> Result<(LoadReport, f64, Option<f64>)> {
    let load = Load::start(k, None, Duration::from_millis(100))?;
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    let switch = change();
    let wall = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let report = load.stop();
    Ok((report, wall, switch?))
}

/// kolla / compose: bootstrap (schema) with the new image, then recreate every instance.
async fn recreate(docker: &Docker, cloud: &str, image: &str, schema: bool) -> Result<()> {
    let list = docker
        .list_containers(Some(bollard::container::ListContainersOptions::<String> {
            all: false,
            filters: HashMap::from([(
                "label".to_string(),
                vec![
                    format!("io.ankyra.cloud={cloud}"),
                    "io.ankyra.component=keystone".to_string(),
                ],
            )]),
            ..Default::default()
        }))
        .await?;
    let mut specs = Vec::new();
    for c in &list {
        let id = c.id.clone().context("container id")?;
        specs.push(docker.inspect_container(&id, None).await?);
    }
    let first = specs.first().context("no keystone container")?;
    if schema {
        // The bootstrap container kolla runs before recreating (expand + migrate here:
        // contract would stop the old version from working at all on rollback).
        for args in [["db_sync", "--expand"], ["db_sync", "--migrate"]] {
            let name = format!("{cloud}-bench-bootstrap");
            let mut config = container_config(first, image)?;
            config.cmd = Some(
                ["keystone-manage", args[0], args[1]]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            );
            config.healthcheck = None;
            config.labels = None;
            config.networking_config = None;
            if let Some(h) = config.host_config.as_mut() {
                h.restart_policy = None;
            }
            let _ = docker
                .remove_container(
                    &name,
                    Some(bollard::container::RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
            docker
                .create_container(
                    Some(CreateContainerOptions {
                        name: name.clone(),
                        platform: None,
                    }),
                    config,
                )
                .await?;
            docker
                .start_container(&name, None::<StartContainerOptions<String>>)
                .await?;
            use futures_util::StreamExt;
            let mut w = docker.wait_container(
                &name,
                None::<bollard::container::WaitContainerOptions<String>>,
            );
            let _ = w.next().await;
            docker
                .remove_container(
                    &name,
                    Some(bollard::container::RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await?;
        }
    }
    // `docker compose up -d` recreates changed services: stop, remove, create, start.
    for s in &specs {
        let name = s
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        let config = container_config(s, image)?;
        docker
            .stop_container(
                &name,
                Some(bollard::container::StopContainerOptions { t: 10 }),
            )
            .await?;
        docker.remove_container(&name, None).await?;
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: name.clone(),
                    platform: None,
                }),
                config,
            )
            .await?;
        docker
            .start_container(&name, None::<StartContainerOptions<String>>)
            .await?;
    }
    Ok(())
}

/// The same container, from another image: command, env, mounts, labels, address.
fn container_config(
    s: &bollard::models::ContainerInspectResponse,
    image: &str,
) -> Result<Config<String>> {
    let c = s.config.clone().context("config")?;
    let mut labels = c.labels.clone().unwrap_or_default();
    let version = image.rsplit(':').next().unwrap_or_default().to_string();
    labels.insert("io.ankyra.version".into(), version);
    labels.insert("io.ankyra.image".into(), image.into());
    let mut endpoints = HashMap::new();
    for (net, e) in s
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
    {
        endpoints.insert(
            net,
            EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: e.ip_address.clone(),
                    ..Default::default()
                }),
                aliases: e.aliases.clone(),
                ..Default::default()
            },
        );
    }
    Ok(Config {
        image: Some(image.to_string()),
        cmd: c.cmd,
        env: c.env,
        labels: Some(labels),
        working_dir: c.working_dir,
        healthcheck: c.healthcheck,
        stop_timeout: c.stop_timeout,
        host_config: s.host_config.clone(),
        networking_config: Some(bollard::container::NetworkingConfig {
            endpoints_config: endpoints,
        }),
        ..Default::default()
    })
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let docker = rt.block_on(Docker::connect_with_defaults()?.negotiate_version())?;
    let mut cloud = Cloud::init()?;
    std::fs::write(&cloud.record, record(&cloud.name, OLD))?;
    let out = cloud.apply("bench: deploy")?;
    ensure!(out.success(), "deploy failed:\n{}", out.describe_failure());
    // Both images built before anything is measured.
    let out = cloud.ankyra_run(
        &["images", "build", &format!("keystone=={NEW}")],
        Duration::from_secs(3600),
        true,
    )?;
    ensure!(
        out.success(),
        "image build failed:\n{}",
        out.describe_failure()
    );
    let yaml = std::fs::read_to_string(cloud.clouds_yaml()?)?;
    let k = Keystone::from_clouds_yaml(&yaml, &cloud.name)?;
    // Let Docker's health checks settle after the deploy.
    std::thread::sleep(Duration::from_secs(15));

    let mut rows = Vec::new();
    let name = cloud.name.clone();
    let (report, wall, _) = measured(&k, || {
        rt.block_on(recreate(
            &docker,
            &name,
            &format!("ankyra/keystone:{NEW}"),
            true,
        ))?;
        Ok(None)
    })?;
    rows.push(Row {
        way: "recreate (kolla-ansible, compose)",
        change: format!("upgrade {OLD} → {NEW}"),
        report,
        wall,
        switch: None,
    });
    std::thread::sleep(Duration::from_secs(20));
    let (report, wall, _) = measured(&k, || {
        rt.block_on(recreate(
            &docker,
            &name,
            &format!("ankyra/keystone:{OLD}"),
            false,
        ))?;
        Ok(None)
    })?;
    rows.push(Row {
        way: "recreate (kolla-ansible, compose)",
        change: format!("rollback {NEW} → {OLD}"),
        report,
        wall,
        switch: None,
    });
    std::thread::sleep(Duration::from_secs(20));

    let (report, wall, _) = measured(&k, || {
        let arg = format!("keystone={NEW}");
        let out = cloud.ankyra_run(
            &["set", &name, &arg, "--apply"],
            Duration::from_secs(900),
            false,
        )?;
        ensure!(
            out.success(),
            "ankyra upgrade failed:\n{}",
            out.describe_failure()
        );
        Ok(None)
    })?;
    rows.push(Row {
        way: "ankyra (start-first, runtime API)",
        change: format!("upgrade {OLD} → {NEW}"),
        report,
        wall,
        switch: None,
    });
    std::thread::sleep(Duration::from_secs(5));
    let (report, wall, switch) = measured(&k, || {
        let out = cloud.ankyra_run(
            &["rollback", &name, "keystone", "-o", "json"],
            Duration::from_secs(900),
            false,
        )?;
        ensure!(
            out.success(),
            "ankyra rollback failed:\n{}",
            out.describe_failure()
        );
        let json: Value = serde_json::from_str(&out.stdout)?;
        Ok(json["applied"]["outcome"]["switches"][0]["seconds"].as_f64())
    })?;
    rows.push(Row {
        way: "ankyra (bake window: HAProxy switch)",
        change: format!("rollback {NEW} → {OLD}"),
        report,
        wall,
        switch,
    });

    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Keystone upgrade and rollback under load: recreate vs Ankyra\n"
    );
    let _ = writeln!(md, "Run by `bench/upgrade/run.sh` on {} ({} cores). One cloud: mariadb, memcached, haproxy, keystone × 2 (gunicorn, 2 workers each). Load: one client looping token issue + validate through HAProxy with 100 ms between rounds, from 2 s before each change to 2 s after it. \"recreate\" stops, removes and re-creates every keystone container from the other image with the same name, address, mounts and command (after expand + migrate with the new image), as `docker compose up -d` and kolla-ansible do. Same machine, same run, one after the other.\n", hostname(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    let _ = writeln!(md, "| way | change | requests | failed | p50 latency (s) | p99 latency (s) | max latency (s) | wall time (s) | switch (s) |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.1} | {} |",
            r.way,
            r.change,
            r.report.requests,
            r.report.failures.len(),
            r.report.percentile(0.5),
            r.report.percentile(0.99),
            r.report.percentile(1.0),
            r.wall,
            r.switch
                .map(|s| format!("{s:.3}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    let _ = writeln!(md, "\nFailures seen (first 5 per row):\n");
    for r in &rows {
        for f in r.report.failures.iter().take(5) {
            let _ = writeln!(md, "- {} / {}: {f}", r.way, r.change);
        }
    }
    let dir =
        PathBuf::from(std::env::var("ANKYRA_BENCH_OUT").unwrap_or_else(|_| "bench/results".into()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("upgrade.md");
    std::fs::write(&path, &md)?;
    eprintln!("{md}");
    eprintln!("written to {}", path.display());
    cloud.destroy()?;
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}
