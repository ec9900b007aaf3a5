//! Issue 9's proof for nova across two releases, end to end on the real Docker Engine
//! (feature `docker`): a whole cloud at 2026.1 (nova 33.0.2), a server booted, then
//! nova-conductor, -scheduler, -api and -compute set to 34.0.0 (2026.2) in one revision
//! and applied under a steady load (token issue + validate, and GET /v2.1/servers
//! through HAProxy): zero failed requests, the server still listed and ACTIVE, every
//! non-nova container kept, and nova's order conductor → scheduler → api → compute.
#![cfg(feature = "docker")]

use std::collections::BTreeMap;
use std::time::Duration;

use ankyra_e2e::load::{Keystone, Load};
use ankyra_e2e::wait::{poll_until, random_bytes, random_hex};
use ankyra_e2e::{e2e_log, Cloud};
use anyhow::{ensure, Context, Result};
use serde_json::Value;

const COMPUTE_API: [&str; 2] = ["--os-compute-api-version", "2.37"];
const NOVA: [&str; 4] = [
    "nova-conductor",
    "nova-scheduler",
    "nova-api",
    "nova-compute",
];

/// `ankyra init`'s record moved to 2026.1: each component at that release's version.
fn record_2026_1(init: &str) -> String {
    init.replace("release: \"2026.2\"", "release: \"2026.1\"")
        .replace("version: 30.0.0", "version: 29.1.0")
        .replace("version: 33.0.0", "version: 32.0.0")
        .replace("version: 16.0.0", "version: 15.0.0")
        .replace("version: 29.0.0", "version: 28.0.2")
        .replace("version: 34.0.0", "version: 33.0.2")
}

fn field(v: &Value, key: &str) -> Result<String> {
    v.get(key)
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .with_context(|| format!("no `{key}` in {v}"))
}

fn nova_json(cloud: &mut Cloud, args: &[&str]) -> Result<Value> {
    let mut all: Vec<&str> = COMPUTE_API.to_vec();
    all.extend_from_slice(args);
    cloud.openstack_json(&all)
}

fn ids_of(cloud: &Cloud, keep: impl Fn(&str) -> bool) -> Result<BTreeMap<String, String>> {
    Ok(cloud
        .status()?
        .components
        .iter()
        .filter(|c| keep(&c.name))
        .flat_map(|c| c.containers.iter())
        .map(|k| (k.name.clone(), k.id.clone()))
        .collect())
}

#[test]
fn issue_9_nova_across_two_releases_keeps_its_server_under_load() -> Result<()> {
    let mut cloud = Cloud::init()?;
    let name = cloud.name.clone();
    let init = std::fs::read_to_string(&cloud.record)?;
    let record = record_2026_1(&init);
    ensure!(
        record.contains("version: 33.0.2"),
        "the init record changed shape:\n{init}"
    );
    std::fs::write(&cloud.record, &record)?;

    e2e_log!("=== deploy a whole cloud at 2026.1");
    let out = cloud.apply("e2e: deploy 2026.1")?;
    ensure!(out.success(), "deploy failed:\n{}", out.describe_failure());

    e2e_log!("=== boot a server on nova 33.0.2");
    let tag = random_hex(4)?;
    let upload = cloud.dir.join("image.raw");
    std::fs::write(&upload, random_bytes(1 << 20)?)?;
    let upload_s = upload.display().to_string();
    let image = cloud.openstack_json(&[
        "image",
        "create",
        "--file",
        &upload_s,
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        &format!("e2e-image-{tag}"),
    ])?;
    let image = field(&image, "id")?;
    poll_until(
        "the image active",
        Duration::from_secs(120),
        Duration::from_secs(2),
        || {
            let v = cloud.openstack_json(&["image", "show", &image])?;
            ensure!(field(&v, "status")? == "active");
            Ok(())
        },
    )?;
    let flavor = cloud.openstack_json(&[
        "flavor",
        "create",
        "--ram",
        "64",
        "--disk",
        "1",
        "--vcpus",
        "1",
        &format!("e2e-tiny-{tag}"),
    ])?;
    let flavor = field(&flavor, "id")?;
    // The compute node must be mapped (discover_hosts) before a boot can be scheduled.
    let server_name = format!("e2e-before-upgrade-{tag}");
    let server = poll_until(
        "a server booted",
        Duration::from_secs(300),
        Duration::from_secs(10),
        || {
            let v = nova_json(
                &mut cloud,
                &[
                    "server",
                    "create",
                    "--flavor",
                    &flavor,
                    "--image",
                    &image,
                    "--nic",
                    "none",
                    "--wait",
                    &server_name,
                ],
            )?;
            field(&v, "id")
        },
    )?;
    e2e_log!("server {server} ACTIVE on nova 33.0.2");

    let yaml = std::fs::read_to_string(cloud.clouds_yaml()?)?;
    let k = Keystone::from_clouds_yaml(&yaml, &name)?;
    let vip = k.vip();
    let others = ids_of(&cloud, |c| !c.starts_with("nova-"))?;
    let old_token = k.issue()?;

    e2e_log!("=== nova 33.0.2 → 34.0.0 under load");
    let load = Load::start_with(
        &k,
        Some(old_token.clone()),
        Duration::from_millis(100),
        Some(format!("http://{vip}:8774/v2.1/servers")),
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let mut args = vec!["set".to_string(), name.clone()];
    args.extend(NOVA.iter().map(|c| format!("{c}=34.0.0")));
    args.extend(["--apply".into(), "-m".into(), "nova 2026.2".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cloud.ankyra_run(&args, Duration::from_secs(1800), true);
    std::thread::sleep(Duration::from_secs(2));
    let report = load.stop();
    e2e_log!("load during the nova upgrade: {}", report.summary());
    for f in report.failures.iter().take(10) {
        e2e_log!("  failed: {f}");
    }
    let out = out?;
    ensure!(
        out.success(),
        "nova upgrade failed:\n{}",
        out.describe_failure()
    );
    ensure!(report.requests >= 10, "expected a steady load");
    ensure!(
        report.failures.is_empty(),
        "expected zero failed requests during the nova upgrade, {} of {} failed",
        report.failures.len(),
        report.requests
    );

    // The plan ran nova's components in their upgrade order.
    let order: Vec<usize> = NOVA
        .iter()
        .map(|c| {
            out.stderr
                .find(&format!("{c}: replace started"))
                .unwrap_or(usize::MAX)
        })
        .collect();
    ensure!(
        order.windows(2).all(|w| w[0] < w[1]) && order[3] != usize::MAX,
        "expected conductor → scheduler → api → compute, found offsets {order:?}"
    );
    ensure!(
        out.stderr.contains("nova online_data_migrations"),
        "expected online data migrations after the upgrade"
    );

    let status = cloud.status()?;
    for c in NOVA {
        let s = status.component(c).context("nova component in status")?;
        ensure!(
            s.running_version.as_deref() == Some("34.0.0"),
            "{c} runs {:?}",
            s.running_version
        );
    }
    ensure!(
        ids_of(&cloud, |c| !c.starts_with("nova-"))? == others,
        "the nova upgrade touched another component's containers"
    );
    let list = nova_json(&mut cloud, &["server", "list"])?;
    let listed = list
        .as_array()
        .context("server list is not a list")?
        .iter()
        .any(|s| field(s, "ID").is_ok_and(|id| id == server));
    ensure!(
        listed,
        "the server booted before the upgrade is not listed: {list}"
    );
    let shown = nova_json(&mut cloud, &["server", "show", &server])?;
    ensure!(
        field(&shown, "status")? == "ACTIVE",
        "expected the server ACTIVE after the upgrade: {shown}"
    );
    e2e_log!("=== ok: server {server} listed and ACTIVE on nova 34.0.0");
    Ok(())
}
