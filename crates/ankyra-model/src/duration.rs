//! Durations as a record writes them: `90` (seconds), `90s`, `15m`, `2h`, `1d`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A whole number of seconds. Written as a number with an optional unit
/// (`90`, `90s`, `15m`, `2h`, `1d`); shown and serialized in the largest unit
/// that is exact (`900` → `15m`), so equal durations have one canonical form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds(pub u64);

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration: {reason}")]
pub struct DurationError {
    /// What was given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

impl Seconds {
    /// No time at all.
    pub const ZERO: Seconds = Seconds(0);

    /// A number of minutes.
    pub const fn minutes(n: u64) -> Seconds {
        Seconds(n * 60)
    }

    /// A number of hours.
    pub const fn hours(n: u64) -> Seconds {
        Seconds(n * 3_600)
    }

    /// A number of days.
    pub const fn days(n: u64) -> Seconds {
        Seconds(n * 86_400)
    }

    /// The number of seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// As a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl From<Seconds> for Duration {
    fn from(s: Seconds) -> Duration {
        s.as_duration()
    }
}

impl FromStr for Seconds {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            text: text.to_string(),
            reason,
        };
        let (digits, unit) = match text.char_indices().last() {
            None => return Err(err("it is empty")),
            Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], Some(c)),
            Some(_) => (text, None),
        };
        if digits.is_empty() {
            return Err(err("it has no number"));
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("it is not a whole number with one unit"));
        }
        let factor = match unit {
            None => 1,
            Some(u) => match UNITS.iter().find(|(c, _)| *c == u) {
                Some((_, f)) => *f,
                None => return Err(err("the unit is not s, m, h or d")),
            },
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .map(Seconds)
            .ok_or_else(|| err("it is too long"))
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, factor) = UNITS
            .iter()
            .copied()
            .find(|(_, factor)| self.0 != 0 && self.0.checked_rem(*factor) == Some(0))
            .unwrap_or(('s', 1));
        write!(f, "{}{unit}", self.0 / factor)
    }
}

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration: a whole number of seconds, or one with a unit s, m, h or d",
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Seconds, E> {
                Ok(Seconds(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Seconds, E> {
                u64::try_from(v)
                    .map(Seconds)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Seconds, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl schemars::JsonSchema for Seconds {
    fn schema_name() -> String {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        use schemars::schema::{InstanceType, NumberValidation, SchemaObject, StringValidation};
        let mut s = SchemaObject {
            instance_type: Some(vec![InstanceType::Integer, InstanceType::String].into()),
            number: Some(Box::new(NumberValidation {
                minimum: Some(0.0),
                ..Default::default()
            })),
            string: Some(Box::new(StringValidation {
                pattern: Some("^[0-9]+[smhd]?$".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        s.metadata().description = Some(
            "A duration: whole seconds (`90`) or a number with one unit: `90s`, `15m`, `2h`, `1d`"
                .into(),
        );
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_units() {
        for (text, secs) in [
            ("0", 0),
            ("90", 90),
            ("90s", 90),
            ("15m", 900),
            ("2h", 7_200),
            ("1d", 86_400),
            ("0s", 0),
            ("007m", 420),
        ] {
            assert_eq!(text.parse::<Seconds>(), Ok(Seconds(secs)), "{text}");
        }
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "s",
            "-5",
            "+5",
            "1.5h",
            "15 m",
            " 15m",
            "15m ",
            "15M",
            "1w",
            "1h30m",
            "1e3",
            "0x10",
            "1_000",
            "15min",
            "ms",
            "10ms",
            "99999999999999999999",
            "18446744073709551615d",
        ] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn shows_the_largest_exact_unit() {
        for (secs, text) in [
            (0, "0s"),
            (1, "1s"),
            (90, "90s"),
            (120, "2m"),
            (900, "15m"),
            (3_600, "1h"),
            (5_400, "90m"),
            (86_400, "1d"),
            (604_800, "7d"),
            (u64::MAX, "18446744073709551615s"),
        ] {
            assert_eq!(Seconds(secs).to_string(), text);
            assert_eq!(text.parse::<Seconds>(), Ok(Seconds(secs)));
        }
    }

    #[test]
    fn json_round_trips_and_accepts_numbers() {
        let json = serde_json::to_string(&Seconds(900)).unwrap_or_default();
        assert_eq!(json, "\"15m\"");
        let back: Result<Seconds, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(Seconds(900)));
        let n: Result<Seconds, _> = serde_json::from_str("90");
        assert_eq!(n.ok(), Some(Seconds(90)));
        assert!(serde_json::from_str::<Seconds>("-1").is_err());
        assert!(serde_json::from_str::<Seconds>("\"15 min\"").is_err());
        assert!(serde_json::from_str::<Seconds>("1.5").is_err());
    }
}
