//! The record parser against hostile bytes: a property-based fuzzer that runs
//! in CI (cargo-fuzz needs a nightly toolchain, which these machines lack).
//! `ANKYRA_FUZZ_CASES` sets the number of cases per strategy (default 3000).

#![allow(clippy::unwrap_used)]

use ankyra_model::{parse_record, Record};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const SEED: &str = "apiVersion: ankyra/v1
kind: Cloud
metadata:
  name: lab1
  labels: {region: eu-west}
spec:
  release: \"2026.1\"
  hosts:
    site-b: {engine: \"tcp://192.0.2.1:2376\"}
  rollout:
    maxSurge: 2
    bakeWindow: 15m
    observe: 90
  components:
    mariadb: {}
    keystone:
      version: 29.1.0
      image: ankyra/keystone:29.1.0
      replicas: 2
      hosts: [local]
      config:
        keystone.conf:
          token: {expiration: 7200, providers: [fernet, jws]}
";

fn cases() -> u32 {
    std::env::var("ANKYRA_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

/// Parsing never panics; an error always has a position and a message; a
/// success always survives a round trip through canonical JSON and YAML.
fn check(bytes: &[u8]) {
    match parse_record("fuzz.yaml", bytes) {
        Ok(r) => {
            let back = Record::from_canonical_json(&r.canonical_json()).unwrap();
            assert_eq!(back, r);
            let yaml = r.to_yaml();
            let again = parse_record("again.yaml", yaml.as_bytes())
                .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_eq!(again, r);
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            for e in &errors.errors {
                assert!(e.line >= 1 && e.column >= 1, "{e:?}");
                assert!(!e.message.is_empty());
                assert_eq!(e.file, "fuzz.yaml");
            }
        }
    }
}

fn run<S: Strategy>(strategy: S, f: impl Fn(S::Value)) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |v| {
            f(v);
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_never_panic() {
    run(proptest::collection::vec(any::<u8>(), 0..600), |b| {
        check(&b)
    });
}

#[test]
fn mutated_records_never_panic() {
    // Byte edits of a valid record: flips, insertions and deletions at random places.
    let edit = (0usize..SEED.len(), any::<u8>(), 0u8..3);
    run(proptest::collection::vec(edit, 1..8), |edits| {
        let mut b = SEED.as_bytes().to_vec();
        for (pos, byte, op) in edits {
            let pos = pos % (b.len() + 1);
            match op {
                0 if pos < b.len() => b[pos] = byte,
                1 => b.insert(pos, byte),
                _ if pos < b.len() => {
                    b.remove(pos);
                }
                _ => {}
            }
        }
        check(&b);
    });
}

#[test]
fn yaml_token_soup_never_panics() {
    let token = prop_oneof![
        Just("\n"),
        Just("  "),
        Just(": "),
        Just("- "),
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just(", "),
        Just("&a "),
        Just("*a"),
        Just("!!str "),
        Just("\""),
        Just("'"),
        Just("|\n"),
        Just("apiVersion"),
        Just("ankyra/v1"),
        Just("spec"),
        Just("components"),
        Just("keystone"),
        Just("version"),
        Just("replicas"),
        Just("30.0.0"),
        Just("~"),
        Just("---\n"),
        Just("#"),
        Just("metadata"),
        Just("name"),
        Just("config"),
        Just("\t"),
        Just("rollout"),
        Just("maxSurge"),
        Just("bakeWindow"),
        Just("observe"),
        Just("15m"),
        Just("2h"),
        Just("0s"),
        Just("1d"),
        Just("?"),
        Just("%YAML 1.2\n"),
    ];
    run(proptest::collection::vec(token, 0..80), |tokens| {
        check(tokens.concat().as_bytes())
    });
}

#[test]
fn generated_rollout_sections_are_checked_and_round_trip() {
    // Values near and past every limit, in every unit and some that are not units.
    let unit = prop_oneof![
        Just(("", 1u64)),
        Just(("s", 1)),
        Just(("m", 60)),
        Just(("h", 3_600)),
        Just(("d", 86_400)),
        Just(("w", 0)),
        Just((" s", 0)),
        Just(("ms", 0)),
    ];
    let duration = (0u64..10_000, unit);
    let value = (
        proptest::option::of(0u32..20),
        proptest::option::of(duration.clone()),
        proptest::option::of(duration),
    );
    run(value, |(surge, bake, observe)| {
        let mut lines = String::new();
        let mut valid = true;
        if let Some(n) = surge {
            lines.push_str(&format!("    maxSurge: {n}\n"));
            valid &= (1..=16).contains(&n);
        }
        for (key, d, max) in [("bakeWindow", bake, 604_800), ("observe", observe, 3_600)] {
            if let Some((n, (unit, factor))) = d {
                lines.push_str(&format!("    {key}: \"{n}{unit}\"\n"));
                valid &= factor > 0 && n * factor <= max;
            }
        }
        let text = SEED.replace(
            "  rollout:\n    maxSurge: 2\n    bakeWindow: 15m\n    observe: 90\n",
            &format!("  rollout:\n{lines}"),
        );
        assert_eq!(
            parse_record("fuzz.yaml", text.as_bytes()).is_ok(),
            valid,
            "{lines}"
        );
        check(text.as_bytes());
    });
}

#[test]
fn the_seed_is_valid() {
    parse_record("seed.yaml", SEED.as_bytes()).unwrap();
}
