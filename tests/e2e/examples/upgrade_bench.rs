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
//!
//! `upgrade_bench release` (`bench/upgrade/run.sh release`) measures a whole cloud
//! instead: `ankyra upgrade CLOUD --release 2026.2 --apply` from 2026.1, its wall time
//! beside its critical path (the step times, from the progress lines, added along the
//! dependency order: keystone → glance/placement/neutron → nova conductor → scheduler →
//! api → compute), then `ankyra rollback CLOUD --to 1`, each under a load of one request
//! per second on every API. Writes bench/results/<date>-<host>/upgrade-release.md.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ankyra_e2e::api_load::{ApiLoad, PhaseReport};
use ankyra_e2e::load::{Keystone, Load, LoadReport};
use ankyra_e2e::releases::{critical_path, record_2026_1, step_seconds, OPENSTACK};
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
    match std::env::args().nth(1).as_deref() {
        None | Some("keystone") => keystone_bench(),
        Some("release") => release_bench(),
        Some(other) => anyhow::bail!("unknown benchmark `{other}`: keystone (default) or release"),
    }
}

fn keystone_bench() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let docker = rt.block_on(Docker::connect_with_defaults()?.negotiate_version())?;
    let mut cloud = Cloud::init_fake_driver()?;
    std::fs::write(&cloud.record, record(&cloud.name, OLD))?;
    // Both images built before anything is measured.
    let k = deploy_and_prebuild(&mut cloud, "bench: deploy", &[&format!("keystone=={NEW}")])?;

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

/// One whole-cloud change: its wall time, step times and the load it saw.
struct Change {
    what: String,
    wall: f64,
    steps: BTreeMap<String, f64>,
    report: PhaseReport,
    /// The command's failure (its FAILED progress line), if it failed.
    failed: Option<String>,
}

fn whole_cloud(cloud: &Cloud, load: &ApiLoad, what: &str, args: &[&str]) -> Result<Change> {
    std::thread::sleep(Duration::from_secs(2));
    load.take("before");
    let out = cloud.ankyra_run(args, Duration::from_secs(3600), true)?;
    let wall = out.elapsed.as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let report = load.take(what);
    eprintln!("{}", report.table());
    // A failed change is a row too (with its reason): the table says what was measured.
    let failed = (!out.success()).then(|| {
        out.stderr
            .lines()
            .find(|l| l.contains("FAILED"))
            .unwrap_or("failed")
            .trim()
            .to_string()
    });
    if failed.is_some() {
        eprintln!(
            "`ankyra {}` failed:\n{}",
            args.join(" "),
            out.describe_failure()
        );
    }
    Ok(Change {
        what: what.to_string(),
        wall,
        steps: step_seconds(&out.stderr),
        report,
        failed,
    })
}

fn release_bench() -> Result<()> {
    let mut cloud = Cloud::init_fake_driver()?;
    let name = cloud.name.clone();
    let init = std::fs::read_to_string(&cloud.record)?;
    let newest = cloud.dir.join("2026.2.yaml");
    std::fs::write(&newest, &init)?;
    std::fs::write(&cloud.record, record_2026_1(&init, Some("1h")))?;
    // 2026.2's images built before anything is measured.
    let newest_s = newest.display().to_string();
    let k = deploy_and_prebuild(&mut cloud, "bench: deploy 2026.1", &["-f", &newest_s])?;
    let load = ApiLoad::start(&k, &k.issue()?)?;
    let upgrade = whole_cloud(
        &cloud,
        &load,
        "upgrade 2026.1 → 2026.2",
        &[
            "upgrade",
            &name,
            "--release",
            "2026.2",
            "--apply",
            "-m",
            "bench: whole cloud to 2026.2",
        ],
    )?;
    ensure!(
        upgrade.failed.is_none(),
        "the upgrade failed: {:?}",
        upgrade.failed
    );
    std::thread::sleep(Duration::from_secs(15));
    let rollback = whole_cloud(
        &cloud,
        &load,
        "rollback to revision 1 (2026.1)",
        &["rollback", &name, "--to", "1"],
    )?;
    drop(load);

    let rows = [upgrade, rollback];
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Whole-cloud upgrade 2026.1 → 2026.2 and rollback under load\n"
    );
    let _ = writeln!(
        md,
        "Run by `bench/upgrade/run.sh release` on {} ({} cores). One cloud as `ankyra init` \
         makes it (mariadb, memcached, rabbitmq, haproxy, keystone, glance, placement, \
         neutron-server, nova conductor/scheduler/api/compute), deployed at 2026.1 with a \
         1 h bake window; 2026.2's images built beforehand. Load: one GET per second on \
         each API through the VIP (identity token validation, image list, placement \
         providers, network list, server list), each on a new TCP connection. Wall time is \
         the command's, pre-flight check included. Critical path: the step times from the \
         progress lines (`COMPONENT: done in Ns`) added along the dependency order \
         keystone → glance/placement/neutron-server (together) → nova-conductor → \
         nova-scheduler → nova-api → nova-compute.\n",
        hostname(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let _ = writeln!(md, "| change | wall time (s) | critical path (s) | steps on it | sum of all steps (s) | wall − critical path (s) | requests | failed | worst API p99 (s) |");
    let _ = writeln!(md, "|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let (path, chain) = critical_path(&r.steps);
        let worst_p99 = r
            .report
            .apis
            .values()
            .map(|a| a.percentile(0.99))
            .fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {} | {} | {:.3} |",
            r.what,
            r.wall,
            path,
            chain.join(" → "),
            r.steps.values().sum::<f64>(),
            r.wall - path,
            r.report.requests(),
            r.report.failures(),
            worst_p99
        );
    }
    for r in rows.iter().filter(|r| r.failed.is_some()) {
        let _ = writeln!(
            md,
            "\n**{} failed** (its times are up to the failure): `{}`",
            r.what,
            r.failed.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(md, "\nStep times (s):\n");
    let _ = writeln!(md, "| step | {} | {} |", rows[0].what, rows[1].what);
    let _ = writeln!(md, "|---|---:|---:|");
    let mut names: Vec<String> = OPENSTACK.iter().map(|c| c.to_string()).collect();
    for r in &rows {
        for k in r.steps.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    for n in &names {
        let cell = |r: &Change| {
            r.steps
                .get(n)
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(md, "| {n} | {} | {} |", cell(&rows[0]), cell(&rows[1]));
    }
    let _ = writeln!(md, "\nLoad per API:\n");
    let _ = writeln!(
        md,
        "| change | API | requests | failed | p50 (s) | p99 (s) | max (s) |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        for (api, a) in &r.report.apis {
            let _ = writeln!(
                md,
                "| {} | {api} | {} | {} | {:.3} | {:.3} | {:.3} |",
                r.what,
                a.requests,
                a.failures,
                a.percentile(0.5),
                a.percentile(0.99),
                a.percentile(1.0)
            );
        }
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.report.apis.iter().flat_map(move |(api, a)| {
                a.first_failures
                    .iter()
                    .map(move |f| format!("- {} / {api}: {f}", r.what))
            })
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(
            md,
            "\nFailures seen (first 5 per API):\n\n{}",
            failures.join("\n")
        );
    }
    let dir =
        PathBuf::from(std::env::var("ANKYRA_BENCH_OUT").unwrap_or_else(|_| "bench/results".into()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("upgrade-release.md");
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

/// Deploys the cloud's record, builds the images `build_args` name (so that no
/// build is measured) and returns an admin session once Docker's health checks
/// have settled.
fn deploy_and_prebuild(cloud: &mut Cloud, message: &str, build_args: &[&str]) -> Result<Keystone> {
    let out = cloud.apply(message)?;
    ensure!(out.success(), "deploy failed:\n{}", out.describe_failure());
    let mut args = vec!["images", "build"];
    args.extend_from_slice(build_args);
    let out = cloud.ankyra_run(&args, Duration::from_secs(3600), true)?;
    ensure!(
        out.success(),
        "image build failed:\n{}",
        out.describe_failure()
    );
    let yaml = std::fs::read_to_string(cloud.clouds_yaml()?)?;
    let k = Keystone::from_clouds_yaml(&yaml, &cloud.name)?;
    std::thread::sleep(Duration::from_secs(15));
    Ok(k)
}
