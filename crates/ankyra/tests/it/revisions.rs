//! Revisions: commit, set, history, show, diff and plan, as Rey uses them.

use crate::{edit, init, settings, Env};

#[test]
fn commit_set_history_diff_and_plan() {
    let env = Env::new();
    let f = init(&env, "lab1");
    edit(&f, "release: \"2026.2\"", "release: \"2025.1\"");
    edit(&f, "version: 30.0.0", "version: 27.1.0");
    edit(&f, "version: 33.0.0", "version: 30.2.0");
    edit(&f, "version: 16.0.0", "version: 13.0.1");
    edit(&f, "version: 29.0.0", "version: 26.0.6");
    for _ in 0..4 {
        edit(&f, "version: 34.0.0", "version: 31.3.1");
    }
    settings().bind(|| {
        insta::assert_snapshot!(
            "first commit",
            env.run(&["commit", "-f", "lab1.yaml", "-m", "first"])
        );
        // The same content again makes no new revision.
        insta::assert_snapshot!("same again", env.run(&["commit", "-f", "lab1.yaml"]));
        insta::assert_snapshot!(
            "plan unchanged file",
            env.run(&["plan", "-f", "lab1.yaml", "--offline"])
        );
        insta::assert_snapshot!(
            "set keystone",
            env.run(&["set", "lab1", "keystone=28.1.0", "-m", "security fix"])
        );
        insta::assert_snapshot!(
            "set replicas",
            env.run(&["set", "lab1", "glance.replicas=2"])
        );
        insta::assert_snapshot!("history", env.run(&["history", "lab1"]));
        insta::assert_snapshot!("diff 1 3", env.run(&["diff", "lab1", "1", "3"]));
        insta::assert_snapshot!("diff 3 1", env.run(&["diff", "lab1", "3", "1"]));
        insta::assert_snapshot!("plan from 1", env.run(&["plan", "lab1", "--from", "1"]));
        insta::assert_snapshot!(
            "set unsupported jump",
            env.run(&["set", "lab1", "keystone=30.0.0"])
        );
        insta::assert_snapshot!("set unknown", env.run(&["set", "lab1", "keystnoe=30.0.0"]));
    });
    let h = env.json(&["history", "lab1"]);
    assert_eq!(h.as_array().unwrap().len(), 3);
    let shown = env.json(&["show", "lab1", "2"]);
    assert_eq!(
        shown["record"]["spec"]["components"]["keystone"]["version"],
        "28.1.0"
    );
    let plan = env.json(&["plan", "lab1", "--from", "1"]);
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["component"], "keystone");
}

#[test]
fn show_prints_a_record_that_validates() {
    let env = Env::new();
    init(&env, "lab2");
    env.run(&["commit", "-f", "lab2.yaml"]);
    let shown = env.json(&["show", "lab2"]);
    let yaml = ankyra_model::to_yaml(&shown["record"]);
    let path = env.write("back.yaml", &yaml);
    let out = env.run(&["validate", "-f", path.to_str().unwrap()]);
    assert!(out.starts_with("exit: 0"), "{out}");
}
