//! Versions ordered the way OpenStack (pbr, PEP 440) numbers them:
//! `27.1.0` < `28.0.0.0rc1` < `28.0.0` and `27` == `27.0.0`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A pre-release marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreRelease {
    /// `a1`
    Alpha(u64),
    /// `b1`
    Beta(u64),
    /// `rc1`
    Rc(u64),
}

/// A version number of a service or package.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    release: Vec<u64>,
    pre: Option<PreRelease>,
    dev: Option<u64>,
}

/// Why a text is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a version: {reason}; write numbers separated by dots, such as 30.0.0")]
pub struct VersionError {
    /// What was given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Version {
    /// The numeric release parts, e.g. `[27, 1, 0]`.
    pub fn release(&self) -> &[u64] {
        &self.release
    }

    /// The first number: the release series of an OpenStack service.
    pub fn major(&self) -> u64 {
        self.release.first().copied().unwrap_or(0)
    }

    /// Whether this is a pre-release or development version.
    pub fn is_pre(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `self` starts with every release part of `prefix` (`27.1` matches `27.1.3`).
    pub fn has_prefix(&self, prefix: &Version) -> bool {
        prefix.release.len() <= self.release.len()
            && prefix
                .release
                .iter()
                .zip(&self.release)
                .all(|(a, b)| a == b)
    }

    fn trimmed(&self) -> &[u64] {
        let mut end = self.release.len();
        while end > 1 && self.release[end - 1] == 0 {
            end -= 1;
        }
        &self.release[..end]
    }
}

fn split_number(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| VersionError {
            text: text.to_string(),
            reason,
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        if s.len() > 64 {
            return Err(err("it is longer than 64 characters"));
        }
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut release = Vec::new();
        let mut rest = s;
        loop {
            let (num, tail) = split_number(rest);
            if num.is_empty() {
                return Err(err("a dot must be followed by a number"));
            }
            let n: u64 = num.parse().map_err(|_| err("a number is too large"))?;
            release.push(n);
            rest = tail;
            match rest.strip_prefix('.') {
                Some(t) if t.starts_with(|c: char| c.is_ascii_digit()) => rest = t,
                Some(t) => {
                    rest = t;
                    break;
                }
                None => break,
            }
        }
        if release.len() > 6 {
            return Err(err("it has more than six numbers"));
        }
        let mut pre = None;
        let mut dev = None;
        for (tag, make) in [
            ("rc", PreRelease::Rc as fn(u64) -> PreRelease),
            ("a", PreRelease::Alpha),
            ("b", PreRelease::Beta),
        ] {
            if let Some(t) = rest.strip_prefix(tag) {
                let (num, tail) = split_number(t);
                let n = if num.is_empty() {
                    0
                } else {
                    num.parse().map_err(|_| err("a number is too large"))?
                };
                pre = Some(make(n));
                rest = tail.strip_prefix('.').unwrap_or(tail);
                break;
            }
        }
        if let Some(t) = rest.strip_prefix("dev") {
            let (num, tail) = split_number(t);
            dev = Some(if num.is_empty() {
                0
            } else {
                num.parse().map_err(|_| err("a number is too large"))?
            });
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(err(
                "it has text after the numbers that is not rc, a, b or dev",
            ));
        }
        Ok(Version {
            text: text.trim().to_string(),
            release,
            pre,
            dev,
        })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.release.len().max(other.release.len());
        for i in 0..len {
            let a = self.release.get(i).copied().unwrap_or(0);
            let b = other.release.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        // PEP 440: 1.0.dev1 < 1.0a1 < 1.0rc1 < 1.0; a dev release of a
        // pre-release sorts before that pre-release.
        let key = |v: &Version| -> (u8, Option<PreRelease>, u8, u64) {
            match (v.pre, v.dev) {
                (None, Some(d)) => (0, None, 0, d),
                (Some(p), Some(d)) => (1, Some(p), 0, d),
                (Some(p), None) => (1, Some(p), 1, 0),
                (None, None) => (2, None, 0, 0),
            }
        };
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.trimmed().hash(state);
        self.pre.hash(state);
        self.dev.hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Version {
    fn schema_name() -> String {
        "Version".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut s = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        s.string().pattern = Some(r"^v?[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]*)?(\.?dev[0-9]*)?$".into());
        s.metadata().description = Some("A version number, e.g. 30.0.0".into());
        s.into()
    }
}

/// A comparison operator in a version requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` or `=`: equal, or with fewer parts, a prefix match (`==27` matches 27.1.0)
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Splits a leading operator off `s`.
    pub fn split(s: &str) -> Option<(Op, &str)> {
        for (tok, op) in [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ] {
            if let Some(rest) = s.strip_prefix(tok) {
                return Some((op, rest));
            }
        }
        None
    }

    /// Whether `v op bound` holds.
    pub fn matches(self, v: &Version, bound: &Version) -> bool {
        match self {
            Op::Lt => v < bound,
            Op::Le => v <= bound,
            Op::Gt => v > bound,
            Op::Ge => v >= bound,
            Op::Eq => v == bound || v.has_prefix(bound),
            Op::Ne => !(v == bound || v.has_prefix(bound)),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        s.parse().expect("valid version")
    }

    #[test]
    fn orders_like_openstack() {
        let ordered = [
            "26.1.1",
            "27.0.0.0b1",
            "27.0.0.0rc1",
            "27.0.0",
            "27.0.1",
            "27.1.0",
            "28.0.0",
            "30.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("27"), v("27.0.0"));
        assert!(v("27.1.0.dev3") < v("27.1.0"));
        assert!(v("9.0.0") < v("10.0.0"));
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for bad in [
            "",
            "x",
            "1..2",
            "1.2.3-foo",
            "27.1.0zz",
            "99999999999999999999999",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn ops_match() {
        assert!(Op::Lt.matches(&v("27.0.2"), &v("27.1.0")));
        assert!(Op::Eq.matches(&v("27.1.3"), &v("27.1")));
        assert!(!Op::Eq.matches(&v("28.0.0"), &v("27")));
        assert!(Op::Ge.matches(&v("27.0.0"), &v("27")));
    }

    proptest! {
        #[test]
        fn ordering_is_consistent(a in proptest::collection::vec(0u64..40, 1..4),
                                  b in proptest::collection::vec(0u64..40, 1..4)) {
            let s = |x: &Vec<u64>| x.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
            let (va, vb) = (v(&s(&a)), v(&s(&b)));
            prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
            prop_assert_eq!(va == vb, va.cmp(&vb) == Ordering::Equal);
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = s.parse::<Version>();
        }
    }
}
