//! Issue 16's proof, Grenade-style, end to end on the real Docker Engine (feature
//! `docker`): a whole cloud deployed at 2026.1 with resources in it (a project, a user
//! with a role on it and that user's token, an image of random bytes, a server), a load
//! on every API through the VIP (one request per API per second, each on a new TCP
//! connection), then three phases, each checked right after its command returns:
//!
//! 1. `ankyra upgrade CLOUD --release 2026.2 --apply`: every OpenStack component at
//!    2026.2 in one revision; neutron's contract head has not moved.
//! 2. `ankyra rollback CLOUD --to 1`: every component back at 2026.1.
//! 3. the upgrade again, then `ankyra finalize CLOUD`: neutron's contract head moved.
//!
//! Between 1 and 2, nova-libvirt's container is replaced by a new image (`set
//! nova-libvirt.image=… --apply`); the rollback takes it back too. Two real guests run
//! throughout: after every command their QEMU processes are the same, their console
//! heartbeat (watched every 0.2 s) had no gap over 5 s and no missing line, they are
//! ACTIVE, and a new server boots the test guest to its console marker.
//!
//! After each command: the user's token validates, the image downloads with the same
//! bytes, every server booted so far is listed and ACTIVE, a new server becomes ACTIVE
//! (no retry: scheduling must work as soon as the command returns), the versions in
//! `ankyra status` are the release's, the infrastructure containers were not touched,
//! and no API request failed during the phase. At the end `compute service list` has
//! no `down` record and one `up` record per nova worker instance.
#![cfg(feature = "docker")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ankyra_e2e::api_load::ApiLoad;
use ankyra_e2e::cloud::str_field;
use ankyra_e2e::engine::{summary_state, Engine};
use ankyra_e2e::guests::{self, HeartbeatWatch};
use ankyra_e2e::load::Keystone;
use ankyra_e2e::releases::{record_2026_1, release_2026_1, INFRASTRUCTURE, OPENSTACK};
use ankyra_e2e::status::id_changes;
use ankyra_e2e::wait::{poll_until, random_bytes, random_hex};
use ankyra_e2e::{e2e_log, Cloud};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

const COMPUTE_API: [&str; 2] = ["--os-compute-api-version", "2.37"];
/// The nova workers that keep a service record each (binary = component name).
const NOVA_WORKERS: [&str; 3] = ["nova-conductor", "nova-scheduler", "nova-compute"];
/// Every command may build images the first time.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);
/// An old token is only checked while it is younger than this (tokens last an hour).
const TOKEN_CHECKED_FOR: Duration = Duration::from_secs(50 * 60);
/// nova calls a service `down` when its last report is older than this (nova's
/// `service_down_time`, 60 s) plus a report interval.
const SERVICE_DOWN_AFTER: Duration = Duration::from_secs(75);

fn nova_json(cloud: &mut Cloud, args: &[&str]) -> Result<Value> {
    let mut all: Vec<&str> = COMPUTE_API.to_vec();
    all.extend_from_slice(args);
    cloud.openstack_json(&all)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The longest a guest may go without a heartbeat line during a change.
const MAX_HEARTBEAT_GAP: Duration = Duration::from_secs(5);
/// The image nova-libvirt's container is replaced with: the same libvirt, rebuilt.
const LIBVIRT_REBUILT: &str = "ankyra-e2e/libvirt:9.0.0-rebuilt";

/// The guests that must outlive every change: their QEMU PIDs and heartbeats.
struct Guests {
    pids: BTreeMap<String, u32>,
    watch: HeartbeatWatch,
}

impl Guests {
    fn check(&self, phase: &str) -> Result<()> {
        for (id, pid) in &self.pids {
            let now = guests::qemu_pid(id)?;
            ensure!(
                now == Some(*pid),
                "{phase}: guest {id} ran in QEMU {pid}, now {now:?}"
            );
        }
        self.watch.check(phase, MAX_HEARTBEAT_GAP)?;
        e2e_log!("{phase}: guests kept their QEMU processes {:?}", self.pids);
        Ok(())
    }
}

/// What the test created before the first change, and checks after every command.
struct World {
    keystone: Keystone,
    tag: String,
    user: String,
    password: String,
    project: String,
    /// The user's token issued right after the deploy, and when.
    first_token: (String, Instant),
    image: String,
    image_sha256: String,
    /// Every server booted so far: (name, id).
    servers: Vec<(String, String)>,
}

/// Neutron's alembic heads (`neutron.alembic_version`), each sorted into its branch by
/// the migration file that defines it in a running neutron-server container.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NeutronHeads {
    expand: Vec<String>,
    contract: Vec<String>,
}

/// Reads `alembic_version` in the mariadb container as root, with the client options
/// file Ankyra mounts there (the password never leaves it), then finds each revision's
/// file under neutron's `alembic_migrations/versions/<release>/{expand,contract}/`.
/// `known` keeps each revision's branch once a running neutron told it: after a
/// rollback the older code runs on the expanded schema and does not know the newer
/// expand head.
fn neutron_heads(
    engine: &Engine,
    cloud: &str,
    known: &mut BTreeMap<String, bool>,
) -> Result<NeutronHeads> {
    let running = |component: &str| -> Result<Vec<String>> {
        Ok(engine
            .containers(cloud, Some(component))?
            .iter()
            .filter(|c| summary_state(c) == "running")
            .filter_map(|c| c.id.clone())
            .collect())
    };
    let db = running("mariadb")?
        .into_iter()
        .next()
        .context("no running mariadb container")?;
    let (code, out) = engine.exec(
        &db,
        &[
            "mariadb",
            "--defaults-extra-file=/etc/ankyra/mariadb/client.cnf",
            "--socket=/run/mysqld/mysqld.sock",
            "-N",
            "-B",
            "-e",
            "SELECT version_num FROM neutron.alembic_version ORDER BY version_num",
        ],
    )?;
    ensure!(
        code == 0,
        "reading neutron.alembic_version failed ({code}): {out}"
    );
    let ids: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    ensure!(
        !ids.is_empty()
            && ids
                .iter()
                .all(|i| i.chars().all(|c| c.is_ascii_alphanumeric())),
        "unexpected neutron.alembic_version rows: {out:?}"
    );
    let mut heads = NeutronHeads {
        expand: Vec::new(),
        contract: Vec::new(),
    };
    let neutrons = running("neutron-server")?;
    'ids: for id in &ids {
        match known.get(id) {
            Some(true) => {
                heads.contract.push(id.clone());
                continue 'ids;
            }
            Some(false) => {
                heads.expand.push(id.clone());
                continue 'ids;
            }
            None => {}
        }
        // Any running neutron knows a head its own version wrote; an older one (a parked
        // instance) may not know a newer head, so ask each until one does.
        for n in &neutrons {
            let script = format!(
                "d=$(find /opt /usr -xdev -type d \
                 -path '*neutron/db/migration/alembic_migrations/versions' 2>/dev/null | head -n 1); \
                 [ -n \"$d\" ] && grep -rlE \"^revision = ['\\\"]{id}['\\\"]\" \"$d\" </dev/null"
            );
            let (_, files) = engine.exec(n, &["sh", "-c", &script])?;
            if files.contains("/contract/") {
                known.insert(id.clone(), true);
                heads.contract.push(id.clone());
                continue 'ids;
            }
            if files.contains("/expand/") {
                known.insert(id.clone(), false);
                heads.expand.push(id.clone());
                continue 'ids;
            }
        }
        bail!("no running neutron-server knows the branch of alembic revision {id} (rows {ids:?})");
    }
    Ok(heads)
}

/// The job that contracts neutron's schema (catalog: neutron's `finalize_jobs`).
const NEUTRON_CONTRACT_JOB: &str = "neutron db upgrade --contract";
/// The job that expands it (its `upgrade_jobs`).
const NEUTRON_EXPAND_JOB: &str = "neutron db upgrade --expand";

/// Neutron's contract head is where 2026.1 had it.
fn contract_unmoved(before: &NeutronHeads, now: &NeutronHeads, what: &str) -> Result<()> {
    ensure!(
        now.contract == before.contract,
        "{what} moved neutron's contract head: {before:?} → {now:?}"
    );
    Ok(())
}

/// An upgrade ran neutron's expand job and not its contract job.
fn expand_not_contract(progress: &str, phase: &str) -> Result<()> {
    ensure!(
        progress.contains(NEUTRON_EXPAND_JOB) && !progress.contains(NEUTRON_CONTRACT_JOB),
        "{phase}: expected `{NEUTRON_EXPAND_JOB}` and no `{NEUTRON_CONTRACT_JOB}`:\n{progress}"
    );
    Ok(())
}

/// The contract head the running neutron-server's code ships
/// (`alembic_migrations/versions/CONTRACT_HEAD`).
fn contract_head_file(engine: &Engine, cloud: &str) -> Result<String> {
    let neutron = engine
        .containers(cloud, Some("neutron-server"))?
        .iter()
        .filter(|c| summary_state(c) == "running")
        .find_map(|c| c.id.clone())
        .context("no running neutron-server")?;
    let (code, out) = engine.exec(
        &neutron,
        &[
            "sh",
            "-c",
            "cat $(find /opt -xdev -path '*alembic_migrations/versions/CONTRACT_HEAD' | head -n 1)",
        ],
    )?;
    ensure!(code == 0, "reading CONTRACT_HEAD failed ({code}): {out}");
    Ok(out.trim().to_string())
}

/// How many revisions the cloud has.
fn revisions(cloud: &Cloud, name: &str) -> Result<usize> {
    let out = cloud.ankyra_run(
        &["history", name, "-o", "json"],
        Duration::from_secs(60),
        false,
    )?;
    let rows: serde_json::Value = serde_json::from_str(&out.stdout)
        .with_context(|| format!("history -o json: {}", out.stdout))?;
    rows.as_array()
        .map(Vec::len)
        .context("history -o json is not a list")
}

/// `upgrade --apply` on a cloud with a stopped component is refused before anything
/// is recorded or touched (exit 3), naming the blocker; started again, the component
/// is healthy and the cloud as it was.
fn preflight_refuses_an_unhealthy_cloud(
    cloud: &mut Cloud,
    engine: &Engine,
    name: &str,
) -> Result<()> {
    e2e_log!("=== pre-flight: a stopped nova-scheduler blocks a whole-cloud upgrade");
    let before = revisions(cloud, name)?;
    let id = engine
        .containers(name, Some("nova-scheduler"))?
        .iter()
        .filter(|c| summary_state(c) == "running")
        .find_map(|c| c.id.clone())
        .context("no running nova-scheduler")?;
    engine.stop(&id, 10)?;
    let out = cloud.ankyra_run(
        &["upgrade", name, "--release", "2026.2", "--apply"],
        Duration::from_secs(300),
        false,
    );
    engine.start(&id)?;
    let out = out?;
    e2e_log!("refused as expected:\n{}", out.stderr.trim());
    ensure!(
        out.status.code() == Some(3),
        "expected exit 3 from a refused pre-flight, got {}:\n{}",
        out.status,
        out.describe_failure()
    );
    ensure!(
        out.stderr.contains("[health] nova-scheduler")
            && out.stderr.contains("nothing was recorded"),
        "the refusal should name the blocker:\n{}",
        out.stderr
    );
    ensure!(
        revisions(cloud, name)? == before,
        "a refused upgrade recorded a revision"
    );
    poll_until(
        "nova-scheduler healthy again",
        Duration::from_secs(180),
        Duration::from_secs(3),
        || {
            let health = cloud
                .status()?
                .component("nova-scheduler")
                .map(|c| c.health.clone())
                .unwrap_or_default();
            ensure!(health == "healthy", "nova-scheduler is {health}");
            Ok(())
        },
    )?;
    Ok(())
}

/// Container IDs of the infrastructure components (upgrade --release leaves them).
fn infrastructure_ids(cloud: &Cloud) -> Result<BTreeMap<String, String>> {
    Ok(cloud
        .status()?
        .components
        .iter()
        .filter(|c| INFRASTRUCTURE.contains(&c.name.as_str()))
        .flat_map(|c| c.containers.iter())
        .map(|k| (k.name.clone(), k.id.clone()))
        .collect())
}

/// Each OpenStack component's running version, from `ankyra status`.
fn running_versions(cloud: &Cloud) -> Result<BTreeMap<String, String>> {
    let status = cloud.status()?;
    OPENSTACK
        .iter()
        .map(|c| {
            let s = status
                .component(c)
                .with_context(|| format!("{c} not in `ankyra status`"))?;
            Ok((
                c.to_string(),
                s.running_version.clone().unwrap_or_else(|| "none".into()),
            ))
        })
        .collect()
}

/// Runs one ankyra command of a phase (progress echoed), its wall time logged.
/// Runs `ankyra ARGS` and returns its progress lines (stderr).
fn command(cloud: &Cloud, phase: &str, args: &[&str]) -> Result<String> {
    e2e_log!("=== {phase}: ankyra {}", args.join(" "));
    let out = cloud.ankyra_run(args, COMMAND_TIMEOUT, true)?;
    e2e_log!(
        "=== {phase}: `ankyra {}` exited with {} after {:.1} s (wall time)",
        args.first().copied().unwrap_or(""),
        out.status,
        out.elapsed.as_secs_f64()
    );
    ensure!(out.success(), "{phase} failed:\n{}", out.describe_failure());
    Ok(out.stderr)
}

/// The checks made right after every command.
fn check_cloud(
    cloud: &mut Cloud,
    world: &mut World,
    phase: &str,
    phase_token: &str,
    want: &BTreeMap<String, String>,
    infrastructure: &BTreeMap<String, String>,
) -> Result<()> {
    let t = Instant::now();
    // The user's tokens, issued before the command, still validate.
    world
        .keystone
        .validate(phase_token)
        .with_context(|| format!("{phase}: the user's token issued before it"))?;
    if world.first_token.1.elapsed() < TOKEN_CHECKED_FOR {
        world
            .keystone
            .validate(&world.first_token.0)
            .with_context(|| format!("{phase}: the user's token issued after the deploy"))?;
    } else {
        // Keystone's default token lifetime is one hour: past it, not a finding.
        e2e_log!("{phase}: the first token is near its expiry, not checked");
    }

    // A new server is scheduled and boots the test guest to its console marker,
    // with no retry; then it goes (running guests are what the watch is for).
    let name = format!("e2e-after-{}-{}", phase.replace(' ', "-"), world.tag);
    let id = guests::boot(cloud, &name)
        .with_context(|| format!("{phase}: booting a new server right after the command"))?;
    guests::wait_booted(cloud, &id, Duration::from_secs(180))
        .with_context(|| format!("{phase}: the new server's console"))?;
    e2e_log!("{phase}: new server {name} ({id}) ACTIVE and booted");
    cloud
        .openstack(&["server", "delete", "--wait", &id])
        .with_context(|| format!("{phase}: deleting the new server"))?;

    // The image downloads with the same bytes.
    let saved = cloud
        .dir
        .join(format!("image-{}.raw", phase.replace(' ', "-")));
    let saved_s = saved.display().to_string();
    cloud
        .openstack(&["image", "save", "--file", &saved_s, &world.image])
        .with_context(|| format!("{phase}: downloading the image"))?;
    let bytes = std::fs::read(&saved)?;
    let sha = sha256_hex(&bytes);
    ensure!(
        sha == world.image_sha256,
        "{phase}: the image downloaded with sha256 {sha} ({} bytes), uploaded {}",
        bytes.len(),
        world.image_sha256
    );
    let _ = std::fs::remove_file(&saved);

    // Every server booted so far is listed and ACTIVE.
    let list = nova_json(cloud, &["server", "list"])?;
    let list = list.as_array().context("server list is not a list")?;
    for (name, id) in &world.servers {
        let row = list
            .iter()
            .find(|s| str_field(s, "ID").is_ok_and(|i| i == *id))
            .with_context(|| format!("{phase}: server {name} ({id}) is not listed: {list:?}"))?;
        ensure!(
            str_field(row, "Status")? == "ACTIVE",
            "{phase}: server {name} is {}, expected ACTIVE",
            str_field(row, "Status")?
        );
    }

    // The versions the phase wants, and the infrastructure untouched.
    let running = running_versions(cloud)?;
    ensure!(
        &running == want,
        "{phase}: expected running versions {want:?}, found {running:?}"
    );
    let infra = infrastructure_ids(cloud)?;
    let changed = id_changes(infrastructure, &infra);
    ensure!(
        changed.is_empty(),
        "{phase}: infrastructure containers changed:\n{}",
        changed.join("\n")
    );
    e2e_log!(
        "{phase}: checks passed in {:.1} s: tokens valid, image sha256 {}, {} servers ACTIVE, versions {:?}",
        t.elapsed().as_secs_f64(),
        &sha[..12],
        world.servers.len(),
        running
    );
    Ok(())
}

/// After a failed phase: `ankyra status`, and the last log lines of every container of
/// a component that is not healthy (what the failure report needs beside the error).
fn show_unhealthy(cloud: &Cloud, engine: &Engine, phase: &str) {
    let Ok(status) = cloud.status() else {
        return;
    };
    e2e_log!("status after {phase}:\n{}", status.summary());
    for c in status.components.iter().filter(|c| c.health != "healthy") {
        for k in &c.containers {
            if let Ok(log) = engine.logs(&k.id) {
                e2e_log!(
                    "last log lines of {} ({}):\n{}",
                    k.name,
                    c.health,
                    ankyra_e2e::process::tail(&log, 30)
                );
            }
        }
    }
}

/// Takes the load's counters for `phase`, prints them, and fails on any failed request.
fn load_report(load: &ApiLoad, phase: &str) -> Result<()> {
    let report = load.take(phase);
    ankyra_e2e::log::raw(&report.table());
    report.check(3)
}

#[test]
fn issue_16_whole_cloud_upgrade_rollback_finalize_under_load() -> Result<()> {
    let engine = Engine::connect()?;
    let mut cloud = Cloud::init()?;
    let name = cloud.name.clone();
    let init = std::fs::read_to_string(&cloud.record)?;
    // A bake window long enough for the whole test: the rollback is a switch.
    let record = record_2026_1(&init, Some("2h"));
    ensure!(
        record.contains("version: 33.0.2") && record.contains("bakeWindow: 2h"),
        "the init record changed shape:\n{init}"
    );
    std::fs::write(&cloud.record, &record)?;
    let release_2026_1 = release_2026_1();

    e2e_log!("=== deploy: a whole cloud at 2026.1");
    let t = Instant::now();
    let out = cloud.apply("e2e: deploy 2026.1")?;
    ensure!(out.success(), "deploy failed:\n{}", out.describe_failure());
    e2e_log!("=== deploy: {:.1} s (wall time)", t.elapsed().as_secs_f64());
    ensure!(
        running_versions(&cloud)? == release_2026_1,
        "expected 2026.1 everywhere after the deploy:\n{}",
        cloud.status()?.summary()
    );

    e2e_log!("=== resources: a project, a user with a role on it, an image, a server");
    let tag = random_hex(4)?;
    let project = format!("e2e-project-{tag}");
    let user = format!("e2e-user-{tag}");
    let password = random_hex(16)?;
    cloud.openstack_json(&["project", "create", "--domain", "default", &project])?;
    cloud.openstack_json(&[
        "user",
        "create",
        "--domain",
        "default",
        "--project",
        &project,
        "--password",
        &password,
        &user,
    ])?;
    cloud.openstack(&[
        "role",
        "add",
        "--project",
        &project,
        "--user",
        &user,
        "member",
    ])?;
    let bytes = random_bytes(4 << 20)?;
    let image = cloud.upload_image(&bytes, &format!("e2e-image-{tag}"))?;
    let image = str_field(&image, "id")?;
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
    let flavor = str_field(&flavor, "id")?;
    // The compute node must be mapped (discover_hosts) before the first boot can be
    // scheduled: only this first one is retried.
    let server_name = format!("e2e-before-{tag}");
    let server = poll_until(
        "the first server booted",
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
            str_field(&v, "id")
        },
    )?;
    e2e_log!("server {server_name} ({server}) ACTIVE on 2026.1");
    let mut servers = vec![(server_name, server)];
    let mut pids = BTreeMap::new();
    let mut consoles = BTreeMap::new();
    for n in 1..=2 {
        let guest_name = format!("e2e-guest-{n}-{tag}");
        let id = guests::boot(&mut cloud, &guest_name)?;
        let log = guests::wait_booted(&mut cloud, &id, Duration::from_secs(180))?;
        let pid = guests::qemu_pid(&id)?.with_context(|| format!("no QEMU runs {id}"))?;
        e2e_log!(
            "guest {guest_name} ({id}) booted in QEMU {pid}:\n{}",
            ankyra_e2e::process::tail(&log, 2)
        );
        consoles.insert(id.clone(), guests::console_path(&engine, &name, &id)?);
        pids.insert(id.clone(), pid);
        servers.push((guest_name, id));
    }
    let guests = Guests {
        pids,
        watch: HeartbeatWatch::start(consoles),
    };
    let yaml = std::fs::read_to_string(cloud.clouds_yaml()?)?;
    let keystone = Keystone::from_clouds_yaml(&yaml, &name)?;
    let first_token = keystone.issue_as(&user, &password, &project)?;
    keystone.validate(&first_token)?;
    let mut world = World {
        keystone: keystone.clone(),
        tag,
        user,
        password,
        project,
        first_token: (first_token.clone(), Instant::now()),
        image,
        image_sha256: sha256_hex(&bytes),
        servers,
    };
    let infrastructure = infrastructure_ids(&cloud)?;
    let mut branches: BTreeMap<String, bool> = BTreeMap::new();
    let heads_before = neutron_heads(&engine, &name, &mut branches)?;
    e2e_log!("neutron heads at 2026.1: {heads_before:?}");

    preflight_refuses_an_unhealthy_cloud(&mut cloud, &engine, &name)?;

    e2e_log!("=== load: every API through the VIP, 1 request/s each, new connection each");
    let load = ApiLoad::start(&keystone, &first_token)?;
    std::thread::sleep(Duration::from_secs(5));
    load_report(&load, "the settled cloud")?;

    let mut phase_times: Vec<(String, f64)> = Vec::new();
    let mut run_phase = |cloud: &mut Cloud,
                         world: &mut World,
                         phase: &str,
                         args: &[&str],
                         want: &BTreeMap<String, String>|
     -> Result<String> {
        let token = world
            .keystone
            .issue_as(&world.user, &world.password, &world.project)?;
        let t = Instant::now();
        let done = command(cloud, phase, args).and_then(|progress| {
            check_cloud(cloud, world, phase, &token, want, &infrastructure)?;
            guests.check(phase)?;
            Ok(progress)
        });
        let wall = t.elapsed().as_secs_f64();
        e2e_log!("=== {phase}: {wall:.1} s with its checks");
        phase_times.push((phase.to_string(), wall));
        let load_ok = load_report(&load, phase);
        if done.is_err() {
            show_unhealthy(cloud, &engine, phase);
        }
        let progress = done?;
        load_ok?;
        Ok(progress)
    };

    // Phase 1: the whole release, applied.
    let release_2026_2 = upgraded_versions(&cloud, &release_2026_1)?;
    let progress = run_phase(
        &mut cloud,
        &mut world,
        "phase 1 upgrade",
        &[
            "upgrade",
            &name,
            "--release",
            "2026.2",
            "--apply",
            "-m",
            "e2e: whole cloud to 2026.2",
        ],
        &release_2026_2,
    )?;
    let heads = neutron_heads(&engine, &name, &mut branches)?;
    e2e_log!("neutron heads after the upgrade: {heads:?}");
    contract_unmoved(&heads_before, &heads, "the upgrade")?;
    // The expand branch moved with the upgrade (29.0.0 adds four expand migrations);
    // the contract job runs only at finalize.
    ensure!(
        heads.expand != heads_before.expand,
        "the upgrade left neutron's expand head where 2026.1 had it: {heads:?}"
    );
    expand_not_contract(&progress, "phase 1 upgrade")?;

    // Phase 1b: nova-libvirt's container replaced by a new image under its guests.
    engine.patched_image(
        &libvirt_image(&cloud)?,
        LIBVIRT_REBUILT,
        "echo rebuilt > /etc/ankyra-e2e-rebuilt",
    )?;
    let _ = run_phase(
        &mut cloud,
        &mut world,
        "phase 1b nova-libvirt image",
        &[
            "set",
            &name,
            &format!("nova-libvirt.image={LIBVIRT_REBUILT}"),
            "--apply",
            "-m",
            "e2e: nova-libvirt rebuilt",
        ],
        &release_2026_2,
    )?;
    ensure!(
        libvirt_image(&cloud)? == LIBVIRT_REBUILT,
        "nova-libvirt does not run {LIBVIRT_REBUILT}"
    );

    // Phase 2: the whole cloud back to revision 1 (nova-libvirt's image too).
    let _ = run_phase(
        &mut cloud,
        &mut world,
        "phase 2 rollback",
        &["rollback", &name, "--to", "1"],
        &release_2026_1,
    )?;
    ensure!(
        libvirt_image(&cloud)? != LIBVIRT_REBUILT,
        "the rollback left nova-libvirt on {LIBVIRT_REBUILT}"
    );
    let heads = neutron_heads(&engine, &name, &mut branches)?;
    e2e_log!("neutron heads after the rollback: {heads:?}");
    contract_unmoved(&heads_before, &heads, "the rollback")?;

    // Phase 3: the upgrade again, then finalize.
    let progress = run_phase(
        &mut cloud,
        &mut world,
        "phase 3 upgrade",
        &[
            "upgrade",
            &name,
            "--release",
            "2026.2",
            "--apply",
            "-m",
            "e2e: whole cloud to 2026.2 again",
        ],
        &release_2026_2,
    )?;
    let upgraded_at = Instant::now();
    let heads_upgraded = neutron_heads(&engine, &name, &mut branches)?;
    e2e_log!("neutron heads after the second upgrade: {heads_upgraded:?}");
    contract_unmoved(&heads_before, &heads_upgraded, "the second upgrade")?;
    expand_not_contract(&progress, "phase 3 upgrade")?;
    let progress = run_phase(
        &mut cloud,
        &mut world,
        "phase 3 finalize",
        &["finalize", &name],
        &release_2026_2,
    )?;
    let heads_final = neutron_heads(&engine, &name, &mut branches)?;
    e2e_log!(
        "neutron heads: 2026.1 {heads_before:?}, upgraded {heads_upgraded:?}, finalized {heads_final:?}"
    );
    // 28.0.2 → 29.0.0 adds no contract migration (neutron's contract branch has
    // stood at 5c85685d616d since Newton), so its head cannot move: what finalize
    // proves is that the contract job ran there, and only there, and that the
    // branch is at the head the running code ships (its CONTRACT_HEAD file).
    ensure!(
        progress.contains(NEUTRON_CONTRACT_JOB),
        "finalize did not run `{NEUTRON_CONTRACT_JOB}`:\n{progress}"
    );
    let shipped = contract_head_file(&engine, &name)?;
    ensure!(
        heads_final.contract == vec![shipped.clone()],
        "after finalize neutron's contract head is {:?}, the running neutron ships {shipped}",
        heads_final.contract
    );
    let status = cloud.status()?;
    let pending: Vec<String> = status
        .components
        .iter()
        .filter_map(|c| {
            // Finalize also retires the instances parked for the bake window.
            let parked = c.bake.as_ref().map(|b| format!("parked {b}"));
            c.not_finalized
                .clone()
                .or(parked)
                .map(|n| format!("{}: {n}", c.name))
        })
        .collect();
    ensure!(
        pending.is_empty(),
        "after finalize, still not finalized: {pending:?}"
    );

    // nova's service records: a replaced worker left no `down` record behind. Records
    // turn `down` only a while after their last report, so wait that long since the
    // last replacement of nova's workers first.
    let wait = SERVICE_DOWN_AFTER.saturating_sub(upgraded_at.elapsed());
    e2e_log!(
        "=== nova services: waiting {:.0} s (nova's service_down_time) before reading them",
        wait.as_secs_f64()
    );
    std::thread::sleep(wait);
    let services = nova_json(&mut cloud, &["compute", "service", "list"])?;
    let services = services
        .as_array()
        .context("compute service list is not a list")?;
    let rows: Vec<String> = services
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {}",
                str_field(s, "Binary").unwrap_or_default(),
                str_field(s, "Host").unwrap_or_default(),
                str_field(s, "Status").unwrap_or_default(),
                str_field(s, "State").unwrap_or_default()
            )
        })
        .collect();
    e2e_log!("compute service list:\n  {}", rows.join("\n  "));
    let down: Vec<&String> = rows.iter().filter(|r| r.ends_with(" down")).collect();
    ensure!(down.is_empty(), "nova service records down: {down:?}");
    for worker in NOVA_WORKERS {
        let instances = status
            .component(worker)
            .with_context(|| format!("{worker} not in status"))?
            .instances;
        let up = services
            .iter()
            .filter(|s| {
                str_field(s, "Binary").is_ok_and(|b| b == worker)
                    && str_field(s, "State").is_ok_and(|st| st == "up")
            })
            .count();
        ensure!(
            up == instances as usize,
            "{worker}: {instances} instance(s) running, {up} `up` service record(s):\n{}",
            rows.join("\n")
        );
    }
    load.stop("the end")
        .check(0)
        .context("load after the last phase")?;

    e2e_log!("=== wall times");
    for (phase, secs) in &phase_times {
        e2e_log!("  {phase:<18} {secs:>7.1} s (command and checks)");
    }
    e2e_log!(
        "=== ok: upgraded, rolled back, upgraded and finalized under load with 0 failed requests"
    );
    cloud.destroy()?;
    Ok(())
}

/// The image nova-libvirt's running container runs, from `ankyra status`.
fn libvirt_image(cloud: &Cloud) -> Result<String> {
    let status = cloud.status()?;
    let c = status
        .component("nova-libvirt")
        .context("nova-libvirt not in `ankyra status`")?;
    ensure!(
        c.containers.len() == 1,
        "nova-libvirt has {} containers",
        c.containers.len()
    );
    Ok(c.containers[0].image.clone())
}

/// What `upgrade --release 2026.2` must run: every OpenStack component at that
/// release's newest known version, which is what `ankyra init` writes (read from the
/// init record of the same binary), each different from its 2026.1 version.
fn upgraded_versions(
    cloud: &Cloud,
    old: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let out = cloud.ankyra_run(
        &["init", "--name", "versions"],
        Duration::from_secs(60),
        false,
    )?;
    out.check()?;
    let docs = yaml_rust2::YamlLoader::load_from_str(&out.stdout)?;
    let components = &docs.first().context("`ankyra init` printed no YAML")?["spec"]["components"];
    let mut want = BTreeMap::new();
    for &c in OPENSTACK {
        let v = components[c]["version"]
            .as_str()
            .with_context(|| format!("no version of {c} in `ankyra init`"))?;
        ensure!(
            old.get(c).map(String::as_str) != Some(v),
            "{c}: 2026.2's version {v} is 2026.1's"
        );
        want.insert(c.to_string(), v.to_string());
    }
    Ok(want)
}
