//! Issue 8's proof, end to end, on the real Docker Engine (feature `docker`):
//! `cargo build -p ankyra && cargo test -p ankyra-e2e --features docker`.
//!
//! One cloud is deployed and the whole proof runs in ONE `#[test]`, in order, because a
//! cold deploy (image builds included) takes most of CI's budget (2 cores, 90 minutes):
//! deploy from `ankyra init` → keystone (token, project, user) → glance (upload, download)
//! → placement (compute node) → nova (boot `--nic none`, list, show, delete) → restart
//! nova-compute (same compute node) → second apply (nothing changes) → `ankyra serve`
//! replaces a killed and a removed keystone → no generated secret in `docker inspect`,
//! container logs, `ps` or Ankyra's output → destroy. Each check is a named function.
//!
//! Without Docker (or without the ankyra binary) the test fails with a clear message; it
//! never skips. Knobs: `ANKYRA_BIN`, `OPENSTACK_BIN`, `ANKYRA_E2E_KEEP=1` (leave the
//! cloud running), `ANKYRA_E2E_CLOUD` (cloud name, default `e2e-<pid>`),
//! `ANKYRA_E2E_APPLY_TIMEOUT` (seconds, default 3600), `ANKYRA_E2E_OSC_TIMEOUT` (300).
#![cfg(feature = "docker")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ankyra_e2e::cloud::str_field;
use ankyra_e2e::engine::{self, Engine};
use ankyra_e2e::guests;
use ankyra_e2e::process::Output;
use ankyra_e2e::secrets::{self, Search, Secret};
use ankyra_e2e::status::{id_changes, ALL_COMPONENTS};
use ankyra_e2e::wait::{poll_until, random_bytes, random_hex};
use ankyra_e2e::{e2e_log, Cloud, Status};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

/// The compute microversion for every nova call: `--nic none` needs ≥ 2.37.
const COMPUTE_API: [&str; 2] = ["--os-compute-api-version", "2.37"];

#[test]
fn issue_8_deploy_use_restart_reapply_and_supervise_one_cloud() -> Result<()> {
    let engine = Engine::connect()?;
    let mut cloud = Cloud::init()?;
    let tag = random_hex(4)?;

    let first_apply = step(&mut cloud, "deploy from `ankyra init` output", |c| {
        deploy_from_init_record(c, &engine)
    })?;
    step(&mut cloud, "keystone: token, project, user", |c| {
        identity_token_project_and_user(c, &tag)
    })?;
    let image = step(&mut cloud, "glance: upload and download an image", |c| {
        glance_image_round_trip(c, &tag)
    })?;
    let node = step(
        &mut cloud,
        "placement: the compute node is a resource provider",
        placement_lists_the_compute_node,
    )?;
    let flavor = step(&mut cloud, "nova: boot, list, show, delete a server", |c| {
        nova_server_lifecycle(c, &tag, &image, &node)
    })?;
    let guest = step(
        &mut cloud,
        "real guests: console, stop, start, soft and hard reboot, delete, status",
        |c| guest_lifecycle(c, &tag),
    )?;
    step(&mut cloud, "restart nova-compute: same compute node", |c| {
        restarted_compute_is_the_same_node(c, &engine, &node, &flavor, &image, &tag)
    })?;
    step(
        &mut cloud,
        "the guest ran through the compute restart",
        |c| guest_kept(c, &guest),
    )?;
    step(
        &mut cloud,
        "a change that cannot keep the guest is shown and refused",
        |c| losing_guests_is_refused(c, &guest),
    )?;
    let second_apply = step(&mut cloud, "second apply changes nothing", |c| {
        second_apply_changes_nothing(c, &engine)
    })?;
    step(
        &mut cloud,
        "ankyra serve replaces a killed and a removed keystone",
        |c| serve_replaces_keystone(c, &engine),
    )?;
    step(&mut cloud, "no secret in docker inspect, ps or logs", |c| {
        no_secret_in_inspect_ps_or_logs(c, &engine, &[&first_apply, &second_apply])
    })?;
    if !ankyra_e2e::cloud::keep_requested() {
        step(&mut cloud, "destroy --purge removes every container", |c| {
            destroy_removes_containers(c, &engine)
        })?;
        ensure!(
            guests::qemu_pid(&guest.id)?.is_none(),
            "the guest {} still has a QEMU process after destroy --purge",
            guest.id
        );
    }
    Ok(())
}

/// Runs one check with a banner and its time; on failure logs the cloud's status and
/// containers (best effort) and names the step in the error.
fn step<T>(cloud: &mut Cloud, name: &str, f: impl FnOnce(&mut Cloud) -> Result<T>) -> Result<T> {
    e2e_log!("=== {name}");
    let start = Instant::now();
    match f(cloud) {
        Ok(v) => {
            e2e_log!("=== ok: {name} ({:.1}s)", start.elapsed().as_secs_f64());
            Ok(v)
        }
        Err(e) => {
            e2e_log!(
                "=== FAILED: {name} ({:.1}s): {e:#}",
                start.elapsed().as_secs_f64()
            );
            match cloud.status() {
                Ok(s) => e2e_log!("status at failure:\n{}", s.summary()),
                Err(se) => e2e_log!("status at failure unavailable: {se:#}"),
            }
            Err(e.context(format!("step failed: {name}")))
        }
    }
}

// ---------------------------------------------------------------------------------------
// deploy

/// `ankyra init` names every component; `ankyra apply` of it exits 0; status then shows
/// every component healthy at its desired version, and Docker shows every container with
/// Ankyra's name and labels. Returns what the apply printed (searched for secrets later).
fn deploy_from_init_record(cloud: &mut Cloud, engine: &Engine) -> Result<Output> {
    let record = std::fs::read_to_string(&cloud.record)?;
    for c in ALL_COMPONENTS {
        ensure!(
            record.contains(&format!("\n    {c}:\n")),
            "expected `ankyra init` to list component {c}, it does not:\n{record}"
        );
    }
    ensure!(
        record.contains("2026.2"),
        "expected `ankyra init` to default to release 2026.2:\n{record}"
    );

    let out = cloud.apply("e2e: first deploy")?;
    ensure!(
        out.success(),
        "expected the first apply to exit 0:\n{}",
        out.describe_failure()
    );

    let status = wait_all_healthy(cloud, Duration::from_secs(30))?;
    e2e_log!("deployed:\n{}", status.summary());
    check_containers_named_and_labelled(cloud, engine, &status)?;

    let clouds_yaml = cloud.clouds_yaml()?;
    let openrc = status
        .openrc
        .clone()
        .context("expected `status` to name an openrc, found none")?;
    ensure!(
        Path::new(&openrc).is_file(),
        "expected the openrc at {openrc}, found no file"
    );
    ankyra_e2e::clouds::entry(&std::fs::read_to_string(&clouds_yaml)?, &cloud.name).with_context(
        || {
            format!(
                "expected a `{}` entry in {}",
                cloud.name,
                clouds_yaml.display()
            )
        },
    )?;
    Ok(out)
}

/// Status with every component of the record healthy, polled up to `timeout`.
fn wait_all_healthy(cloud: &Cloud, timeout: Duration) -> Result<Status> {
    poll_until(
        "every component healthy at its desired version",
        timeout,
        Duration::from_secs(2),
        || {
            let s = cloud.status()?;
            let problems = s.problems(ALL_COMPONENTS);
            ensure!(problems.is_empty(), "{}", problems.join("; "));
            Ok(s)
        },
    )
}

/// Every container in status exists in Docker, runs, is named CLOUD-COMPONENT-N and
/// carries the cloud, component, version and revision labels; Docker has no container
/// of this cloud that status does not list.
fn check_containers_named_and_labelled(
    cloud: &Cloud,
    engine: &Engine,
    status: &Status,
) -> Result<()> {
    let listed = engine.containers(&cloud.name, None)?;
    let mut problems = Vec::new();
    for comp in &status.components {
        for (i, k) in comp.containers.iter().enumerate() {
            let want_name = format!("{}-{}-{}", cloud.name, comp.name, i + 1);
            let in_status: Vec<String> = comp.containers.iter().map(|k| k.name.clone()).collect();
            if !in_status.contains(&want_name) {
                problems.push(format!(
                    "{}: expected a container named {want_name}, found {in_status:?}",
                    comp.name
                ));
            }
            let Some(d) = listed
                .iter()
                .find(|d| d.id.as_deref() == Some(k.id.as_str()))
            else {
                problems.push(format!(
                    "{}: status lists container {} ({}), Docker does not",
                    comp.name, k.name, k.id
                ));
                continue;
            };
            if engine::summary_name(d) != k.name {
                problems.push(format!(
                    "{}: expected Docker name {}, found {}",
                    comp.name,
                    k.name,
                    engine::summary_name(d)
                ));
            }
            if engine::summary_state(d) != "running" {
                problems.push(format!(
                    "{}: expected {} running, Docker says {}",
                    comp.name,
                    k.name,
                    engine::summary_state(d)
                ));
            }
            let revision = status.revision.to_string();
            for (label, want) in [
                (engine::LABEL_CLOUD, cloud.name.as_str()),
                (engine::LABEL_COMPONENT, comp.name.as_str()),
                (engine::LABEL_VERSION, comp.desired_version.as_str()),
                (engine::LABEL_REVISION, revision.as_str()),
            ] {
                let found = engine::summary_label(d, label);
                if found != Some(want) {
                    problems.push(format!(
                        "{}: expected label {label}={want}, found {found:?}",
                        k.name
                    ));
                }
            }
        }
    }
    let known = status.container_ids();
    for d in &listed {
        let id = d.id.clone().unwrap_or_default();
        if !known.values().any(|k| *k == id) {
            problems.push(format!(
                "Docker has container {} ({}) labelled with the cloud, status does not list it",
                engine::summary_name(d),
                engine::summary_state(d)
            ));
        }
    }
    ensure!(
        problems.is_empty(),
        "containers do not match the contract:\n  {}",
        problems.join("\n  ")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// keystone

/// The admin gets a token; a new project and user (random password) are created and the
/// user gets a token scoped to that project.
fn identity_token_project_and_user(cloud: &mut Cloud, tag: &str) -> Result<()> {
    let token = cloud.openstack_json(&["token", "issue"])?;
    let id = str_field(&token, "id")?;
    ensure!(
        !id.is_empty(),
        "expected a token id from `token issue`, found {token}"
    );
    e2e_log!(
        "admin token issued (expires {})",
        str_field(&token, "expires").unwrap_or_default()
    );

    let project_name = format!("e2e-project-{tag}");
    let project = cloud.openstack_json(&[
        "project",
        "create",
        "--description",
        "ankyra e2e",
        &project_name,
    ])?;
    let project_id = str_field(&project, "id")?;

    let user_name = format!("e2e-user-{tag}");
    let password = random_hex(16)?;
    let user = cloud.openstack_json(&[
        "user",
        "create",
        "--password",
        &password,
        "--project",
        &project_id,
        &user_name,
    ])?;
    let user_id = str_field(&user, "id")?;
    cloud.openstack(&[
        "role",
        "add",
        "--project",
        &project_id,
        "--user",
        &user_id,
        "member",
    ])?;
    e2e_log!("created project {project_name} ({project_id}) and user {user_name} ({user_id})");

    let admin_yaml = std::fs::read_to_string(cloud.clouds_yaml()?)?;
    let user_cloud = format!("{}-user", cloud.name);
    let user_file = cloud.dir.join("user-clouds.yaml");
    std::fs::write(
        &user_file,
        ankyra_e2e::clouds::for_user(
            &admin_yaml,
            &cloud.name,
            &user_cloud,
            &user_name,
            &password,
            &project_name,
        )?,
    )?;
    let text = cloud
        .openstack_with(&user_file, &user_cloud, &["token", "issue", "-f", "json"])
        .context("expected the new user to get a token")?;
    let user_token: Value =
        serde_json::from_str(&text).with_context(|| format!("token issue printed {text}"))?;
    let got_user = str_field(&user_token, "user_id")?;
    let got_project = str_field(&user_token, "project_id")?;
    ensure!(
        got_user == user_id,
        "expected the user's token for user {user_id}, found {got_user}"
    );
    ensure!(
        got_project == project_id,
        "expected the user's token scoped to project {project_id}, found {got_project}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// glance

const IMAGE_BYTES: usize = 1024 * 1024;

/// Uploads 1 MiB of random bytes as a raw image, waits for `active`, downloads it and
/// compares byte for byte. Returns the image ID (nova boots from it).
fn glance_image_round_trip(cloud: &mut Cloud, tag: &str) -> Result<String> {
    let data = random_bytes(IMAGE_BYTES)?;
    let download = cloud.dir.join("image-download.raw");
    let name = format!("e2e-image-{tag}");
    let shown = cloud.upload_image(&data, &name)?;
    let id = str_field(&shown, "id")?;
    let size = shown.get("size").and_then(Value::as_u64);
    ensure!(
        size == Some(IMAGE_BYTES as u64),
        "expected image size {IMAGE_BYTES}, glance says {size:?}"
    );

    let download_s = download.display().to_string();
    cloud.openstack(&["image", "save", "--file", &download_s, &id])?;
    let got = std::fs::read(&download)?;
    if got != data {
        let first = got.iter().zip(&data).position(|(a, b)| a != b);
        bail!(
            "expected the downloaded image to equal the upload ({} bytes), found {} bytes, first difference at {:?}",
            data.len(),
            got.len(),
            first
        );
    }
    e2e_log!("image {id} downloaded: {} bytes identical", got.len());
    Ok(id)
}

// ---------------------------------------------------------------------------------------
// placement and the compute node

/// Who the compute node is, as nova and placement see it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ComputeNode {
    service_id: String,
    host: String,
    hypervisor_id: String,
    hypervisor_hostname: String,
    provider_uuid: String,
}

/// Waits until nova has exactly one compute service, one hypervisor and placement a
/// resource provider named after it; returns who it is.
fn placement_lists_the_compute_node(cloud: &mut Cloud) -> Result<ComputeNode> {
    let node = poll_until(
        "the compute node in nova and placement",
        Duration::from_secs(300),
        Duration::from_secs(5),
        || compute_node(cloud),
    )?;
    e2e_log!("compute node: {node:?}");
    Ok(node)
}

fn compute_node(cloud: &mut Cloud) -> Result<ComputeNode> {
    let services =
        cloud.openstack_json(&["compute", "service", "list", "--service", "nova-compute"])?;
    let services = services
        .as_array()
        .context("service list is not a list")?
        .clone();
    ensure!(
        services.len() == 1,
        "expected one nova-compute service, found {}: {services:?}",
        services.len()
    );
    let state = str_field(&services[0], "State")?;
    ensure!(
        state == "up",
        "expected the nova-compute service up, found {state}"
    );

    let hypervisors = cloud.openstack_json(&["hypervisor", "list"])?;
    let hypervisors = hypervisors
        .as_array()
        .context("hypervisor list is not a list")?
        .clone();
    ensure!(
        hypervisors.len() == 1,
        "expected one hypervisor, found {}: {hypervisors:?}",
        hypervisors.len()
    );
    let hypervisor_hostname = str_field(&hypervisors[0], "Hypervisor Hostname")?;

    let providers = cloud.openstack_json(&["resource", "provider", "list"])?;
    let providers = providers
        .as_array()
        .context("resource provider list is not a list")?
        .clone();
    let mine: Vec<&Value> = providers
        .iter()
        .filter(|p| str_field(p, "name").is_ok_and(|n| n == hypervisor_hostname))
        .collect();
    ensure!(
        mine.len() == 1 && providers.len() == 1,
        "expected exactly one resource provider, named {hypervisor_hostname}, found {providers:?}"
    );
    Ok(ComputeNode {
        service_id: str_field(&services[0], "ID")?,
        host: str_field(&services[0], "Host")?,
        hypervisor_id: str_field(&hypervisors[0], "ID")?,
        hypervisor_hostname,
        provider_uuid: str_field(mine[0], "uuid")?,
    })
}

// ---------------------------------------------------------------------------------------
// nova

/// Creates a tiny flavor, boots a server with `--nic none` to ACTIVE on the compute
/// node, finds it in `server list`, shows it, deletes it and checks it is gone. Returns
/// the flavor ID.
fn nova_server_lifecycle(
    cloud: &mut Cloud,
    tag: &str,
    image: &str,
    node: &ComputeNode,
) -> Result<String> {
    let flavor_name = format!("e2e-tiny-{tag}");
    let flavor = cloud.openstack_json(&[
        "flavor",
        "create",
        "--ram",
        "64",
        "--disk",
        "1",
        "--vcpus",
        "1",
        &flavor_name,
    ])?;
    let flavor_id = str_field(&flavor, "id")?;

    let server = boot_server(cloud, &format!("e2e-server-{tag}"), &flavor_id, image)?;

    let list = nova_json(cloud, &["server", "list"])?;
    let listed = list
        .as_array()
        .context("server list is not a list")?
        .iter()
        .find(|s| str_field(s, "ID").is_ok_and(|id| id == server))
        .cloned();
    let listed = listed
        .with_context(|| format!("expected server {server} in `server list`, found {list}"))?;
    let listed_status = str_field(&listed, "Status")?;
    ensure!(
        listed_status == "ACTIVE",
        "expected server {server} ACTIVE in `server list`, found {listed_status}"
    );

    let shown = nova_json(cloud, &["server", "show", &server])?;
    let host = str_field(&shown, "OS-EXT-SRV-ATTR:host").unwrap_or_default();
    ensure!(
        host == node.host,
        "expected server {server} on compute host {}, `server show` says {host:?}",
        node.host
    );

    delete_server(cloud, &server)?;
    Ok(flavor_id)
}

/// `openstack --os-compute-api-version 2.37 ARGS -f json`.
fn nova_json(cloud: &mut Cloud, args: &[&str]) -> Result<Value> {
    let mut all: Vec<&str> = COMPUTE_API.to_vec();
    all.extend_from_slice(args);
    cloud.openstack_json(&all)
}

/// Boots a server and waits for ACTIVE; on failure the error carries the server's fault.
fn boot_server(cloud: &mut Cloud, name: &str, flavor: &str, image: &str) -> Result<String> {
    let start = Instant::now();
    let created = nova_json(
        cloud,
        &[
            "server", "create", "--flavor", flavor, "--image", image, "--nic", "none", "--wait",
            name,
        ],
    );
    let created = match created {
        Ok(v) => v,
        Err(e) => {
            let fault = nova_json(cloud, &["server", "show", name])
                .map(|v| {
                    format!(
                        "server show: status {:?}, fault {:?}",
                        v.get("status"),
                        v.get("fault")
                    )
                })
                .unwrap_or_else(|e2| format!("server show failed too: {e2:#}"));
            return Err(e.context(format!("expected server {name} to boot to ACTIVE; {fault}")));
        }
    };
    let id = str_field(&created, "id")?;
    let shown = nova_json(cloud, &["server", "show", &id])?;
    let status = str_field(&shown, "status")?;
    ensure!(
        status == "ACTIVE",
        "expected server {name} ({id}) ACTIVE, found {status}: fault {:?}",
        shown.get("fault")
    );
    e2e_log!(
        "server {name} ({id}) ACTIVE in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    Ok(id)
}

/// Deletes a server, waits, and checks nova no longer knows it.
fn delete_server(cloud: &mut Cloud, id: &str) -> Result<()> {
    let mut args: Vec<&str> = COMPUTE_API.to_vec();
    args.extend(["server", "delete", "--wait", id]);
    cloud
        .openstack(&args)
        .with_context(|| format!("expected `server delete --wait {id}` to succeed"))?;
    let list = nova_json(cloud, &["server", "list"])?;
    let still = list
        .as_array()
        .is_some_and(|l| l.iter().any(|s| str_field(s, "ID").is_ok_and(|x| x == id)));
    ensure!(
        !still,
        "expected server {id} gone after delete, `server list` still shows it: {list}"
    );
    let config = cloud.clouds_yaml()?;
    let name = cloud.name.clone();
    let mut show: Vec<&str> = COMPUTE_API.to_vec();
    show.extend(["server", "show", id]);
    let out = cloud.openstack_output(&config, &name, &show)?;
    ensure!(
        !out.success(),
        "expected `server show {id}` to fail after delete, it printed:\n{}",
        out.stdout
    );
    e2e_log!("server {id} deleted");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// restart nova-compute

/// Stops and starts the nova-compute container through the Docker API; it comes back
/// healthy, a server boots on it again, and nova and placement still see the same single
/// compute node (service, hypervisor and resource provider).
fn restarted_compute_is_the_same_node(
    cloud: &mut Cloud,
    engine: &Engine,
    before: &ComputeNode,
    flavor: &str,
    image: &str,
    tag: &str,
) -> Result<()> {
    let computes = engine.containers(&cloud.name, Some("nova-compute"))?;
    ensure!(
        computes.len() == 1,
        "expected one nova-compute container, Docker has {}",
        computes.len()
    );
    let id = computes[0].id.clone().context("container without an id")?;
    let name = engine::summary_name(&computes[0]);
    let started_before = engine::started_at(&engine.inspect(&id)?);

    e2e_log!("stopping {name} ({id}) through the Docker API");
    engine.stop(&id, 60)?;
    let (running, _) = engine::running_and_healthy(&engine.inspect(&id)?);
    ensure!(
        !running,
        "expected {name} stopped after the stop call, Docker says it runs"
    );
    e2e_log!("starting {name} again");
    engine.start(&id)?;

    poll_until(
        "nova-compute running (and healthy if it has a probe)",
        Duration::from_secs(180),
        Duration::from_secs(2),
        || {
            let c = engine.inspect(&id)?;
            let (running, health) = engine::running_and_healthy(&c);
            ensure!(running, "not running");
            ensure!(
                engine::started_at(&c) != started_before,
                "not restarted yet"
            );
            ensure!(
                health.as_deref().is_none_or(|h| h == "healthy"),
                "health {health:?}"
            );
            Ok(())
        },
    )?;
    wait_all_healthy(cloud, Duration::from_secs(120))?;

    // A boot needs the restarted compute to consume its RPC queue again; by the time it is
    // ACTIVE the compute has also reported its node, so a new identity would show below.
    let server = boot_server(cloud, &format!("e2e-after-restart-{tag}"), flavor, image)
        .context("expected a server to boot after the nova-compute restart")?;
    delete_server(cloud, &server)?;

    let after = compute_node(cloud)?;
    ensure!(
        after == *before,
        "expected the restarted nova-compute to be the same compute node\n  before: {before:?}\n  after:  {after:?}"
    );
    e2e_log!(
        "after restart: same compute node {} ({})",
        after.hypervisor_hostname,
        after.hypervisor_id
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// real guests

/// A guest left running, and its QEMU process.
struct Guest {
    id: String,
    pid: u32,
}

fn server_status(cloud: &mut Cloud, id: &str) -> Result<String> {
    str_field(&nova_json(cloud, &["server", "show", id])?, "status")
}

fn pid_of(id: &str) -> Result<u32> {
    guests::qemu_pid(id)?.with_context(|| format!("no QEMU process runs guest {id}"))
}

/// Waits for a new QEMU process of the guest (not `old`), then for its console
/// to show the guest booted again (QEMU rewrites console.log when it starts).
fn wait_new_qemu(cloud: &mut Cloud, id: &str, old: u32, what: &str) -> Result<u32> {
    let pid = poll_until(
        &format!("{what}: a new QEMU process for {id}"),
        Duration::from_secs(180),
        Duration::from_secs(1),
        || match guests::qemu_pid(id)? {
            Some(p) if p != old => Ok(p),
            other => bail!("QEMU process {other:?}"),
        },
    )?;
    guests::wait_booted(cloud, id, Duration::from_secs(180))?;
    let status = server_status(cloud, id)?;
    ensure!(status == "ACTIVE", "{what}: server {id} is {status}");
    e2e_log!("{what}: {id} ACTIVE, QEMU {old} → {pid}, booted again");
    Ok(pid)
}

/// Two servers of the offered test guest boot and print their marker and
/// heartbeats; `status` counts them; one is stopped (no QEMU), started, rebooted
/// soft and hard (a new QEMU each time, booted again) and deleted (no QEMU);
/// the other is left running for the checks after it.
fn guest_lifecycle(cloud: &mut Cloud, tag: &str) -> Result<Guest> {
    let image = cloud.openstack_json(&["image", "show", guests::GUEST_IMAGE])?;
    ensure!(
        str_field(&image, "visibility")? == "public" && str_field(&image, "status")? == "active",
        "expected the offered image {} public and active: {image}",
        guests::GUEST_IMAGE
    );
    let a = guests::boot(cloud, &format!("e2e-guest-a-{tag}"))?;
    let b = guests::boot(cloud, &format!("e2e-guest-b-{tag}"))?;
    for id in [&a, &b] {
        let log = guests::wait_booted(cloud, id, Duration::from_secs(180))?;
        e2e_log!("console of {id}:\n{}", ankyra_e2e::process::tail(&log, 3));
    }
    let status = cloud.status()?;
    for component in ["nova-libvirt", "nova-compute"] {
        let listed = status
            .component(component)
            .and_then(|c| c.guests.clone())
            .with_context(|| format!("`ankyra status` shows no guests for {component}"))?;
        ensure!(
            listed.contains(&a) && listed.contains(&b),
            "`ankyra status` lists guests {listed:?} for {component}, expected {a} and {b}"
        );
    }
    let pid = pid_of(&a)?;

    cloud.openstack(&["server", "stop", &a])?;
    poll_until(
        "the stopped server SHUTOFF without a QEMU process",
        Duration::from_secs(120),
        Duration::from_secs(2),
        || {
            let s = server_status(cloud, &a)?;
            ensure!(s == "SHUTOFF", "status {s}");
            ensure!(guests::qemu_pid(&a)?.is_none(), "QEMU still runs");
            Ok(())
        },
    )?;
    cloud.openstack(&["server", "start", &a])?;
    let pid = wait_new_qemu(cloud, &a, pid, "start")?;
    cloud.openstack(&["server", "reboot", "--soft", "--wait", &a])?;
    let pid = wait_new_qemu(cloud, &a, pid, "soft reboot")?;
    cloud.openstack(&["server", "reboot", "--hard", "--wait", &a])?;
    wait_new_qemu(cloud, &a, pid, "hard reboot")?;
    delete_server(cloud, &a)?;
    poll_until(
        "no QEMU process for the deleted server",
        Duration::from_secs(60),
        Duration::from_secs(1),
        || {
            ensure!(guests::qemu_pid(&a)?.is_none(), "QEMU still runs");
            Ok(())
        },
    )?;
    let left = cloud
        .status()?
        .component("nova-libvirt")
        .and_then(|c| c.guests.clone())
        .unwrap_or_default();
    ensure!(
        left == vec![b.clone()],
        "after the delete, status lists guests {left:?}"
    );
    Ok(Guest {
        pid: pid_of(&b)?,
        id: b,
    })
}

/// The guest left running has the same QEMU process, is ACTIVE, and beats on.
fn guest_kept(cloud: &mut Cloud, guest: &Guest) -> Result<()> {
    let pid = pid_of(&guest.id)?;
    ensure!(
        pid == guest.pid,
        "guest {}: QEMU {} before, {pid} now",
        guest.id,
        guest.pid
    );
    let status = server_status(cloud, &guest.id)?;
    ensure!(status == "ACTIVE", "guest {} is {status}", guest.id);
    let beats = |c: &mut Cloud| -> Result<u64> {
        let log = c.openstack(&["console", "log", "show", &guest.id])?;
        guests::heartbeats(&log)
            .last()
            .copied()
            .context("no heartbeat in the console")
    };
    let first = beats(cloud)?;
    std::thread::sleep(Duration::from_secs(3));
    let later = beats(cloud)?;
    ensure!(
        later > first,
        "guest {}: heartbeat {first}, then {later}",
        guest.id
    );
    e2e_log!(
        "guest {}: same QEMU {pid}, heartbeat {first} → {later}",
        guest.id
    );
    Ok(())
}

/// The record without nova-libvirt (the fake driver): `plan` says the step cannot
/// keep the running guest, and `apply` refuses it (exit 3) without recording a
/// revision; the guest runs on in the same QEMU.
fn losing_guests_is_refused(cloud: &mut Cloud, guest: &Guest) -> Result<()> {
    let record = std::fs::read_to_string(&cloud.record)?;
    let fake = cloud.dir.join("without-libvirt.yaml");
    std::fs::write(&fake, ankyra_e2e::cloud::fake_driver_record(&record)?)?;
    let fake = fake.display().to_string();
    let plan = cloud.ankyra_run(&["plan", "-f", &fake], Duration::from_secs(120), false)?;
    plan.check()?;
    ensure!(
        plan.stdout
            .contains("guests: nova-libvirt CANNOT keep the 1 running guest(s)"),
        "expected the plan to say removing nova-libvirt cannot keep the guest:\n{}",
        plan.stdout
    );
    let history = |c: &Cloud| -> Result<String> {
        let out = c.ankyra_run(
            &["history", &c.name, "-o", "json"],
            Duration::from_secs(60),
            false,
        )?;
        out.check()?;
        Ok(out.stdout)
    };
    let before = history(cloud)?;
    let out = cloud.ankyra_run(&["apply", "-f", &fake], Duration::from_secs(300), false)?;
    ensure!(
        out.status.code() == Some(3)
            && out.stderr.contains("cannot keep the 1 running guest(s)")
            && out.stderr.contains("--yes"),
        "expected apply to refuse with exit 3, naming the guest and --yes:\n{}",
        out.describe_failure()
    );
    ensure!(
        history(cloud)? == before,
        "the refused apply recorded a revision"
    );
    ensure!(
        guests::qemu_pid(&guest.id)? == Some(guest.pid),
        "the guest's QEMU changed after the refused apply"
    );
    e2e_log!("refused as expected: {}", out.stderr.trim());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// idempotent apply

/// Applies the same record again: exit 0, same revision, same container IDs, and no
/// container restarted (Docker's StartedAt unchanged). Returns what the apply printed.
fn second_apply_changes_nothing(cloud: &mut Cloud, engine: &Engine) -> Result<Output> {
    let before = cloud.status()?;
    let ids_before = before.container_ids();
    let mut started_before = Vec::new();
    for id in ids_before.values() {
        started_before.push((id.clone(), engine::started_at(&engine.inspect(id)?)));
    }

    let out = cloud.apply("e2e: second apply of the same record")?;
    ensure!(
        out.success(),
        "expected the second apply to exit 0:\n{}",
        out.describe_failure()
    );

    let after = cloud.status()?;
    let changes = id_changes(&ids_before, &after.container_ids());
    ensure!(
        changes.is_empty(),
        "expected the second apply to keep every container, it changed:\n  {}",
        changes.join("\n  ")
    );
    ensure!(
        after.revision == before.revision,
        "expected the same record to make no new revision: revision {} before, {} after",
        before.revision,
        after.revision
    );
    let mut restarted = Vec::new();
    for (id, at) in &started_before {
        let now = engine::started_at(&engine.inspect(id)?);
        if now != *at {
            restarted.push(format!("{id}: started {at}, now {now}"));
        }
    }
    ensure!(
        restarted.is_empty(),
        "expected the second apply to restart nothing, it restarted:\n  {}",
        restarted.join("\n  ")
    );
    let problems = after.problems(ALL_COMPONENTS);
    ensure!(
        problems.is_empty(),
        "expected every component healthy after the second apply: {}",
        problems.join("; ")
    );
    e2e_log!(
        "second apply: {} containers unchanged, revision {}",
        ids_before.len(),
        after.revision
    );
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// supervision

/// A keystone container must run again within this long of being killed or removed.
const RECOVERY: Duration = Duration::from_secs(60);

/// With `ankyra serve` running: kill the keystone container (SIGKILL through the API),
/// then in a second round remove it; each time a keystone container runs again within
/// 60 s and tokens work again. Then serve stops on SIGTERM.
fn serve_replaces_keystone(cloud: &mut Cloud, engine: &Engine) -> Result<()> {
    let mut serve = cloud.serve(2)?;
    let result = (|| -> Result<()> {
        std::thread::sleep(Duration::from_secs(3));
        if let Some(status) = serve.exited()? {
            bail!("expected `ankyra serve` to keep running, it exited with {status}");
        }
        for round in [Break::Kill, Break::Remove] {
            break_keystone_and_wait(cloud, engine, round)?;
            if let Some(status) = serve.exited()? {
                bail!("expected `ankyra serve` to keep running, it exited with {status} after the {round:?} round");
            }
        }
        let pid = serve.pid().unwrap_or_default();
        let status = serve.terminate(Duration::from_secs(30))?;
        e2e_log!("ankyra serve (pid {pid}) stopped on SIGTERM: {status}");
        Ok(())
    })();
    if result.is_err() {
        e2e_log!(
            "ankyra serve log:\n{}",
            ankyra_e2e::process::tail(&serve.log_text(), 150)
        );
    }
    result
}

#[derive(Debug, Clone, Copy)]
enum Break {
    /// SIGKILL the container: it may come back as the same container restarted.
    Kill,
    /// Force-remove it: a new container must replace it.
    Remove,
}

fn break_keystone_and_wait(cloud: &mut Cloud, engine: &Engine, how: Break) -> Result<()> {
    let running: Vec<_> = engine
        .containers(&cloud.name, Some("keystone"))?
        .into_iter()
        .filter(|c| engine::summary_state(c) == "running")
        .collect();
    let victim = running
        .first()
        .context("expected a running keystone container, Docker has none")?;
    let old_id = victim.id.clone().context("container without an id")?;
    let old_name = engine::summary_name(victim);
    let old_started = engine::started_at(&engine.inspect(&old_id)?);

    let t0 = Instant::now();
    match how {
        Break::Kill => engine.kill(&old_id)?,
        Break::Remove => engine.remove(&old_id)?,
    }
    e2e_log!("{how:?}: keystone container {old_name} ({old_id}) through the Docker API");

    let back = poll_until(
        "a keystone container running again",
        RECOVERY,
        Duration::from_secs(1),
        || {
            for c in engine.containers(&cloud.name, Some("keystone"))? {
                if engine::summary_state(&c) != "running" {
                    continue;
                }
                let id = c.id.clone().unwrap_or_default();
                let fresh = match how {
                    Break::Remove => id != old_id,
                    Break::Kill => {
                        id != old_id || engine::started_at(&engine.inspect(&id)?) != old_started
                    }
                };
                if fresh {
                    return Ok((engine::summary_name(&c), id));
                }
            }
            bail!("no replacement running yet")
        },
    )
    .with_context(|| {
        format!(
            "expected `ankyra serve` to bring keystone back within {}s of a {how:?}",
            RECOVERY.as_secs()
        )
    })?;
    e2e_log!(
        "keystone back as {} ({}) after {:.1}s",
        back.0,
        back.1,
        t0.elapsed().as_secs_f64()
    );

    poll_until(
        "`openstack token issue` to work again",
        RECOVERY,
        Duration::from_secs(2),
        || cloud.openstack_json(&["token", "issue"]).map(|_| ()),
    )
    .with_context(|| {
        format!(
            "expected tokens to work again within {}s of keystone coming back",
            RECOVERY.as_secs()
        )
    })?;
    e2e_log!(
        "tokens work again {:.1}s after the {how:?}",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// secrets

/// Read-only `ankyra` commands whose output (stdout and stderr) is searched for secrets,
/// `{}` standing for the cloud's name: JSON and text, and Ankyra's own debug logs.
const ANKYRA_READS: &[&[&str]] = &[
    &["status", "{}", "-o", "json"],
    &["status", "{}"],
    &["plan", "{}", "-o", "json"],
    &["plan", "{}"],
    &["show", "{}", "-o", "json"],
    &["show", "{}"],
    &["history", "{}", "-o", "json"],
    &["-v", "status", "{}"],
    &["-v", "plan", "{}"],
];

/// Every secret Ankyra generated for the cloud (read from its store) is absent from:
/// `docker inspect` (the whole JSON: env, command, labels, mounts ...) and the logs of
/// every container of the cloud; the Docker container list; the arguments of every
/// process on the host (`ps`, which also sees the containers' processes); the output of
/// both applies, of `ankyra serve` and of read-only `ankyra` commands. And every file
/// beside the store that does hold one is owner-only. Failures name where and which
/// secret (by name), never its value.
fn no_secret_in_inspect_ps_or_logs(
    cloud: &mut Cloud,
    engine: &Engine,
    kept: &[&Output],
) -> Result<()> {
    let secrets = secrets::read(&cloud.store, &cloud.name)?;
    let names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
    ensure!(
        secrets.len() >= 5,
        "expected at least 5 generated secrets of {} in {}, found {}: {names:?}",
        cloud.name,
        cloud.store.display(),
        secrets.len()
    );
    let mut search = Search::default();

    let containers = engine.containers(&cloud.name, None)?;
    ensure!(
        containers.len() >= 5,
        "expected at least 5 containers of cloud {}, Docker has {}",
        cloud.name,
        containers.len()
    );
    search.check(
        &secrets,
        "the Docker container list (labels, commands)",
        &serde_json::to_string(&containers)?,
    );
    let mut log_bytes = 0;
    for c in &containers {
        let id = c.id.clone().context("container without an id")?;
        let name = engine::summary_name(c);
        let inspect = serde_json::to_string(&engine.inspect(&id)?)?;
        search.check(&secrets, &format!("`docker inspect {name}`"), &inspect);
        let logs = engine.logs(&id)?;
        log_bytes += logs.len();
        search.check(&secrets, &format!("`docker logs {name}`"), &logs);
    }

    let ps = Command::new("ps")
        .args(["-e", "-ww", "-o", "args="])
        .output()
        .context("running `ps -e -ww -o args=`")?;
    ensure!(
        ps.status.success(),
        "`ps -e -ww -o args=` exited with {}",
        ps.status
    );
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    let processes = ps.lines().count();
    ensure!(
        processes >= containers.len(),
        "expected `ps` to list at least one process per container ({}), it listed {processes}",
        containers.len()
    );
    search.check(&secrets, "`ps -e -ww -o args=` (every process)", &ps);

    let mut outputs = 0;
    for out in kept {
        check_output(&mut search, &secrets, out);
        outputs += 1;
    }
    for args in ANKYRA_READS {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "{}" { cloud.name.as_str() } else { a })
            .collect();
        let out = cloud.ankyra_run(&args, Duration::from_secs(300), false)?;
        ensure!(
            out.success(),
            "expected `ankyra {}` to exit 0, it exited with {}:\n{}",
            args.join(" "),
            out.status,
            secrets::redact(&secrets, &out.describe_failure())
        );
        let mut out = out;
        out.label = format!("ankyra {}", args.join(" "));
        check_output(&mut search, &secrets, &out);
        outputs += 1;
    }
    let serve_log = cloud.dir.join("serve.log");
    if serve_log.is_file() {
        let text = std::fs::read_to_string(&serve_log)?;
        search.check(&secrets, "the output of `ankyra serve`", &text);
        outputs += 1;
    }

    let files = files_holding_secrets(&cloud.dir, &secrets, &mut search)?;

    ensure!(
        search.leaks.is_empty(),
        "expected no generated secret outside owner-only files, found one in {} place(s):\n  {}",
        search.leaks.len(),
        search.leaks.join("\n  ")
    );
    e2e_log!(
        "checked {} secrets against {} containers' inspect + logs ({} KiB of logs), {processes} processes, \
         {outputs} ankyra outputs ({} texts in all): none found; {files} files beside the store hold secrets, all owner-only",
        secrets.len(),
        containers.len(),
        log_bytes / 1024,
        search.searched
    );
    Ok(())
}

/// Searches a command's stdout and stderr.
fn check_output(search: &mut Search, secrets: &[Secret], out: &Output) {
    search.check(
        secrets,
        &format!("the stdout of `{}`", out.label),
        &out.stdout,
    );
    search.check(
        secrets,
        &format!("the stderr of `{}`", out.label),
        &out.stderr,
    );
}

/// Walks `dir` (the store's folder, where Ankyra writes configs, clouds.yaml and openrc):
/// a file holding a secret must be readable by its owner only, else it is a leak. Returns
/// how many files hold one.
fn files_holding_secrets(dir: &Path, secrets: &[Secret], search: &mut Search) -> Result<usize> {
    let mut holding = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            if secrets::found_in(secrets, &text).is_empty() {
                continue;
            }
            holding += 1;
            let mode = entry.metadata()?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                search.check(
                    secrets,
                    &format!(
                        "file {} (mode {mode:o}, readable by others)",
                        path.display()
                    ),
                    &text,
                );
            }
        }
    }
    Ok(holding)
}

// ---------------------------------------------------------------------------------------
// destroy

fn destroy_removes_containers(cloud: &mut Cloud, engine: &Engine) -> Result<()> {
    cloud.destroy()?;
    let left = engine.containers(&cloud.name, None)?;
    let names: Vec<String> = left.iter().map(engine::summary_name).collect();
    ensure!(
        left.is_empty(),
        "expected no container of cloud {} after destroy, found {names:?}",
        cloud.name
    );
    // The fleet no longer counts a purged cloud as running.
    let name = cloud.name.clone();
    let ls = cloud.ankyra_run(
        &["fleet", "ls", "-o", "json"],
        Duration::from_secs(60),
        false,
    )?;
    let rows: serde_json::Value = serde_json::from_str(&ls.stdout)
        .with_context(|| format!("fleet ls -o json: {}", ls.stdout))?;
    let health = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["cloud"] == name.as_str()))
        .map(|r| r["health"].clone());
    ensure!(
        health == Some(serde_json::Value::from("destroyed")),
        "fleet ls after destroy --purge says {health:?} for {name}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
