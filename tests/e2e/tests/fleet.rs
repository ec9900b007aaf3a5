//! Issue 10's fleet test, end to end on real engines (feature `docker`): four small
//! clouds (mariadb, memcached, haproxy, keystone) in ONE store, all at keystone
//! 27.0.2; three in region eu-west — one of them on a second, real Docker Engine
//! (its own dockerd in its own network namespace, reached over TCP with TLS,
//! scripts/docker-host.sh) — and one in us-east.
//!
//! 1. A deliberately broken keystone image rolled out with `fleet set --waves 1,100%`
//!    halts the fleet at the canary: the canary rolls back by itself with zero failed
//!    requests, the other clouds keep their containers. `fleet rollback` then returns
//!    the canary's record to where it was.
//! 2. The security patch: `fleet set keystone=27.1.0 --where 'keystone<27.1.0,region=eu-west'`
//!    selects the three eu-west clouds; the runner is SIGKILLed in the middle of the
//!    canary (test-only kill point) and `fleet resume` finishes the operation. Under
//!    a steady token load on each selected cloud: zero failed requests; the us-east
//!    cloud is untouched (container IDs unchanged); every selected cloud runs 27.1.0.
//! 3. `fleet rollback` returns every touched cloud to 27.0.2 with zero failed requests.
#![cfg(feature = "docker")]

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ankyra_e2e::load::{Keystone, Load, LoadReport};
use ankyra_e2e::multihost::RemoteHost;
use ankyra_e2e::paths::ankyra_bin;
use ankyra_e2e::process::{run, Output, RunOptions};
use ankyra_e2e::status::Status;
use ankyra_e2e::{e2e_log, engine::Engine};
use anyhow::{ensure, Context, Result};
use serde_json::Value;

const OLD: &str = "27.0.2";
const PATCH: &str = "27.1.0";
const HOST: &str = "ankyra-fl1";

/// The four clouds: name suffix, region, on the remote engine.
const CLOUDS: &[(&str, &str, bool)] = &[
    ("a", "eu-west", false),
    ("b", "eu-west", true),
    ("c", "eu-west", false),
    ("d", "us-east", false),
];

struct Fleet {
    dir: tempfile::TempDir,
    ankyra: PathBuf,
    prefix: String,
    deployed: Vec<String>,
    remote: Option<RemoteHost>,
}

impl Fleet {
    fn store(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.ankyra);
        cmd.args(args)
            .env("ANKYRA_STORE", self.store())
            .env("NO_COLOR", "1");
        cmd
    }

    fn run(&self, args: &[&str], timeout_secs: u64) -> Result<Output> {
        let label = format!("ankyra {}", args[..args.len().min(2)].join(" "));
        run(
            &mut self.cmd(args),
            RunOptions::new(label, Duration::from_secs(timeout_secs)).echo_stderr(),
        )
    }

    fn record(&self, suffix: &str, region: &str, remote: Option<&RemoteHost>) -> String {
        let name = self.name(suffix);
        let host = match remote {
            Some(h) => {
                let tls = h.address.tls.as_ref().map(|t| {
                    format!(
                        "\n      tls:\n        ca: {}\n        cert: {}\n        key: {}",
                        t.ca.display(),
                        t.cert.display(),
                        t.key.display()
                    )
                });
                format!(
                    "  hosts:\n    {HOST}:\n      engine: {}\n      subnetPool: {}{}\n  host: {HOST}\n",
                    h.address.url,
                    h.subnet_pool,
                    tls.unwrap_or_default()
                )
            }
            None => String::new(),
        };
        format!(
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: {name}\n  labels:\n    region: {region}\n\
             spec:\n  release: \"2025.1\"\n{host}  rollout:\n    bakeWindow: 1h\n    observe: 3s\n  \
             components:\n    mariadb: {{}}\n    memcached: {{}}\n    haproxy: {{}}\n    \
             keystone:\n      version: {OLD}\n"
        )
    }

    fn status(&self, cloud: &str) -> Result<Status> {
        let out = self.run(&["status", cloud, "-o", "json"], 120)?;
        out.check().context("ankyra status")?;
        Status::parse(&out.stdout)
    }

    fn keystone(&self, cloud: &str) -> Result<Keystone> {
        let status = self.status(cloud)?;
        let path = status.clouds_yaml.context("no clouds.yaml in status")?;
        Keystone::from_clouds_yaml(&std::fs::read_to_string(path)?, cloud)
    }

    fn fleet_status(&self, op: u64) -> Result<Value> {
        let out = self.run(&["fleet", "status", &op.to_string(), "-o", "json"], 60)?;
        out.check()?;
        let v: Value = serde_json::from_str(&out.stdout)?;
        v.get(0).cloned().context("no operation in fleet status")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if ankyra_e2e::cloud::keep_requested() {
            return;
        }
        for cloud in self.deployed.clone() {
            let _ = self.run(&["destroy", &cloud, "--purge"], 300);
        }
        if let Some(h) = &self.remote {
            let _ = h.down();
        }
    }
}

/// The operation id a `fleet set` printed ("fleet operation N recorded").
fn op_id(out: &Output) -> Result<u64> {
    let text = format!("{}\n{}", out.stdout, out.stderr);
    text.lines()
        .find_map(|l| {
            l.split_once("fleet operation ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|n| n.trim_end_matches(':').parse().ok())
        })
        .context("no fleet operation id in the output")
}

fn member_states(op: &Value) -> BTreeMap<String, (String, String)> {
    op["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["cloud"].as_str().unwrap_or_default().to_string(),
                (
                    m["state"].as_str().unwrap_or_default().to_string(),
                    m["reason"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

fn keystone_version(s: &Status) -> String {
    s.component("keystone")
        .map(|c| c.running_version.clone().unwrap_or_default())
        .unwrap_or_default()
}

/// The one keystone server HAProxy has in rotation (UP, no maintenance or
/// drain flag; the clouds run one keystone instance, so one server is one
/// version); an error if there is none or more than one after a minute.
fn one_version(vip: &str) -> Result<String> {
    let started = std::time::Instant::now();
    loop {
        match servers_up(vip) {
            Ok(up) => return Ok(up),
            Err(e) if started.elapsed() > Duration::from_secs(60) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

fn servers_up(vip: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((vip, 9999)).context("HAProxy runtime API")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"show servers state keystone\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    // Columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
    let up: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 6 && f[5] == "2" && f[6] == "0").then(|| f[3])
        })
        .collect();
    ensure!(!up.is_empty(), "no keystone server in rotation:\n{out}");
    ensure!(
        up.len() == 1,
        "more than one keystone server in rotation: {up:?}"
    );
    Ok(up.join(","))
}

fn check_loads(what: &str, reports: Vec<(String, LoadReport)>) -> Result<()> {
    for (cloud, rep) in reports {
        e2e_log!("{what}: load on {cloud}: {}", rep.summary());
        ensure!(rep.requests > 0, "{what}: no request reached {cloud}");
        ensure!(
            rep.failures.is_empty(),
            "{what}: {} failed requests on {cloud}: {:?}",
            rep.failures.len(),
            rep.failures
        );
    }
    Ok(())
}

fn start_loads(f: &Fleet, clouds: &[String]) -> Result<Vec<(String, Load)>> {
    clouds
        .iter()
        .map(|c| {
            let k = f.keystone(c)?;
            Ok((
                c.clone(),
                Load::start(&k, None, Duration::from_millis(150))?,
            ))
        })
        .collect()
}

fn stop_loads(loads: Vec<(String, Load)>) -> Vec<(String, LoadReport)> {
    loads.into_iter().map(|(c, l)| (c, l.stop())).collect()
}

#[test]
fn issue_10_fleet_patch_in_waves_halt_resume_and_rollback() -> Result<()> {
    let remote = RemoteHost::up(HOST, 1).context("starting the second Docker Engine")?;
    e2e_log!(
        "second engine {} at {} (pool {})",
        remote.name,
        remote.address.url,
        remote.subnet_pool
    );
    let mut f = Fleet {
        dir: tempfile::Builder::new().prefix("ankyra-fleet-").tempdir()?,
        ankyra: ankyra_bin()?,
        prefix: format!("fl{}", std::process::id() % 100_000),
        deployed: Vec::new(),
        remote: Some(remote),
    };
    let remote = f.remote.clone().context("remote host")?;

    // Four clouds in one store.
    for (suffix, region, on_remote) in CLOUDS {
        let name = f.name(suffix);
        let path = f.dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            f.record(suffix, region, on_remote.then_some(&remote)),
        )?;
        f.deployed.push(name.clone());
        let out = f.run(
            &["apply", "-f", &path.display().to_string(), "--no-progress"],
            3600,
        )?;
        ensure!(
            out.success(),
            "deploying {name} failed:\n{}",
            out.describe_failure()
        );
        ensure!(keystone_version(&f.status(&name)?) == OLD);
    }
    let names: Vec<String> = CLOUDS.iter().map(|(s, _, _)| f.name(s)).collect();
    let eu: Vec<String> = names[..3].to_vec();
    let us = names[3].clone();

    // The remote cloud's containers really are on the second engine, not the local one.
    let local = Engine::connect()?;
    let on_local = local.containers(&names[1], None)?;
    ensure!(
        on_local.is_empty(),
        "cloud {} is on the remote engine, yet the local engine has {} of its containers",
        names[1],
        on_local.len()
    );
    let ls = f.run(&["fleet", "ls", "-o", "json"], 60)?;
    ls.check()?;
    e2e_log!("fleet ls:\n{}", f.run(&["fleet", "ls"], 60)?.stdout);

    let ids_before: BTreeMap<String, BTreeMap<String, String>> = names
        .iter()
        .map(|n| Ok((n.clone(), f.status(n)?.container_ids())))
        .collect::<Result<_>>()?;
    let selector = format!("keystone<{PATCH},region=eu-west");

    // 1. A broken image halts the fleet at the canary.
    let broken = format!("ankyra-e2e/keystone-broken:{PATCH}");
    local.patched_image(
        &format!("ankyra/keystone:{PATCH}"),
        &broken,
        "rm -rf /opt/openstack/lib/python3.11/site-packages/keystone/wsgi",
    )?;
    let dry = f.run(
        &[
            "fleet",
            "set",
            &format!("keystone={broken}"),
            "--where",
            &selector,
            "--waves",
            "1,100%",
            "--dry-run",
            "-o",
            "json",
        ],
        60,
    )?;
    dry.check()?;
    let plan: Value = serde_json::from_str(&dry.stdout)?;
    let planned: Vec<(String, u64)> = plan["clouds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["cloud"].as_str().unwrap_or_default().to_string(),
                c["wave"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    ensure!(
        planned == vec![(eu[0].clone(), 1), (eu[1].clone(), 2), (eu[2].clone(), 2)],
        "unexpected plan {planned:?}"
    );
    let loads = start_loads(&f, &eu[..1])?;
    let out = f.run(
        &[
            "fleet",
            "set",
            &format!("keystone={broken}"),
            "--where",
            &selector,
            "--waves",
            "1,100%",
            "--yes",
        ],
        1800,
    )?;
    let reports = stop_loads(loads);
    ensure!(
        out.status.code() == Some(1),
        "a broken canary must halt the fleet with exit 1, got {:?}:\n{}",
        out.status,
        out.describe_failure()
    );
    let broken_op = op_id(&out)?;
    let op = f.fleet_status(broken_op)?;
    let states = member_states(&op);
    e2e_log!("fleet operation {broken_op}: {states:?}");
    ensure!(
        op["state"] == "halted",
        "expected halted, got {}",
        op["state"]
    );
    ensure!(states[&eu[0]].0 == "failed" && states[&eu[0]].1.contains("rolled back"));
    ensure!(states[&eu[1]].0 == "pending" && states[&eu[2]].0 == "pending");
    check_loads("broken canary", reports)?;
    for n in &names {
        let now = f.status(n)?;
        ensure!(keystone_version(&now) == OLD, "{n} no longer runs {OLD}");
        ensure!(
            now.container_ids() == ids_before[n],
            "{n}'s containers changed after the halted fleet operation"
        );
    }
    // Its record goes back too (the canary already runs the old version: nothing restarts).
    let out = f.run(&["fleet", "rollback", &broken_op.to_string()], 1800)?;
    ensure!(
        out.success(),
        "fleet rollback of the halted operation failed:\n{}",
        out.describe_failure()
    );
    ensure!(f.status(&eu[0])?.container_ids() == ids_before[&eu[0]]);

    // 2. The security patch, with the runner killed mid-canary and resumed.
    let loads = start_loads(&f, &eu)?;
    let mut cmd = f.cmd(&[
        "fleet",
        "set",
        &format!("keystone={PATCH}"),
        "--where",
        &selector,
        "--waves",
        "1,100%",
        "--yes",
        "--no-progress",
    ]);
    cmd.env("ANKYRA_TEST_KILL_AT", "old-parked");
    let killed = cmd.output().context("running the fleet set to be killed")?;
    ensure!(
        killed.status.signal() == Some(9),
        "expected the fleet runner to die by SIGKILL, it ended with {:?}:\n{}",
        killed.status,
        String::from_utf8_lossy(&killed.stderr)
    );
    let patch_op = op_id(&Output {
        label: "fleet set (killed)".into(),
        status: killed.status,
        stdout: String::from_utf8_lossy(&killed.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&killed.stderr).into_owned(),
        elapsed: Duration::ZERO,
    })?;
    let op = f.fleet_status(patch_op)?;
    e2e_log!("after the kill: {:?}", member_states(&op));
    ensure!(member_states(&op)[&eu[0]].0 == "in-progress");
    let out = f.run(&["fleet", "resume", &patch_op.to_string()], 3600)?;
    let reports = stop_loads(loads);
    ensure!(
        out.success(),
        "fleet resume failed:\n{}",
        out.describe_failure()
    );
    check_loads("security patch", reports)?;
    let op = f.fleet_status(patch_op)?;
    ensure!(op["state"] == "done", "expected done, got {}", op["state"]);
    for n in &eu {
        ensure!(member_states(&op)[n].0 == "done");
        ensure!(
            keystone_version(&f.status(n)?) == PATCH,
            "{n} does not run {PATCH}"
        );
        // Each cloud was upgraded once: one revision made by the operation, applied.
        let hist = f.run(&["history", n, "-o", "json"], 60)?;
        hist.check()?;
        let revs: Value = serde_json::from_str(&hist.stdout)?;
        let by_op = revs
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("keystone={PATCH}"))
            })
            .count();
        ensure!(
            by_op == 1,
            "{n} has {by_op} revisions of the patch, expected 1"
        );
    }
    ensure!(
        f.status(&us)?.container_ids() == ids_before[&us],
        "the us-east cloud was touched"
    );
    ensure!(keystone_version(&f.status(&us)?) == OLD);
    let ls = f.run(
        &["fleet", "ls", "--where", &format!("keystone<{PATCH}")],
        60,
    )?;
    ls.check()?;
    ensure!(
        ls.stdout.contains(&us) && !eu.iter().any(|n| ls.stdout.contains(n.as_str())),
        "fleet ls --where keystone<{PATCH} should list only {us}:\n{}",
        ls.stdout
    );

    // 3. Fleet rollback: every touched cloud back to the earlier point release.
    let loads = start_loads(&f, &eu)?;
    let out = f.run(&["fleet", "rollback", &patch_op.to_string()], 3600)?;
    let reports = stop_loads(loads);
    ensure!(
        out.success(),
        "fleet rollback failed:\n{}",
        out.describe_failure()
    );
    check_loads("fleet rollback", reports)?;
    for n in &eu {
        ensure!(
            keystone_version(&f.status(n)?) == OLD,
            "{n} is not back on {OLD}"
        );
    }
    let op = f.fleet_status(patch_op)?;
    ensure!(
        op["state"] == "rolled-back",
        "expected rolled-back, got {}",
        op["state"]
    );

    // 4. Issue 6: the remote engine refuses every call for 6 s in the middle of an
    //    upgrade of the remote cloud. It ends complete or cleanly failed, with the
    //    reason; never two versions in rotation, never a failed request; a new apply
    //    then completes it.
    let b = eu[1].clone();
    let k = f.keystone(&b)?;
    let vip = k.vip();
    let load = Load::start(&k, None, Duration::from_millis(150))?;
    let child = f
        .cmd(&[
            "set",
            &b,
            &format!("keystone={PATCH}"),
            "--apply",
            "--no-progress",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(4));
    remote.refuse_api(true)?;
    e2e_log!("remote engine refusing calls");
    std::thread::sleep(Duration::from_secs(6));
    remote.refuse_api(false)?;
    e2e_log!("remote engine accepting calls again");
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    e2e_log!(
        "upgrade with the engine refusing calls: {:?}\n{}",
        out.status,
        ankyra_e2e::process::tail(&stderr, 15)
    );
    if !out.status.success() {
        ensure!(
            !stderr.trim().is_empty(),
            "the failed upgrade reported no reason"
        );
    }
    let serving = one_version(&vip)?;
    e2e_log!("after the refusals, keystone server in rotation: {serving}");
    let out = f.run(&["apply", &b, "--no-progress"], 1800)?;
    let report = load.stop();
    ensure!(
        out.success(),
        "the apply after the refusals failed:\n{}",
        out.describe_failure()
    );
    check_loads("engine refusing calls", vec![(b.clone(), report)])?;
    ensure!(
        keystone_version(&f.status(&b)?) == PATCH,
        "{b} does not run {PATCH}"
    );
    one_version(&vip)?;
    Ok(())
}
