//! Bad input gets a clear error and exit code 2; JSON errors for scripts.

use crate::{edit, init, settings, Env};

#[test]
fn misspelt_key_names_file_line_column_and_the_near_spelling() {
    let env = Env::new();
    let f = init(&env, "lab1");
    edit(
        &f,
        "      replicas: 1\n    # identity",
        "      replcas: 1\n    # identity",
    );
    settings().bind(|| insta::assert_snapshot!(env.run(&["validate", "-f", "lab1.yaml"])));
}

#[test]
fn unknown_version_lists_the_valid_ones() {
    let env = Env::new();
    let f = init(&env, "lab1");
    edit(&f, "version: 30.0.0", "version: 31.0.0");
    settings().bind(|| insta::assert_snapshot!(env.run(&["validate", "-f", "lab1.yaml"])));
}

#[test]
fn json_errors_carry_position_field_and_help() {
    let env = Env::new();
    let f = init(&env, "lab1");
    edit(
        &f,
        "      replicas: 1\n    # identity",
        "      replcas: 1\n    # identity",
    );
    let v = env.json(&["validate", "-f", "lab1.yaml"]);
    let p = &v["error"]["problems"][0];
    assert_eq!(p["field"], "spec.components.haproxy.replcas");
    assert_eq!(p["file"], "lab1.yaml");
    assert!(p["line"].as_u64().unwrap() > 1);
    assert!(p["help"]
        .as_str()
        .unwrap()
        .contains("did you mean `replicas`"));
    assert_eq!(v["error"]["exit_code"], 2);
}

#[test]
fn bad_arguments_exit_2() {
    let env = Env::new();
    settings().bind(|| {
        insta::assert_snapshot!(env.run(&["init", "--name", "Bad Name"]));
        insta::assert_snapshot!(env.run(&["validate", "-f", "missing.yaml"]));
        insta::assert_snapshot!(env.run(&["catalog", "keystnoe"]));
    });
}

#[test]
fn a_corrupt_store_is_refused_and_left_untouched() {
    let env = Env::new();
    let junk = b"this is not a database, but somebody's notes\n".repeat(200);
    std::fs::write(env.path("store.db"), &junk).unwrap();
    let out = env.run(&["history", "lab1"]);
    assert!(out.starts_with("exit: 3"), "{out}");
    assert_eq!(std::fs::read(env.path("store.db")).unwrap(), junk);
}

#[test]
fn schema_is_json_schema_of_the_record() {
    let env = Env::new();
    let v = env.json(&["schema"]);
    assert_eq!(v["title"], "Ankyra cloud record");
    assert!(v["properties"]["spec"].is_object());
    assert!(v["definitions"]["ComponentSpec"]["properties"]["replicas"].is_object());
    assert_eq!(v["additionalProperties"], false);
}
