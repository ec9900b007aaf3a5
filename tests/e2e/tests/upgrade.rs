//! Issue 9's proof for keystone, end to end on the real Docker Engine (feature `docker`),
//! each change made under a steady load of token issue + validate through HAProxy:
//!
//! 1. 27.1.0 → 29.1.0 (the SLURP jump, two real expand migrations): zero failed
//!    requests, a token issued before still validates, every other container kept.
//! 2. `ankyra rollback` inside the bake window: a load-balancer switch back to the very
//!    same parked containers, zero failed requests, its duration reported.
//! 3. Upgrade again with a short bake window, let it end, roll back start-first (new
//!    containers): zero failed requests.
//! 4. Upgrade and `ankyra finalize`; a later rollback is refused with the reason.
//! 0. First the security-patch case: the point release 27.0.2 → 27.1.0, back by a
//!    switch, and forward again.
//! 5. Placement 13.0.1 → 15.0.0 (2025.1 → 2026.1) and back, with placement requests
//!    in the load as well.
//! 6. A broken image (never healthy) and an image that serves errors are rolled back
//!    automatically: exit code 1, zero failed requests, the running containers untouched.
//!
//! One small cloud (mariadb, memcached, haproxy, keystone × 2, placement) is shared by
//! every step.
#![cfg(feature = "docker")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ankyra_e2e::engine::Engine;
use ankyra_e2e::load::{Keystone, Load, LoadReport};
use ankyra_e2e::{e2e_log, Cloud};
use anyhow::{ensure, Context, Result};
use serde_json::Value;

const POINT: &str = "27.0.2";
const OLD: &str = "27.1.0";
const NEW: &str = "29.1.0";
const PLACEMENT_OLD: &str = "13.0.1";
const PLACEMENT_NEW: &str = "15.0.0";
const PAUSE: Duration = Duration::from_millis(100);

fn record(name: &str, keystone: &str, bake: &str) -> String {
    format!(
        "apiVersion: ankyra/v1\n\
         kind: Cloud\n\
         metadata:\n  name: {name}\n\
         spec:\n  release: \"2025.1\"\n  \
         rollout:\n    bakeWindow: {bake}\n    observe: 5s\n  \
         components:\n    mariadb: {{}}\n    memcached: {{}}\n    haproxy: {{}}\n    \
         keystone:\n      version: {keystone}\n      replicas: 2\n    \
         placement:\n      version: {PLACEMENT_OLD}\n"
    )
}

fn apply_record(cloud: &mut Cloud, keystone: &str, bake: &str, msg: &str) -> Result<()> {
    std::fs::write(&cloud.record, record(&cloud.name, keystone, bake))?;
    let out = cloud.apply(msg)?;
    ensure!(out.success(), "apply failed:\n{}", out.describe_failure());
    Ok(())
}

/// Container name → ID of one component (`keystone`) or of every other one
/// (`!keystone`): the instances in rotation, parked ones left out.
fn ids(cloud: &Cloud, component: &str) -> Result<BTreeMap<String, String>> {
    let status = cloud.status()?;
    let (negate, name) = match component.strip_prefix('!') {
        Some(n) => (true, n),
        None => (false, component),
    };
    Ok(status
        .components
        .iter()
        .filter(|c| (c.name == name) != negate)
        .flat_map(|c| {
            let parked: Vec<String> = c
                .bake
                .as_ref()
                .and_then(|b| b.get("containers"))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            c.containers
                .iter()
                .filter(move |k| !parked.contains(&k.name))
        })
        .map(|k| (k.name.clone(), k.id.clone()))
        .collect())
}

fn keystone_running(cloud: &Cloud) -> Result<String> {
    running(cloud, "keystone")
}

/// The version `component` runs, once Docker's health checks (which lag Ankyra's
/// own readiness gate by up to an interval) call every instance healthy.
fn running(cloud: &Cloud, component: &str) -> Result<String> {
    let started = Instant::now();
    loop {
        let status = cloud.status()?;
        let k = status
            .component(component)
            .with_context(|| format!("no {component} in status"))?;
        if k.health == "healthy" {
            return k
                .running_version
                .clone()
                .with_context(|| format!("{component} runs no version"));
        }
        ensure!(
            started.elapsed() < Duration::from_secs(90),
            "{component} is {} after 90 s:\n{}",
            k.health,
            status.summary()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Runs `args` under load; returns the load report and the command's stdout.
fn under_load(
    cloud: &Cloud,
    k: &Keystone,
    old_token: &str,
    args: &[&str],
) -> Result<(LoadReport, ankyra_e2e::process::Output)> {
    under_load_with(cloud, k, old_token, args, None)
}

fn under_load_with(
    cloud: &Cloud,
    k: &Keystone,
    old_token: &str,
    args: &[&str],
    extra: Option<String>,
) -> Result<(LoadReport, ankyra_e2e::process::Output)> {
    let load = Load::start_with(k, Some(old_token.to_string()), PAUSE, extra)?;
    // A few rounds before the change starts, so the load is steady when it does.
    std::thread::sleep(Duration::from_secs(2));
    let out = cloud.ankyra_run(args, Duration::from_secs(900), true);
    std::thread::sleep(Duration::from_secs(2));
    let report = load.stop();
    e2e_log!(
        "load during `ankyra {}`: {}",
        args.join(" "),
        report.summary()
    );
    for f in report.failures.iter().take(10) {
        e2e_log!("  failed: {f}");
    }
    Ok((report, out?))
}

/// Runs `args` under load and checks it succeeded with zero failed requests.
fn changed_under_load(
    cloud: &Cloud,
    k: &Keystone,
    old_token: &str,
    args: &[&str],
    extra: Option<String>,
    what: &str,
) -> Result<ankyra_e2e::process::Output> {
    let (report, out) = under_load_with(cloud, k, old_token, args, extra)?;
    ensure!(out.success(), "{what} failed:\n{}", out.describe_failure());
    zero_failures(&report, what)?;
    Ok(out)
}

fn zero_failures(report: &LoadReport, what: &str) -> Result<()> {
    ensure!(
        report.requests >= 10,
        "{what}: expected a steady load, only {} requests ran",
        report.requests
    );
    ensure!(
        report.failures.is_empty(),
        "{what}: expected zero failed requests, {} of {} failed: {:?}",
        report.failures.len(),
        report.requests,
        report.failures.iter().take(5).collect::<Vec<_>>()
    );
    Ok(())
}

fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    e2e_log!("=== {name}");
    let start = Instant::now();
    let r = f();
    match &r {
        Ok(_) => e2e_log!("=== ok: {name} ({:.1}s)", start.elapsed().as_secs_f64()),
        Err(e) => e2e_log!("=== FAILED: {name}: {e:#}"),
    }
    r.with_context(|| format!("step failed: {name}"))
}

#[test]
fn issue_9_keystone_upgrade_rollback_finalize_and_failed_gates_under_load() -> Result<()> {
    let engine = Engine::connect()?;
    let mut cloud = Cloud::init_fake_driver()?;
    let name = cloud.name.clone();

    step("deploy keystone 27.0.2 × 2 and placement 13.0.1", || {
        apply_record(&mut cloud, POINT, "15m", "e2e: deploy")?;
        ensure!(keystone_running(&cloud)? == POINT);
        ensure!(running(&cloud, "placement")? == PLACEMENT_OLD);
        Ok(())
    })?;
    let yaml = std::fs::read_to_string(cloud.clouds_yaml()?)?;
    let k = Keystone::from_clouds_yaml(&yaml, &name)?;
    let old_token = k.issue()?;
    let others = ids(&cloud, "!keystone")?;

    step(
        "point release 27.0.2 → 27.1.0, back by a switch, forward again",
        || {
            let point_keystones = ids(&cloud, "keystone")?;
            let arg = format!("keystone={OLD}");
            let up = [
                "set",
                name.as_str(),
                arg.as_str(),
                "--apply",
                "-m",
                "security patch",
            ];
            changed_under_load(&cloud, &k, &old_token, &up, None, "point release upgrade")?;
            ensure!(keystone_running(&cloud)? == OLD);
            changed_under_load(
                &cloud,
                &k,
                &old_token,
                &["rollback", &name, "keystone"],
                None,
                "point release rollback",
            )?;
            ensure!(keystone_running(&cloud)? == POINT);
            ensure!(
                ids(&cloud, "keystone")? == point_keystones,
                "expected the very same 27.0.2 containers back"
            );
            changed_under_load(
                &cloud,
                &k,
                &old_token,
                &up,
                None,
                "point release upgrade, again",
            )?;
            ensure!(keystone_running(&cloud)? == OLD);
            ensure!(
                ids(&cloud, "!keystone")? == others,
                "the keystone changes touched another component's containers"
            );
            Ok(())
        },
    )?;
    let first_keystones = ids(&cloud, "keystone")?;

    step("upgrade 27.1.0 → 29.1.0 under load", || {
        let arg = format!("keystone={NEW}");
        changed_under_load(
            &cloud,
            &k,
            &old_token,
            &["set", &name, &arg, "--apply", "-m", "security fix"],
            None,
            "upgrade",
        )?;
        ensure!(keystone_running(&cloud)? == NEW);
        k.validate(&old_token)
            .context("a token issued before the upgrade no longer validates")?;
        ensure!(
            ids(&cloud, "!keystone")? == others,
            "the upgrade of keystone touched another component's containers"
        );
        let status = cloud.status()?;
        let ks = status.component("keystone").context("keystone")?;
        ensure!(
            ks.bake.is_some(),
            "expected the old instances parked for the bake window"
        );
        ensure!(
            ks.not_finalized.as_deref() == Some("27.1.0 → 29.1.0"),
            "expected `upgraded, not finalized`, found {:?}",
            ks.not_finalized
        );
        Ok(())
    })?;

    step(
        "rollback inside the bake window: a switch, no new container",
        || {
            let out = changed_under_load(
                &cloud,
                &k,
                &old_token,
                &["rollback", &name, "keystone", "-o", "json"],
                None,
                "rollback in the bake window",
            )?;
            let json: Value = serde_json::from_str(&out.stdout)?;
            let seconds = json["applied"]["outcome"]["switches"][0]["seconds"]
                .as_f64()
                .context("expected the rollback to be a load-balancer switch")?;
            e2e_log!("rollback switch took {seconds:.3} s");
            ensure!(keystone_running(&cloud)? == OLD);
            ensure!(
                ids(&cloud, "keystone")? == first_keystones,
                "expected the very same 27.1.0 containers back in rotation"
            );
            k.validate(&old_token)?;
            Ok(())
        },
    )?;

    step(
        "upgrade with a 3 s bake window, let it end, roll back start-first",
        || {
            let load = Load::start(&k, Some(old_token.clone()), PAUSE)?;
            let applied = apply_record(&mut cloud, NEW, "3s", "e2e: upgrade, short bake");
            let report = load.stop();
            e2e_log!("load during the upgrade: {}", report.summary());
            applied?;
            zero_failures(&report, "second upgrade")?;
            std::thread::sleep(Duration::from_secs(5));
            let out = changed_under_load(
                &cloud,
                &k,
                &old_token,
                &["rollback", &name, "keystone", "-o", "json"],
                None,
                "start-first rollback",
            )?;
            let json: Value = serde_json::from_str(&out.stdout)?;
            ensure!(
                json["applied"]["outcome"]["switches"]
                    .as_array()
                    .is_some_and(|a| a.is_empty()),
                "after the bake window the rollback cannot be a switch: {}",
                json["applied"]["outcome"]["switches"]
            );
            ensure!(keystone_running(&cloud)? == OLD);
            let now = ids(&cloud, "keystone")?;
            ensure!(
                now.values()
                    .all(|id| !first_keystones.values().any(|f| f == id)),
                "expected new 27.1.0 containers after the bake window ended"
            );
            Ok(())
        },
    )?;

    step("upgrade and finalize; rollback is then refused", || {
        apply_record(&mut cloud, NEW, "15m", "e2e: upgrade to finalize")?;
        let out = cloud.ankyra_run(
            &["finalize", &name, "keystone"],
            Duration::from_secs(300),
            true,
        )?;
        ensure!(
            out.success(),
            "finalize failed:\n{}",
            out.describe_failure()
        );
        let status = cloud.status()?;
        let ks = status.component("keystone").context("keystone")?;
        ensure!(ks.not_finalized.is_none() && ks.bake.is_none());
        k.validate(&old_token)?;
        let out = cloud.ankyra_run(
            &["rollback", &name, "keystone"],
            Duration::from_secs(300),
            true,
        )?;
        ensure!(
            out.status.code() == Some(2) && out.stderr.contains("--restore-snapshot"),
            "expected the rollback past a finalized upgrade to be refused (exit 2, naming \
             --restore-snapshot):\n{}",
            out.describe_failure()
        );
        ensure!(keystone_running(&cloud)? == NEW);
        Ok(())
    })?;

    step(
        "rollback past the finalized upgrade with --restore-snapshot, then upgrade and back again",
        || {
            // Written after every snapshot: the restore must lose it, and say so.
            cloud.openstack(&[
                "user",
                "create",
                "--password",
                "x-not-a-secret-x",
                "written-after-the-snapshot",
            ])?;
            let out = cloud.ankyra_run(
                &[
                    "rollback",
                    &name,
                    "keystone",
                    "--restore-snapshot",
                    "-o",
                    "json",
                ],
                Duration::from_secs(900),
                true,
            )?;
            ensure!(
                out.success(),
                "rollback --restore-snapshot failed:\n{}",
                out.describe_failure()
            );
            ensure!(
                out.stderr.contains("later writes are lost"),
                "expected the restore to say what is lost:\n{}",
                out.describe_failure()
            );
            ensure!(keystone_running(&cloud)? == OLD);
            let users = cloud.openstack(&["user", "list", "-f", "value", "-c", "Name"])?;
            ensure!(
                !users
                    .lines()
                    .any(|l| l.trim() == "written-after-the-snapshot"),
                "the user written after the snapshot survived the restore:\n{users}"
            );
            ensure!(
                users.lines().any(|l| l.trim() == "admin"),
                "admin is gone:\n{users}"
            );
            k.issue().context("no token after the restore")?;
            let status = cloud.status()?;
            let ks = status.component("keystone").context("keystone")?;
            ensure!(ks.not_finalized.is_none(), "{:?}", ks.not_finalized);
            ensure!(
                ks.bake.is_none(),
                "instances of a version past the restored schema must not be kept for a switch"
            );
            // The restored schema is a fresh start: an upgrade and a switch back work again.
            let arg = format!("keystone={NEW}");
            changed_under_load(
                &cloud,
                &k,
                &k.issue()?,
                &["set", &name, &arg, "--apply"],
                None,
                "upgrade after the restore",
            )?;
            changed_under_load(
                &cloud,
                &k,
                &k.issue()?,
                &["rollback", &name, "keystone"],
                None,
                "rollback after the restore",
            )?;
            ensure!(keystone_running(&cloud)? == OLD);
            Ok(())
        },
    )?;

    step(
        "placement 13.0.1 → 15.0.0 and back, under keystone + placement load",
        || {
            let vip = k.vip();
            let url = Some(format!("http://{vip}:8778/resource_providers"));
            let keystones = ids(&cloud, "keystone")?;
            let before = ids(&cloud, "placement")?;
            let arg = format!("placement={PLACEMENT_NEW}");
            changed_under_load(
                &cloud,
                &k,
                &old_token,
                &["set", &name, &arg, "--apply"],
                url.clone(),
                "placement upgrade",
            )?;
            ensure!(running(&cloud, "placement")? == PLACEMENT_NEW);
            ensure!(
                ids(&cloud, "keystone")? == keystones,
                "keystone was touched"
            );
            changed_under_load(
                &cloud,
                &k,
                &old_token,
                &["rollback", &name, "placement", "-o", "json"],
                url,
                "placement rollback",
            )?;
            ensure!(running(&cloud, "placement")? == PLACEMENT_OLD);
            ensure!(
                ids(&cloud, "placement")? == before,
                "expected the very same placement 13.0.1 container back"
            );
            Ok(())
        },
    )?;

    let broken = format!("ankyra-e2e/keystone-broken:{NEW}");
    let erring = format!("ankyra-e2e/keystone-erring:{NEW}");
    let site = "/opt/openstack/lib/python3.11/site-packages/keystone";
    engine.patched_image(
        &format!("ankyra/keystone:{NEW}"),
        &broken,
        &format!("rm -rf {site}/wsgi"),
    )?;
    engine.patched_image(
        &format!("ankyra/keystone:{NEW}"),
        &erring,
        &format!(
            "printf '%s\\n' '' 'def _broken(self, *a, **k):' \
             '    raise RuntimeError(\"broken on purpose by the e2e test\")' \
             'Manager.issue_token = _broken' >> {site}/token/provider.py"
        ),
    )?;
    for (image, what) in [(&broken, "never healthy"), (&erring, "answers errors")] {
        step(
            &format!("an image that {what} is rolled back automatically"),
            || {
                let before = ids(&cloud, "keystone")?;
                let arg = format!("keystone={image}");
                let (report, out) =
                    under_load(&cloud, &k, &old_token, &["set", &name, &arg, "--apply"])?;
                ensure!(
                    out.status.code() == Some(1),
                    "expected exit code 1 (failed and rolled back):\n{}",
                    out.describe_failure()
                );
                ensure!(
                    out.stderr.contains("the old instances serve again"),
                    "expected the reason in the error:\n{}",
                    out.describe_failure()
                );
                zero_failures(&report, what)?;
                ensure!(
                    ids(&cloud, "keystone")? == before,
                    "expected the running keystone containers untouched"
                );
                ensure!(keystone_running(&cloud)? == OLD);
                Ok(())
            },
        )?;
    }
    Ok(())
}
