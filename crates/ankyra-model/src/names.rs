//! Names with rules, validated once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A cloud's name: it becomes part of container, network and volume names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct CloudName(String);

/// Why a text is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid name: use 1-40 lowercase letters, digits and -, starting with a letter")]
pub struct NameError {
    /// What was given.
    pub text: String,
}

/// Whether `s` is a DNS-label-like name of at most `max` characters.
pub fn is_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl CloudName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CloudName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_label(s, 40) {
            Ok(CloudName(s.to_string()))
        } else {
            Err(NameError {
                text: s.to_string(),
            })
        }
    }
}

impl fmt::Display for CloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CloudName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The first two octets of an IPv4 /16 written `a.b.0.0/16`, else `None`.
pub fn ipv4_slash16(s: &str) -> Option<(u8, u8)> {
    let net = s.strip_suffix("/16")?;
    let octets: Vec<u8> = net
        .split('.')
        .map(|o| o.parse::<u8>().ok())
        .collect::<Option<Vec<u8>>>()?;
    match octets.as_slice() {
        [a, b, 0, 0] => Some((*a, *b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_label_rules() {
        assert!("lab1".parse::<CloudName>().is_ok());
        assert!("eu-west-2".parse::<CloudName>().is_ok());
        for bad in ["", "Lab", "1lab", "lab-", "lab_1", &"a".repeat(41)] {
            assert!(bad.parse::<CloudName>().is_err(), "{bad}");
        }
    }
}
