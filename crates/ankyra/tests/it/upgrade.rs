//! `ankyra upgrade CLOUD --release R` without --apply: one revision, every
//! OpenStack component at the release's newest version, infrastructure kept,
//! the plan in the catalog's order with reasons.

use crate::{edit, init, Env};

/// `ankyra init`'s record moved to 2026.1.
fn at_2026_1(env: &Env, name: &str) {
    let f = init(env, name);
    edit(&f, "release: \"2026.2\"", "release: \"2026.1\"");
    edit(&f, "version: 30.0.0", "version: 29.1.0");
    edit(&f, "version: 33.0.0", "version: 32.0.0");
    edit(&f, "version: 16.0.0", "version: 15.0.0");
    edit(&f, "version: 29.0.0", "version: 28.0.2");
    for _ in 0..4 {
        edit(&f, "version: 34.0.0", "version: 33.0.2");
    }
}

#[test]
fn upgrade_moves_every_openstack_component_in_one_revision() {
    let env = Env::new();
    at_2026_1(&env, "up1");
    let first = env.run(&["commit", "-f", "up1.yaml"]);
    assert!(first.starts_with("exit: 0"), "{first}");
    let before = env.json(&["show", "up1"]);
    let done = env.json(&["upgrade", "up1", "--release", "2026.2", "-m", "to 2026.2"]);
    assert_eq!(done["from_release"], "2026.1");
    assert_eq!(done["release"], "2026.2");
    assert_eq!(done["revision"]["number"], 2);
    let moves: Vec<(String, String)> = done["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["component"].as_str().unwrap().to_string(),
                m["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("keystone", "30.0.0"),
        ("glance", "33.0.0"),
        ("placement", "16.0.0"),
        ("neutron-server", "29.0.0"),
        ("nova-conductor", "34.0.0"),
        ("nova-scheduler", "34.0.0"),
        ("nova-api", "34.0.0"),
        ("nova-compute", "34.0.0"),
    ];
    for (c, v) in want {
        assert!(
            moves.iter().any(|(mc, mv)| mc == c && mv == v),
            "{c} should move to {v}: {moves:?}"
        );
    }
    assert_eq!(moves.len(), want.len(), "only OpenStack moves: {moves:?}");
    // The plan runs in the catalog's order: keystone before nova, nova's
    // conductor before its compute; every step says why.
    let steps = done["plan"]["steps"].as_array().unwrap();
    let at = |c: &str| {
        steps
            .iter()
            .position(|s| s["component"] == c)
            .unwrap_or_else(|| panic!("{c} in the plan"))
    };
    assert!(at("keystone") < at("nova-conductor"));
    assert!(at("nova-conductor") < at("nova-scheduler"));
    assert!(at("nova-api") < at("nova-compute"));
    let after = env.json(&["show", "up1"]);
    let comps = |v: &serde_json::Value, c: &str| v["record"]["spec"]["components"][c].clone();
    for infra in ["mariadb", "memcached", "rabbitmq", "haproxy"] {
        assert_eq!(
            comps(&after, infra)["version"],
            comps(&before, infra)["version"],
            "{infra} moves only when named"
        );
    }
    // Nothing left to move: a clear refusal, nothing recorded.
    let again = env.run(&["upgrade", "up1", "--release", "2026.2"]);
    assert!(again.starts_with("exit: 2"), "{again}");
    assert!(again.contains("already at 2026.2"), "{again}");
    let back = env.run(&["upgrade", "up1", "--release", "2026.1"]);
    assert!(back.starts_with("exit: 2"), "{back}");
    assert!(back.contains("newer than 2026.1"), "{back}");
    assert!(back.contains("ankyra rollback CLOUD --to REV"), "{back}");
    assert_eq!(env.json(&["history", "up1"]).as_array().unwrap().len(), 2);
}
