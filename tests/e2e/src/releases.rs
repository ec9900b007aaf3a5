//! Two OpenStack releases for the whole-cloud tests and the release benchmark: the
//! record `ankyra init` prints (2026.2) moved to 2026.1, and the step times of an
//! apply read from its progress lines, with the critical path along the dependency
//! order of the catalog.

use std::collections::BTreeMap;

use crate::status::ALL_COMPONENTS;

/// The infrastructure, moved only when named: the first four of `ankyra init`'s
/// components.
pub const INFRASTRUCTURE: &[&str] = ALL_COMPONENTS.split_at(4).0;

/// The components `ankyra upgrade --release` moves (the OpenStack services, not
/// the infrastructure nor nova-libvirt, which Debian versions), in upgrade order.
pub const OPENSTACK: &[&str] = &[
    "keystone",
    "glance",
    "placement",
    "neutron-server",
    "nova-conductor",
    "nova-scheduler",
    "nova-api",
    "nova-compute",
];

/// Each OpenStack component's version in release 2026.1.
pub const RELEASE_2026_1: [(&str, &str); 8] = [
    ("keystone", "29.1.0"),
    ("glance", "32.0.0"),
    ("placement", "15.0.0"),
    ("neutron-server", "28.0.2"),
    ("nova-conductor", "33.0.2"),
    ("nova-scheduler", "33.0.2"),
    ("nova-api", "33.0.2"),
    ("nova-compute", "33.0.2"),
];

/// The components each one waits for in a whole-cloud apply: keystone, then glance,
/// placement and neutron together, then nova conductor → scheduler → api → compute.
pub const DEPENDS_ON: [(&str, &[&str]); 8] = [
    ("keystone", &[]),
    ("glance", &["keystone"]),
    ("placement", &["keystone"]),
    ("neutron-server", &["keystone"]),
    ("nova-conductor", &["glance", "placement", "neutron-server"]),
    ("nova-scheduler", &["nova-conductor"]),
    ("nova-api", &["nova-scheduler"]),
    ("nova-compute", &["nova-api"]),
];

/// [`RELEASE_2026_1`] as a map.
pub fn release_2026_1() -> BTreeMap<String, String> {
    RELEASE_2026_1
        .iter()
        .map(|(c, v)| (c.to_string(), v.to_string()))
        .collect()
}

/// `ankyra init`'s record (release 2026.2) moved to 2026.1: each component at that
/// release's version; with `spec.rollout.bakeWindow` set when given.
pub fn record_2026_1(init: &str, bake_window: Option<&str>) -> String {
    let record = init
        .replace("release: \"2026.2\"", "release: \"2026.1\"")
        .replace("version: 30.0.0", "version: 29.1.0")
        .replace("version: 33.0.0", "version: 32.0.0")
        .replace("version: 16.0.0", "version: 15.0.0")
        .replace("version: 29.0.0", "version: 28.0.2")
        .replace("version: 34.0.0", "version: 33.0.2");
    match bake_window {
        Some(w) => record.replacen(
            "\n  components:\n",
            &format!("\n  rollout:\n    bakeWindow: {w}\n  components:\n"),
            1,
        ),
        None => record,
    }
}

/// The seconds of every finished step in an apply's progress (stderr), by component:
/// lines `[   12.3s] COMPONENT: done in 45.2s`; a component's steps add up.
pub fn step_seconds(progress: &str) -> BTreeMap<String, f64> {
    let mut steps = BTreeMap::new();
    for line in progress.lines() {
        let rest = match line.split_once("] ") {
            Some((_, rest)) => rest,
            None => line,
        };
        let Some((component, done)) = rest.split_once(": done in ") else {
            continue;
        };
        let Ok(secs) = done.trim().trim_end_matches('s').parse::<f64>() else {
            continue;
        };
        *steps.entry(component.trim().to_string()).or_insert(0.0) += secs;
    }
    steps
}

/// The longest chain of step times along [`DEPENDS_ON`] (components without a step
/// count 0): its seconds and its components in order.
pub fn critical_path(steps: &BTreeMap<String, f64>) -> (f64, Vec<String>) {
    // Finish time and chain per component; DEPENDS_ON lists dependencies first.
    let mut finish: BTreeMap<&str, (f64, Vec<String>)> = BTreeMap::new();
    for (c, deps) in DEPENDS_ON {
        let (start, mut chain) = deps
            .iter()
            .filter_map(|d| finish.get(d))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .cloned()
            .unwrap_or((0.0, Vec::new()));
        let own = steps.get(c).copied().unwrap_or(0.0);
        if own > 0.0 {
            chain.push(c.to_string());
        }
        finish.insert(c, (start + own, chain));
    }
    finish
        .into_values()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_then_openstack_in_upgrade_order() {
        assert_eq!(
            INFRASTRUCTURE,
            ["mariadb", "memcached", "rabbitmq", "haproxy"]
        );
        let rest: Vec<&str> = ALL_COMPONENTS[4..]
            .iter()
            .copied()
            .filter(|c| *c != "nova-libvirt")
            .collect();
        assert_eq!(OPENSTACK, rest);
        assert_eq!(OPENSTACK.first(), Some(&"keystone"));
        assert_eq!(OPENSTACK.last(), Some(&"nova-compute"));
        assert_eq!(OPENSTACK.len(), RELEASE_2026_1.len());
    }

    #[test]
    fn the_record_moves_to_2026_1_with_a_bake_window() {
        let init =
            "spec:\n  release: \"2026.2\"\n  components:\n    keystone:\n      version: 30.0.0\n";
        let r = record_2026_1(init, Some("2h"));
        assert_eq!(
            r,
            "spec:\n  release: \"2026.1\"\n  rollout:\n    bakeWindow: 2h\n  components:\n    keystone:\n      version: 29.1.0\n"
        );
        assert!(!record_2026_1(init, None).contains("rollout"));
    }

    #[test]
    fn step_times_and_the_critical_path() {
        let progress = "[    0.1s] plan: 9 steps\n\
             [    1.0s] keystone: replace started\n\
             [   20.0s] keystone: done in 19.0s\n\
             [   30.0s] glance: done in 10.0s\n\
             [   45.0s] neutron-server: done in 25.0s\n\
             [   28.0s] placement: done in 8.0s\n\
             [   60.0s] nova-conductor: done in 15.0s\n\
             [   70.0s] nova-scheduler: done in 10.0s\n\
             [   80.0s] nova-api: done in 10.0s\n\
             [   99.0s] nova-compute: done in 19.0s\n\
             [  100.0s] nova-compute: done in 1.0s\n\
             not a progress line: done in soon\n";
        let steps = step_seconds(progress);
        assert_eq!(steps.len(), 8);
        assert!((steps["nova-compute"] - 20.0).abs() < 1e-9);
        let (secs, chain) = critical_path(&steps);
        assert!((secs - (19.0 + 25.0 + 15.0 + 10.0 + 10.0 + 20.0)).abs() < 1e-9);
        assert_eq!(
            chain,
            [
                "keystone",
                "neutron-server",
                "nova-conductor",
                "nova-scheduler",
                "nova-api",
                "nova-compute"
            ]
        );
        assert_eq!(critical_path(&BTreeMap::new()).0, 0.0);
    }
}
