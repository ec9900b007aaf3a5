//! Issue 6's crash test, end to end on the real Docker Engine (feature `docker`):
//! Ankyra is killed with SIGKILL at each step of a keystone upgrade (27.1.0 → 29.1.0,
//! the kill point chosen by the test-only `ANKYRA_TEST_KILL_AT`), then `ankyra apply`
//! is run again. After each recovery: the upgrade completed, exactly one keystone
//! version is in rotation in HAProxy, the users and project made before still exist,
//! and a token issued before still validates. Then a rollback (a bake-window switch)
//! returns to 27.1.0, again with exactly one version in rotation, for the next point.
//! Before those, while keystone's schema still needs its expand, MariaDB's data
//! volume (a 768 MiB ext4 disk of its own, on a loop device) is full: before
//! an upgrade, filled after its snapshot, and filled after its last space check
//! so that the real `db_sync --expand` fails writing (test-only pause points,
//! `ANKYRA_TEST_PAUSE_AT`). After the kill points, faults during an upgrade:
//! HAProxy restarting while Ankyra drives its runtime API, and MariaDB
//! restarting during the schema jobs.
#![cfg(feature = "docker")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use ankyra_e2e::disk::LoopDisk;
use ankyra_e2e::load::Keystone;
use ankyra_e2e::{e2e_log, Cloud};
use anyhow::{bail, ensure, Context, Result};

const OLD: &str = "27.1.0";
const NEW: &str = "29.1.0";
/// The engine's kill points (crates/ankyra-engine/src/killpoint.rs), in the order an
/// upgrade reaches them.
const POINTS: &[&str] = &[
    "journaled",
    "snapshot",
    "schema-checked",
    "schema",
    "instance-started",
    "instance-added",
    "old-parked",
    "watched",
    "standby-recorded",
];

fn record(name: &str) -> String {
    format!(
        "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: {name}\nspec:\n  release: \"2025.1\"\n  \
         rollout:\n    bakeWindow: 1h\n    observe: 2s\n  components:\n    mariadb: {{}}\n    \
         memcached: {{}}\n    haproxy: {{}}\n    keystone:\n      version: {OLD}\n      replicas: 2\n"
    )
}

/// Servers HAProxy sends keystone requests to (UP, not drained or in maintenance).
fn in_rotation(vip: &str) -> Result<BTreeSet<String>> {
    let mut s = std::net::TcpStream::connect((vip, 9999)).context("HAProxy runtime API")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"show stat\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .context("empty show stat")?
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |n: &str| header.iter().position(|c| *c == n);
    let (px, sv, st) = (
        col("pxname").context("pxname")?,
        col("svname").context("svname")?,
        col("status").context("status")?,
    );
    Ok(lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.get(px) == Some(&"keystone"))
        .filter(|f| !matches!(f.get(sv), Some(&"FRONTEND") | Some(&"BACKEND")))
        .filter(|f| f.get(st).is_some_and(|s| s.starts_with("UP")))
        .filter_map(|f| f.get(sv).map(|s| s.to_string()))
        .collect())
}

/// The one version HAProxy serves keystone from; an error if it is none or several.
fn one_version_serves(cloud: &Cloud, vip: &str) -> Result<String> {
    let started = Instant::now();
    loop {
        // HAProxy may still be restarting (a fault this test made): asked again.
        let servers = match in_rotation(vip) {
            Ok(servers) => servers,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                e2e_log!("HAProxy's runtime API: {e:#}; asking again");
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
            Err(e) => return Err(e),
        };
        let status = cloud.status()?;
        let ks = status.component("keystone").context("keystone in status")?;
        let versions: BTreeMap<String, String> = ks
            .containers
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.image.rsplit(':').next().unwrap_or("").to_string(),
                )
            })
            .collect();
        let serving: BTreeSet<String> = servers
            .iter()
            .map(|s| {
                versions
                    .get(s)
                    .cloned()
                    .unwrap_or_else(|| format!("unknown server {s}"))
            })
            .collect();
        if serving.len() == 1 && ks.health == "healthy" {
            return Ok(serving.into_iter().next().unwrap_or_default());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("expected exactly one keystone version in rotation, found {serving:?} (servers {servers:?}); status:\n{}", status.summary());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn issue_6_sigkill_at_every_step_of_a_keystone_upgrade_then_recover() -> Result<()> {
    // Dropped after the cloud (declared first): the volume on it goes with the cloud.
    let disk = LoopDisk::create("mariadb", 768)?;
    let mut cloud = Cloud::init_fake_driver()?;
    let name = cloud.name.clone();
    std::fs::write(&cloud.record, record(&name))?;
    // MariaDB's data on a disk of its own, as an operator gives a database: the
    // volume exists before the deploy, and Ankyra uses it.
    let engine = ankyra_e2e::engine::Engine::connect()?;
    engine.create_device_volume(
        &format!("ankyra-{name}-mariadb-data"),
        &name,
        &disk.device,
        "ext4",
    )?;
    let out = cloud.apply("e2e: deploy")?;
    ensure!(out.success(), "deploy failed:\n{}", out.describe_failure());
    let yaml = std::fs::read_to_string(cloud.clouds_yaml()?)?;
    let k = Keystone::from_clouds_yaml(&yaml, &name)?;
    let vip = k.vip();
    let token = k.issue()?;
    cloud.openstack(&["project", "create", "crash-project"])?;
    let users: Vec<String> = (1..=3).map(|i| format!("crash-user-{i}")).collect();
    for u in &users {
        cloud.openstack(&[
            "user",
            "create",
            "--project",
            "crash-project",
            "--password",
            "x-not-a-secret-x",
            u,
        ])?;
    }
    ensure!(one_version_serves(&cloud, &vip)? == OLD);

    // First, while the schema is still 27.1's: the expand has real work to do.
    disk_full_during_upgrades(&mut cloud, &engine, &k, &token, &users)?;

    let mut passed = Vec::new();
    for point in POINTS {
        e2e_log!("=== kill point `{point}`");
        let arg = format!("keystone={NEW}");
        let out = cloud.ankyra_run(
            &["set", &name, &arg, "-m", &format!("crash at {point}")],
            Duration::from_secs(60),
            false,
        )?;
        ensure!(out.success(), "set failed:\n{}", out.describe_failure());

        let mut cmd = cloud.ankyra_cmd(&["apply", &name, "--no-progress"]);
        cmd.env("ANKYRA_TEST_KILL_AT", point);
        let killed = cmd.output().context("running the apply to be killed")?;
        ensure!(
            killed.status.signal() == Some(9),
            "expected the apply to die by SIGKILL at `{point}`, it ended with {:?}:\n{}",
            killed.status,
            String::from_utf8_lossy(&killed.stderr)
        );

        let out = cloud.ankyra_run(&["apply", &name], Duration::from_secs(900), true)?;
        ensure!(
            out.success(),
            "the apply after a kill at `{point}` failed:\n{}",
            out.describe_failure()
        );
        intact(&mut cloud, &k, &token, &users, NEW)
            .with_context(|| format!("after the kill at `{point}` and a new apply"))?;
        rollback_keystone(&cloud, &vip).with_context(|| format!("after `{point}`"))?;
        passed.push(*point);
        e2e_log!("=== ok: kill point `{point}`");
    }
    e2e_log!(
        "kill points tried: {}, passed: {} ({})",
        POINTS.len(),
        passed.len(),
        passed.join(", ")
    );
    ensure!(passed.len() == POINTS.len());

    // Faults during an upgrade: HAProxy restarts while Ankyra drives its runtime API,
    // then MariaDB restarts while the schema jobs run. Each upgrade must end complete or
    // cleanly rolled back with its reason, and exactly one version in rotation.
    for (component, when) in [("haproxy", "to HAProxy"), ("mariadb", "db_sync --expand")] {
        let to = NEW;
        e2e_log!("=== {component} restarts during an upgrade to {to}");
        let arg = format!("keystone={to}");
        let out = cloud.ankyra_run(&["set", &name, &arg], Duration::from_secs(60), false)?;
        ensure!(out.success(), "set failed:\n{}", out.describe_failure());
        let (ok, stderr) = apply_with_restart(&cloud, &engine, component, when)?;
        let serving = one_version_serves(&cloud, &vip)?;
        if ok {
            ensure!(serving == to, "the upgrade said done, but {serving} serves");
        } else {
            ensure!(
                stderr.contains("failed"),
                "a failed upgrade must say why:\n{stderr}"
            );
            e2e_log!("upgrade failed cleanly, {serving} serves; applying again");
            let out = cloud.ankyra_run(&["apply", &name], Duration::from_secs(900), true)?;
            ensure!(
                out.success(),
                "the apply after the fault failed:\n{}",
                out.describe_failure()
            );
            ensure!(one_version_serves(&cloud, &vip)? == to);
        }
        k.validate(&token)?;
        rollback_keystone(&cloud, &vip).with_context(|| format!("after {component} restarted"))?;
        e2e_log!("=== ok: {component} restarted, {to} served, rolled back");
    }
    Ok(())
}

/// MariaDB's volume full before an upgrade, filled after its snapshot, and
/// filled after its last space check (the real schema job then fails writing):
/// each upgrade stops with the reason (disk full, the volume, its free space),
/// the old version alone serves, nothing is lost; with space freed, the
/// upgrade completes and rolls back.
fn disk_full_during_upgrades(
    cloud: &mut Cloud,
    engine: &ankyra_e2e::engine::Engine,
    k: &Keystone,
    token: &str,
    users: &[String],
) -> Result<()> {
    let name = cloud.name.clone();
    let vip = k.vip();
    let volume = format!("ankyra-{name}-mariadb-data");
    let db = engine
        .containers(&name, Some("mariadb"))?
        .first()
        .and_then(|c| c.id.clone())
        .context("no mariadb container")?;
    let arg = format!("keystone={NEW}");
    let out = cloud.ankyra_run(&["set", &name, &arg], Duration::from_secs(60), false)?;
    ensure!(out.success(), "set failed:\n{}", out.describe_failure());

    e2e_log!("=== the database volume is full before an upgrade");
    fill(engine, &db)?;
    let out = cloud.ankyra_run(&["apply", &name], Duration::from_secs(900), true)?;
    expect_disk_full(cloud, out.status.code(), &out.stderr, &volume)?;
    ensure!(
        !out.stderr.contains("snapshot of its database"),
        "a snapshot was taken for an upgrade with no room:\n{}",
        out.stderr
    );
    intact(cloud, k, token, users, OLD)?;
    e2e_log!("=== ok: refused before anything changed, {OLD} serves");

    e2e_log!("=== the database volume fills during an upgrade (after its snapshot)");
    unfill(engine, &db)?;
    let (code, stderr) = apply_paused_at(cloud, "snapshot", || fill(engine, &db))?;
    let said = expect_disk_full(cloud, code, &stderr, &volume)?;
    ensure!(
        said.contains(&squash("stopped before its schema jobs")),
        "the upgrade must stop before its schema jobs:\n{stderr}"
    );
    intact(cloud, k, token, users, OLD)?;
    e2e_log!("=== ok: stopped after its snapshot, {OLD} serves");

    e2e_log!("=== the database volume fills after the last check: the expand itself fails");
    unfill(engine, &db)?;
    let (code, stderr) = apply_paused_at(cloud, "schema-checked", || fill(engine, &db))?;
    let said = expect_disk_full(cloud, code, &stderr, &volume)?;
    ensure!(
        said.contains(&squash("`keystone db_sync --expand` failed writing"))
            && said.contains(&squash("No space left on device")),
        "the expand must fail writing, and say so with MariaDB's words:\n{stderr}"
    );
    intact(cloud, k, token, users, OLD)?;
    e2e_log!("=== ok: the expand failed writing, {OLD} serves");

    e2e_log!("=== space freed: the same upgrade completes, then rolls back");
    unfill(engine, &db)?;
    let out = cloud.ankyra_run(&["apply", &name], Duration::from_secs(900), true)?;
    ensure!(
        out.success(),
        "the apply after freeing space failed:\n{}",
        out.describe_failure()
    );
    ensure!(
        out.stderr.contains("MiB free of"),
        "the apply must say what it measured:\n{}",
        out.stderr
    );
    intact(cloud, k, token, users, NEW)?;
    rollback_keystone(cloud, &vip).context("after the disk was freed")?;
    e2e_log!(
        "=== ok: disk full three times, clean each time; with room, {NEW} served, rolled back"
    );
    Ok(())
}

/// `ankyra apply CLOUD` held at the test-only pause `point`, where `fault` runs
/// before it goes on. Its exit code and stderr.
fn apply_paused_at(
    cloud: &Cloud,
    point: &str,
    fault: impl FnOnce() -> Result<()>,
) -> Result<(Option<i32>, String)> {
    let pause = tempfile::tempdir()?;
    let mut child = cloud
        .ankyra_cmd(&["apply", &cloud.name, "--no-progress"])
        .env("ANKYRA_TEST_PAUSE_AT", point)
        .env("ANKYRA_TEST_PAUSE_DIR", pause.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("spawning ankyra apply")?;
    let reached = pause.path().join(format!("{point}.reached"));
    let started = Instant::now();
    while !reached.exists() {
        if let Some(status) = child.try_wait()? {
            bail!("the apply ended ({status}) before `{point}`");
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the apply never reached `{point}`"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let faulted = fault();
    std::fs::write(pause.path().join(format!("{point}.go")), b"")?;
    let done = child.wait_with_output()?;
    faulted?;
    let stderr = String::from_utf8_lossy(&done.stderr).into_owned();
    eprintln!("{stderr}");
    Ok((done.status.code(), stderr))
}

/// `ankyra rollback CLOUD keystone`: it succeeds and exactly OLD serves.
fn rollback_keystone(cloud: &Cloud, vip: &str) -> Result<()> {
    let out = cloud.ankyra_run(
        &["rollback", &cloud.name, "keystone"],
        Duration::from_secs(900),
        true,
    )?;
    ensure!(
        out.success(),
        "rollback failed:\n{}",
        out.describe_failure()
    );
    let serving = one_version_serves(cloud, vip)?;
    ensure!(
        serving == OLD,
        "after the rollback, expected {OLD} in rotation, {serving} serves"
    );
    Ok(())
}

/// The cloud's health in `ankyra fleet ls -o json` (`failed`: its last apply failed).
fn health(cloud: &Cloud) -> Result<String> {
    let out = cloud.ankyra_run(
        &["fleet", "ls", "-o", "json"],
        Duration::from_secs(60),
        false,
    )?;
    out.check()?;
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).context("fleet ls -o json")?;
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r["cloud"] == cloud.name.as_str()))
        .and_then(|r| r["health"].as_str())
        .map(str::to_string)
        .with_context(|| format!("no health for {} in:\n{}", cloud.name, out.stdout))
}

const FILLER: &str = "/var/lib/mysql/ankyra-e2e-filler";

/// Takes every free block of the database volume: most at once with
/// fallocate, the last ones with dd until the disk says it is full.
fn fill(engine: &ankyra_e2e::engine::Engine, db: &str) -> Result<()> {
    let script = format!(
        "df -Pk /var/lib/mysql | tail -n 1 | {{ read fs size used avail rest; \
         fallocate -l $(( (avail - 1024) * 1024 )) {FILLER}; }} && \
         {{ dd if=/dev/zero of={FILLER}-rest bs=4k 2>/dev/null; \
         df -Pk /var/lib/mysql | tail -n 1; }}"
    );
    let (code, out) = engine.exec(db, &["sh", "-c", &script])?;
    ensure!(code == 0, "filling the volume failed ({code}): {out}");
    let free = out.split_whitespace().nth(3);
    ensure!(free == Some("0"), "the volume still has free space: {out}");
    e2e_log!("filled the database volume: {}", out.trim());
    Ok(())
}

fn unfill(engine: &ankyra_e2e::engine::Engine, db: &str) -> Result<()> {
    let (code, out) = engine.exec(db, &["sh", "-c", &format!("rm -f {FILLER} {FILLER}-rest")])?;
    ensure!(code == 0, "freeing the volume failed ({code}): {out}");
    Ok(())
}

/// Text without the error box's frame and without whitespace: the box wraps
/// its lines at spaces and hyphens, so words are compared this way.
fn squash(text: &str) -> String {
    text.replace('│', "").split_whitespace().collect()
}

/// The apply stopped with exit 1, saying the disk is full and which volume,
/// and its revision is marked failed. Returns what it said, squashed.
fn expect_disk_full(
    cloud: &Cloud,
    code: Option<i32>,
    stderr: &str,
    volume: &str,
) -> Result<String> {
    ensure!(
        code == Some(1),
        "expected the upgrade to stop (exit 1), it ended with {code:?}:\n{stderr}"
    );
    let said = squash(stderr);
    ensure!(
        said.contains(&squash("disk full")) && said.contains(volume),
        "the failure must say the disk is full and which volume:\n{stderr}"
    );
    ensure!(
        health(cloud)? == "failed",
        "the stopped revision must be marked failed"
    );
    Ok(said)
}

/// Exactly `version` in rotation, every user and the project still there, the
/// old token still valid.
fn intact(
    cloud: &mut Cloud,
    k: &Keystone,
    token: &str,
    users: &[String],
    version: &str,
) -> Result<()> {
    let serving = one_version_serves(cloud, &k.vip())?;
    ensure!(
        serving == version,
        "expected {version} in rotation, {serving} serves"
    );
    let listed = cloud.openstack(&["user", "list", "-f", "value", "-c", "Name"])?;
    for u in users {
        ensure!(listed.lines().any(|l| l.trim() == u), "user {u} lost");
    }
    let projects = cloud.openstack(&["project", "list", "-f", "value", "-c", "Name"])?;
    ensure!(
        projects.lines().any(|l| l.trim() == "crash-project"),
        "project lost"
    );
    k.validate(token)
        .context("the old token no longer validates")
}

/// `ankyra apply CLOUD`, restarting `component`'s container when the apply's progress
/// first shows `when`. Returns whether the apply succeeded, and its stderr.
fn apply_with_restart(
    cloud: &Cloud,
    engine: &ankyra_e2e::engine::Engine,
    component: &str,
    when: &str,
) -> Result<(bool, String)> {
    use std::io::BufRead;
    let mut child = cloud
        .ankyra_cmd(&["apply", &cloud.name])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("spawning ankyra apply")?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut all = String::new();
    let mut restarted = false;
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line?;
        eprintln!("    | {line}");
        if !restarted && line.contains(when) {
            let list = engine.containers(&cloud.name, Some(component))?;
            let id = list
                .first()
                .and_then(|c| c.id.clone())
                .with_context(|| format!("no {component} container"))?;
            engine.stop(&id, 1)?;
            engine.start(&id)?;
            restarted = true;
            e2e_log!("restarted {component} at `{when}`");
        }
        all.push_str(&line);
        all.push('\n');
    }
    let status = child.wait()?;
    ensure!(restarted, "the apply never reached `{when}`:\n{all}");
    Ok((status.success(), all))
}
