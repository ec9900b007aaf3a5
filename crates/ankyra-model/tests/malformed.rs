//! A table of malformed records and the error each gets: file:line:col,
//! field, what is allowed. Kept as a snapshot so a change in wording is seen.

#![allow(clippy::unwrap_used)]

use ankyra_model::parse_record;

const BASE: &str = "apiVersion: ankyra/v1
kind: Cloud
metadata:
  name: lab1
spec:
  release: \"2026.1\"
  components:
    keystone:
      version: 29.1.0
      replicas: 2
";

/// `BASE` with `spec.rollout` holding one `key: value` line.
fn rollout(line: &str) -> String {
    BASE.replace(
        "  components:",
        &format!("  rollout:\n    {line}\n  components:"),
    )
}

fn cases() -> Vec<(&'static str, String)> {
    vec![
        ("empty file", String::new()),
        ("not yaml", "apiVersion: [unclosed\n".into()),
        ("a list at the top", "- a\n- b\n".into()),
        ("misspelt key", BASE.replace("replicas: 2", "replcas: 2")),
        ("misspelt top key", BASE.replace("spec:", "sepc:")),
        ("wrong apiVersion", BASE.replace("ankyra/v1", "ankyra/v2")),
        ("wrong kind", BASE.replace("kind: Cloud", "kind: Clowd")),
        ("bad name", BASE.replace("name: lab1", "name: Lab_1")),
        (
            "missing name",
            BASE.replace("  name: lab1\n", "  labels: {}\n"),
        ),
        ("bad version", BASE.replace("29.1.0", "29.x")),
        (
            "negative replicas",
            BASE.replace("replicas: 2", "replicas: -1"),
        ),
        (
            "replicas as list",
            BASE.replace("replicas: 2", "replicas: [2]"),
        ),
        ("bad image", BASE.replace("replicas: 2", "image: Keystone")),
        (
            "image without tag",
            BASE.replace("replicas: 2", "image: ankyra/keystone"),
        ),
        (
            "duplicate key",
            BASE.replace("replicas: 2", "replicas: 2\n      replicas: 3"),
        ),
        (
            "alias",
            BASE.replace("replicas: 2", "replicas: &r 2\n      hosts: *r"),
        ),
        ("two documents", format!("{BASE}---\n{BASE}")),
        (
            "config not nested",
            BASE.replace("replicas: 2", "config: {keystone.conf: 3}"),
        ),
        (
            "host engine",
            BASE.replace("spec:\n", "spec:\n  hosts:\n    b: {engine: http://x}\n"),
        ),
        ("rollout misspelt key", rollout("maxSuge: 2")),
        (
            "rollout not a mapping",
            BASE.replace("  components:", "  rollout: 15m\n  components:"),
        ),
        ("rollout maxSurge zero", rollout("maxSurge: 0")),
        ("rollout maxSurge too large", rollout("maxSurge: 17")),
        ("rollout bad duration", rollout("bakeWindow: 15 min")),
        ("rollout unknown unit", rollout("bakeWindow: 2w")),
        ("rollout fractional duration", rollout("observe: 1.5m")),
        ("rollout negative duration", rollout("observe: -10s")),
        ("rollout bakeWindow too long", rollout("bakeWindow: 8d")),
        ("rollout observe too long", rollout("observe: 3601")),
        ("rollout duration as list", rollout("observe: [10s]")),
        ("not utf-8", "apiVersion: \u{0}".into()),
        (
            "tab indentation",
            BASE.replace("    keystone:", "\tkeystone:"),
        ),
    ]
}

#[test]
fn malformed_records_get_positioned_errors() {
    let mut table =
        String::from("| case | file:line:col | field | error | help |\n|---|---|---|---|---|\n");
    for (name, text) in cases() {
        let bytes = if name == "not utf-8" {
            vec![b'a', b':', b' ', 0xff, 0xfe, b'\n']
        } else {
            text.into_bytes()
        };
        let errors = parse_record("lab1.yaml", &bytes).expect_err(name);
        let e = errors.first().unwrap();
        table.push_str(&format!(
            "| {name} | {}:{}:{} | {} | {} | {} |\n",
            e.file,
            e.line,
            e.column,
            e.field,
            e.message.replace('|', "\\|"),
            e.help.clone().unwrap_or_default().replace('|', "\\|")
        ));
    }
    insta::assert_snapshot!(table);
}
