//! Image references: `name:tag`, optionally pinned by `@sha256:` digest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A container image reference such as `ankyra/keystone:30.0.0@sha256:ab12...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Repository name, e.g. `ankyra/keystone`.
    pub name: String,
    /// Tag, e.g. `30.0.0`.
    pub tag: Option<String>,
    /// Content digest with its algorithm, e.g. `sha256:ab12...`.
    pub digest: Option<String>,
}

/// Why a text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an image reference: {reason}; write name:tag, optionally with @sha256:<64 hex digits>")]
pub struct ImageRefError {
    /// What was given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ImageRef {
    /// `name:tag` without the digest, the way local images are tagged.
    pub fn name_tag(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}", self.name),
            None => self.name.clone(),
        }
    }
}

fn valid_name(name: &str) -> bool {
    // An optional registry host (may hold a port), then lowercase path parts.
    let path = match name.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            if !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
            {
                return false;
            }
            rest
        }
        _ => name,
    };
    !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
        })
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| ImageRefError {
            text: text.to_string(),
            reason,
        };
        if text.len() > 255 {
            return Err(err("it is longer than 255 characters"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| err("the digest must start with sha256:"))?;
                if hex.len() != 64
                    || !hex
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                {
                    return Err(err("a sha256 digest has 64 lowercase hex digits"));
                }
                (r, Some(d.to_string()))
            }
            None => (text, None),
        };
        // A colon after the last slash separates the tag (a colon before it is a port).
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if !valid_name(name) {
            return Err(err(
                "the name must be lowercase letters, digits and . _ - separated by /",
            ));
        }
        if let Some(t) = &tag {
            if t.is_empty()
                || t.len() > 128
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(err("a tag is 1-128 letters, digits, . _ or -"));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(err(
                "it needs a tag or a digest, so the same record always runs the same bits",
            ));
        }
        Ok(ImageRef {
            name: name.to_string(),
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for ImageRef {
    fn schema_name() -> String {
        "ImageRef".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut s = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        s.metadata().description =
            Some("An image reference: name:tag, optionally @sha256:<digest>".into());
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_ports() {
        let d = "a".repeat(64);
        let r: ImageRef = format!("ankyra/keystone:30.0.0@sha256:{d}")
            .parse()
            .expect("valid");
        assert_eq!(r.name, "ankyra/keystone");
        assert_eq!(r.tag.as_deref(), Some("30.0.0"));
        assert_eq!(r.to_string(), format!("ankyra/keystone:30.0.0@sha256:{d}"));
        let r: ImageRef = "reg.local:5000/ankyra/nova:34.0.0".parse().expect("valid");
        assert_eq!(r.name, "reg.local:5000/ankyra/nova");
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "",
            "Keystone:1",
            "ankyra/keystone",
            "a:b@sha256:12",
            "a::b",
            "a:b c",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad} should fail");
        }
    }
}
