use super::*;
use proptest::prelude::*;

fn cloud(versions: &[(&str, &str)], labels: &[(&str, &str)]) -> CloudFacts {
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    CloudFacts {
        labels: map(labels),
        versions: map(versions),
    }
}

fn selector(expression: &str) -> Selector {
    Selector::parse(expression).expect("the test expression is valid")
}

fn error(expression: &str) -> String {
    match Selector::parse(expression) {
        Ok(s) => panic!("`{expression}` parsed as `{s}`, expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn component_terms_compare_versions_as_openstack_orders_them() {
    // (expression, running version, expected)
    let table = [
        ("keystone<27.1.0", "27.0.2", true),
        ("keystone<27.1.0", "27.1.0", false),
        ("keystone<27.1.0", "29.1.0", false),
        ("keystone<27.1.0", "27.1.0.0rc1", true),
        // A term that starts with an operator takes the key before it.
        ("keystone>=27,<30.0.1", "27.0.2", true),
        ("keystone>=27,<30.0.1", "30.0.0", true),
        ("keystone>=27,<30.0.1", "30.0.1", false),
        ("keystone>=27,<30.0.1", "26.9.9", false),
        ("keystone>=27, < 30.0.1", "29.1.0", true),
        ("keystone>=27,keystone<30.0.1", "27.0.2", true),
        ("keystone>=27,keystone<30.0.1", "30.0.0", true),
        ("keystone>=27,keystone<30.0.1", "30.0.1", false),
        ("keystone>=27,keystone<30.0.1", "26.9.9", false),
        ("keystone<=27.1.0", "27.1.0", true),
        ("keystone>27.1.0", "27.1.0", false),
        ("keystone>27.1.0", "27.1.1", true),
        ("keystone!=27.1.0", "27.1.0", false),
        ("keystone!=27.1.0", "27.1.1", true),
        ("keystone=27.1.0", "27.1", true),
        ("keystone==27.1.0", "27.1.0", true),
        ("keystone=27.1.0", "27.1.0.0rc1", false),
        ("keystone=v27.1.0", "27.1.0", true),
    ];
    for (expression, running, expected) in table {
        let facts = cloud(&[("keystone", running)], &[]);
        assert_eq!(
            Selector::parse(expression).map(|s| s.matches(&facts)),
            Ok(expected),
            "{expression} against keystone {running}"
        );
    }
}

#[test]
fn a_bound_with_fewer_numbers_names_a_whole_series() {
    let table = [
        ("keystone>=27", "27.0.2", true),
        ("keystone>=27", "27.0.0", true),
        ("keystone>=27", "26.9.9", false),
        ("keystone<28", "27.9.9", true),
        ("keystone<28", "28.0.0", false),
        ("keystone<28", "28.0.1", false),
        ("keystone<=27", "27.9.9", true),
        ("keystone<=27", "28.0.0", false),
        ("keystone>27", "27.9.9", false),
        ("keystone>27", "28.0.0", true),
        ("keystone=27.1", "27.1.0", true),
        ("keystone=27.1", "27.1.3", true),
        ("keystone=27.1", "27.2.0", false),
        ("keystone!=27.1", "27.1.3", false),
        ("keystone=27", "28.0.0", false),
        ("keystone=27.0", "27.0.2", true),
        // A pre-release of the series' first release comes before it (PEP 440).
        ("keystone<28", "28.0.0.0rc1", true),
        ("keystone>=28", "28.0.0.0rc1", false),
        ("keystone=28", "28.0.0.0rc1", false),
        // A pre-release later in the series is inside it.
        ("keystone=27.1", "27.1.5.0rc1", true),
        // A bound with a pre-release marker compares in full.
        ("keystone<28.0.0rc2", "28.0.0.0rc1", true),
        ("keystone<28.0.0rc2", "28.0.0", false),
        ("keystone>=28.0.0rc1", "28.0.0", true),
    ];
    for (expression, running, expected) in table {
        let facts = cloud(&[("keystone", running)], &[]);
        assert_eq!(
            selector(expression).matches(&facts),
            expected,
            "{expression} against keystone {running}"
        );
    }
}

#[test]
fn an_image_reference_never_matches_an_ordering_term_and_equals_only_itself() {
    let image = "ankyra/keystone@sha256:0123abcd";
    let facts = cloud(&[("keystone", image)], &[]);
    let table = [
        ("keystone<99", false),
        ("keystone>=0", false),
        ("keystone>0", false),
        ("keystone=27", false),
        ("keystone!=27", true),
        ("keystone=ankyra/keystone@sha256:0123abcd", true),
        ("keystone!=ankyra/keystone@sha256:0123abcd", false),
        ("keystone=ankyra/keystone@sha256:ffff", false),
    ];
    for (expression, expected) in table {
        assert_eq!(
            selector(expression).matches(&facts),
            expected,
            "{expression}"
        );
    }
}

#[test]
fn label_terms_compare_text() {
    let eu = cloud(&[("keystone", "27.0.2")], &[("region", "eu-west")]);
    let us = cloud(&[("keystone", "27.0.2")], &[("region", "us-east")]);
    let table = [
        ("region=eu-west", true, false),
        ("region==eu-west", true, false),
        ("region!=eu-west", false, true),
        ("region=eu", false, false),
        // Labels have no order.
        ("region<99", false, false),
        ("region>=0", false, false),
        ("keystone<27.1.0,region=eu-west", true, false),
        ("keystone<27.1.0,region!=eu-west", false, true),
        ("keystone>=27.1.0,region=eu-west", false, false),
        (" keystone < 27.1.0 , region = eu-west ", true, false),
    ];
    for (expression, on_eu, on_us) in table {
        let s = selector(expression);
        assert_eq!(s.matches(&eu), on_eu, "{expression} on eu-west");
        assert_eq!(s.matches(&us), on_us, "{expression} on us-east");
    }
}

#[test]
fn an_absent_key_satisfies_only_not_equal() {
    let facts = cloud(&[("keystone", "27.0.2")], &[("region", "eu-west")]);
    let table = [
        ("nova<30", false),
        ("nova>=0", false),
        ("nova=29.1.0", false),
        ("nova!=29.1.0", true),
        ("tier=gold", false),
        ("tier!=gold", true),
        ("keystone<27.1.0,tier!=gold", true),
        ("keystone<27.1.0,tier=gold", false),
    ];
    for (expression, expected) in table {
        assert_eq!(
            selector(expression).matches(&facts),
            expected,
            "{expression}"
        );
    }
}

#[test]
fn a_key_that_is_both_a_component_and_a_label_is_the_component() {
    let facts = cloud(&[("keystone", "27.0.2")], &[("keystone", "legacy")]);
    assert!(selector("keystone<28").matches(&facts));
    assert!(!selector("keystone=legacy").matches(&facts));
    assert!(selector("keystone!=legacy").matches(&facts));
}

#[test]
fn keys_may_hold_dots_slashes_dashes_and_underscores() {
    let facts = cloud(&[], &[("ankyra.io/tier_name-x", "gold")]);
    assert!(selector("ankyra.io/tier_name-x=gold").matches(&facts));
    assert!(selector("0tier!=gold").matches(&facts));
}

#[test]
fn bad_expressions_say_where_and_what_is_valid() {
    let table = [
        (
            "keystone<<27",
            "--where 'keystone<<27': column 10: expected a version after `<`, found `<27` \
             (a version is like 27.1.0)",
        ),
        (
            "",
            "--where '': column 1: expected terms such as `keystone<27.1.0,region=eu-west`, \
             found nothing",
        ),
        (
            "   ",
            "--where '   ': column 1: expected terms such as `keystone<27.1.0,region=eu-west`, \
             found nothing",
        ),
        (
            "a=b,,c=d",
            "--where 'a=b,,c=d': column 5: expected a term such as `region=eu-west`, found `,`",
        ),
        (
            "a=b, ,c=d",
            "--where 'a=b, ,c=d': column 6: expected a term such as `region=eu-west`, found `,`",
        ),
        (
            ",a=b",
            "--where ',a=b': column 1: expected a term such as `region=eu-west`, found `,`",
        ),
        (
            "a=b,",
            "--where 'a=b,': column 5: expected a term such as `region=eu-west`, \
             found the end of the expression",
        ),
        (
            "=eu-west",
            "--where '=eu-west': column 1: expected a key such as `keystone` or `region`, \
             found `=eu-west`",
        ),
        (
            "a=b, regIon=eu",
            "--where 'a=b, regIon=eu': column 9: expected a key such as `keystone` or `region`, \
             found `regIon` (a key is lowercase letters, digits, `.`, `_`, `/` and `-`, and \
             starts with a letter or digit)",
        ),
        (
            "-region=eu",
            "--where '-region=eu': column 1: expected a key such as `keystone` or `region`, \
             found `-region` (a key is lowercase letters, digits, `.`, `_`, `/` and `-`, and \
             starts with a letter or digit)",
        ),
        (
            "region",
            "--where 'region': column 7: expected an operator (=, !=, <, <=, >, >=) after \
             `region`, found the end of the term",
        ),
        (
            "region eu-west",
            "--where 'region eu-west': column 8: expected an operator (=, !=, <, <=, >, >=) \
             after `region`, found `eu-west`",
        ),
        (
            "keystone!27",
            "--where 'keystone!27': column 9: expected an operator (=, !=, <, <=, >, >=) after \
             `keystone`, found `!27`",
        ),
        (
            "region=",
            "--where 'region=': column 8: expected a value after `=`, found the end of the term",
        ),
        (
            "keystone>= ,region=eu",
            "--where 'keystone>= ,region=eu': column 12: expected a version after `>=`, found \
             the end of the term (a version is like 27.1.0)",
        ),
        (
            "keystone<latest",
            "--where 'keystone<latest': column 10: expected a version after `<`, found `latest` \
             (a version is like 27.1.0)",
        ),
        (
            "region=<eu",
            "--where 'region=<eu': column 8: expected a value after `=`, found `<eu` (a value \
             cannot start with `=`, `!`, `<` or `>`)",
        ),
        (
            "region=eu west",
            "--where 'region=eu west': column 11: expected `,` after `eu`, found `west` (a value \
             cannot contain spaces)",
        ),
        // Columns count characters, not bytes.
        (
            "zone=zürich,région=x",
            "--where 'zone=zürich,région=x': column 14: expected a key such as `keystone` or \
             `region`, found `région` (a key is lowercase letters, digits, `.`, `_`, `/` and \
             `-`, and starts with a letter or digit)",
        ),
    ];
    for (expression, message) in table {
        assert_eq!(error(expression), message, "{expression}");
    }
}

#[test]
fn errors_carry_the_term_and_the_version_error_as_their_source() {
    let e = Selector::parse("region=eu, keystone<<27").expect_err("bad version");
    assert_eq!(e.column, 21);
    assert_eq!(e.term, "keystone<<27");
    let source = std::error::Error::source(&e).expect("the version error is the source");
    assert!(
        source.to_string().starts_with("`<27` is not a version"),
        "{source}"
    );
}

#[test]
fn components_are_the_keys_with_ordering_operators_once_each() {
    let s = selector("keystone>=27,region=eu,nova<30,keystone<30.0.1,glance=29.0.0");
    assert_eq!(s.components(), vec!["keystone", "nova"]);
    assert!(selector("region=eu").components().is_empty());
}

#[test]
fn display_is_the_canonical_form() {
    let table = [
        (
            " keystone >= 27 , region == eu-west ",
            "keystone>=27,region=eu-west",
        ),
        ("keystone<27.1.0", "keystone<27.1.0"),
        ("a!=b,c<=1,d>2", "a!=b,c<=1,d>2"),
        ("keystone>=27,<30.0.1", "keystone>=27,keystone<30.0.1"),
    ];
    for (expression, canonical) in table {
        assert_eq!(selector(expression).to_string(), canonical);
    }
}

#[test]
fn selectors_serialize_as_their_canonical_text() {
    let s = selector("keystone >= 27, region=eu");
    let json = serde_json::to_string(&s).expect("serializes");
    assert_eq!(json, r#""keystone>=27,region=eu""#);
    let back: Selector = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, s);
    assert!(serde_json::from_str::<Selector>(r#""keystone<<27""#).is_err());
}

proptest! {
    #[test]
    fn parsing_never_panics(s in ".{0,40}") {
        let _ = Selector::parse(&s);
    }

    #[test]
    fn errors_point_inside_the_expression(s in "[a-z0-9 ,=!<>._-]{0,30}") {
        if let Err(e) = Selector::parse(&s) {
            prop_assert!(e.column >= 1 && e.column <= s.chars().count() + 1, "{e}");
        }
    }

    #[test]
    fn the_canonical_form_parses_back_to_the_same_selector(
        terms in proptest::collection::vec(
            ("[a-z][a-z0-9._/-]{0,8}", 0usize..6, "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}|[a-z][a-z0-9-]{0,6}"),
            1..5,
        ),
        spaces in " {0,2}",
    ) {
        let ops = ["=", "!=", "<", "<=", ">", ">="];
        let text = terms
            .iter()
            .map(|(key, op, value)| {
                // Ordering operators need a version.
                let value = if *op >= 2 && value.parse::<Version>().is_err() { "1" } else { value };
                format!("{spaces}{key}{spaces}{}{spaces}{value}{spaces}", ops[*op])
            })
            .collect::<Vec<_>>()
            .join(",");
        let parsed = Selector::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = Selector::parse(&parsed.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &parsed);
        prop_assert_eq!(again.to_string(), parsed.to_string());
    }
}
