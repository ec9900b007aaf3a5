//! `--waves` plans: how many of the selected clouds change in each wave.
//!
//! [`Waves::parse`] reads cumulative targets such as `1,25%,100%`;
//! [`Waves::plan`] turns them into position ranges once the number of
//! selected clouds is known.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How many clouds are done by the end of a wave, counted from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaveTarget {
    /// `N`: this many clouds (at least 1); more than there are means all.
    Count(usize),
    /// `P%`: this share of the selected clouds (1 to 100), rounded up.
    Percent(u8),
}

impl WaveTarget {
    /// How many of `total` clouds this target covers: `25%` of 3 is 1
    /// (0.75 rounded up), `5` of 3 is 3.
    pub fn clouds(self, total: usize) -> usize {
        match self {
            WaveTarget::Count(n) => n.min(total),
            WaveTarget::Percent(p) => {
                let share = (u128::from(p) * total as u128).div_ceil(100);
                // At most `total`, so it fits.
                usize::try_from(share).unwrap_or(total)
            }
        }
    }
}

impl fmt::Display for WaveTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaveTarget::Count(n) => write!(f, "{n}"),
            WaveTarget::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A parsed `--waves` value: cumulative targets, the last of which should
/// cover every selected cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waves {
    targets: Vec<WaveTarget>,
}

impl Waves {
    /// `1,100%`: one canary cloud, then all the others.
    pub fn default_canary() -> Waves {
        Waves {
            targets: vec![WaveTarget::Count(1), WaveTarget::Percent(100)],
        }
    }

    /// Parses targets such as `1,25%,100%`.
    ///
    /// Checks what can be checked without the number of clouds: each count is
    /// at least 1, each percentage 1 to 100, counts grow, percentages grow,
    /// nothing follows `100%`. Whether the last target covers every cloud is
    /// checked by [`Waves::plan`].
    pub fn parse(expression: &str) -> Result<Waves, WavesError> {
        let fail = |at: usize, problem| WavesError::Invalid {
            expression: expression.to_string(),
            column: expression.get(..at).map_or(0, |s| s.chars().count()) + 1,
            problem,
        };
        if expression.trim().is_empty() {
            return Err(fail(0, WavesProblem::Empty));
        }
        let mut targets = Vec::new();
        let mut last_count: Option<usize> = None;
        let mut last_percent: Option<u8> = None;
        let mut start = 0;
        for segment in expression.split(',') {
            let token = segment.trim();
            let at = start + segment.len() - segment.trim_start().len();
            start += segment.len() + 1;
            if token.is_empty() {
                let at = start - 1;
                let found = (at < expression.len()).then(|| ",".to_string());
                return Err(fail(at, WavesProblem::EmptyTarget { found }));
            }
            if last_percent == Some(100) {
                let found = token.to_string();
                return Err(fail(at, WavesProblem::AfterAll { found }));
            }
            let target = parse_target(token).map_err(|problem| fail(at, problem))?;
            let previous = match target {
                WaveTarget::Count(n) => last_count
                    .replace(n)
                    .filter(|&prev| n <= prev)
                    .map(WaveTarget::Count),
                WaveTarget::Percent(p) => last_percent
                    .replace(p)
                    .filter(|&prev| p <= prev)
                    .map(WaveTarget::Percent),
            };
            if let Some(previous) = previous {
                let problem = WavesProblem::NotIncreasing {
                    found: token.to_string(),
                    previous: previous.to_string(),
                };
                return Err(fail(at, problem));
            }
            targets.push(target);
        }
        Ok(Waves { targets })
    }

    /// The targets, in order.
    pub fn targets(&self) -> &[WaveTarget] {
        &self.targets
    }

    /// Splits `total` selected clouds into waves: contiguous, non-empty
    /// ranges of positions that together cover `0..total` in order.
    ///
    /// A target that adds no cloud at this total is dropped: `1,25%,100%`
    /// over 3 clouds is `[0..1, 1..3]`, since 25% of 3 rounds up to 1. No
    /// clouds means no waves. Fails when the last target leaves clouds out
    /// (`50%` over 4).
    pub fn plan(&self, total: usize) -> Result<Vec<Range<usize>>, WavesError> {
        let mut waves = Vec::new();
        let mut done = 0;
        for target in &self.targets {
            let upto = target.clouds(total);
            if upto > done {
                waves.push(done..upto);
                done = upto;
            }
        }
        if done < total {
            return Err(WavesError::EndsShort {
                expression: self.to_string(),
                covered: done,
                total,
            });
        }
        Ok(waves)
    }
}

fn parse_target(token: &str) -> Result<WaveTarget, WavesProblem> {
    let (digits, percent) = match token.strip_suffix('%') {
        Some(digits) => (digits, true),
        None => (token, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let found = token.to_string();
        return Err(WavesProblem::BadTarget { found });
    }
    if percent {
        match digits.parse::<u8>() {
            Ok(p @ 1..=100) => Ok(WaveTarget::Percent(p)),
            _ => Err(WavesProblem::PercentOutOfRange {
                found: token.to_string(),
            }),
        }
    } else {
        // Only digits, so the one failure is a number too large: a count
        // that large covers every cloud, as usize::MAX does.
        match digits.parse::<usize>().unwrap_or(usize::MAX) {
            0 => Err(WavesProblem::ZeroCount),
            n => Ok(WaveTarget::Count(n)),
        }
    }
}

impl fmt::Display for Waves {
    /// The canonical form: targets joined by `,`, no spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, target) in self.targets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{target}")?;
        }
        Ok(())
    }
}

impl Default for Waves {
    /// [`Waves::default_canary`].
    fn default() -> Self {
        Waves::default_canary()
    }
}

impl FromStr for Waves {
    type Err = WavesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Waves::parse(s)
    }
}

impl Serialize for Waves {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Waves {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why `--waves` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavesError {
    /// The text does not parse.
    #[error("--waves '{expression}': column {column}: {problem}")]
    Invalid {
        /// The whole value as given.
        expression: String,
        /// 1-based column, in characters, of the target that is wrong.
        column: usize,
        /// What is wrong there and what is valid.
        problem: WavesProblem,
    },
    /// The last target leaves some of the selected clouds out.
    #[error("--waves '{expression}': waves end at {covered} of {total} clouds; end with 100%")]
    EndsShort {
        /// The waves, in canonical form.
        expression: String,
        /// How many clouds the last target covers.
        covered: usize,
        /// How many clouds were selected.
        total: usize,
    },
}

/// What is wrong at [`WavesError::Invalid`]'s column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavesProblem {
    /// Nothing but spaces was given.
    #[error("expected targets such as `1,25%,100%`, found nothing")]
    Empty,
    /// Two commas in a row, or a comma at either end.
    #[error(
        "expected a count such as `1` or a percentage such as `25%`, found {}",
        match found { Some(f) => format!("`{f}`"), None => "the end of the expression".to_string() }
    )]
    EmptyTarget {
        /// `,`, or `None` at the end of the expression.
        found: Option<String>,
    },
    /// Neither a whole number nor a whole number followed by `%`.
    #[error("expected a count such as `1` or a percentage such as `25%`, found `{found}`")]
    BadTarget {
        /// The target as written.
        found: String,
    },
    /// `0`.
    #[error("expected a count of 1 or more clouds, found `0`")]
    ZeroCount,
    /// `0%` or more than `100%`.
    #[error("expected a percentage from 1% to 100%, found `{found}`")]
    PercentOutOfRange {
        /// The target as written.
        found: String,
    },
    /// A count not above the count before it, or a percentage not above the
    /// percentage before it.
    #[error(
        "expected a target above `{previous}`, found `{found}` (each target is the number \
         of clouds done by the end of its wave, so targets grow)"
    )]
    NotIncreasing {
        /// The target as written.
        found: String,
        /// The earlier target of the same kind.
        previous: String,
    },
    /// A target after `100%`.
    #[error("expected nothing after `100%`, found `{found}` (`100%` already covers every cloud)")]
    AfterAll {
        /// The target as written.
        found: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn waves(expression: &str) -> Waves {
        Waves::parse(expression).expect("the test waves are valid")
    }

    #[test]
    // One wave is a one-element list of ranges, not a mistaken range.
    #[allow(clippy::single_range_in_vec_init)]
    fn plans_split_the_selected_clouds_into_growing_waves() {
        let table: &[(&str, usize, &[Range<usize>])] = &[
            ("1,100%", 3, &[0..1, 1..3]),
            ("1,25%,100%", 3, &[0..1, 1..3]),
            ("1,25%,100%", 8, &[0..1, 1..2, 2..8]),
            ("1,25%,100%", 100, &[0..1, 1..25, 25..100]),
            ("1,25%,100%", 1, &[0..1]),
            ("100%", 4, &[0..4]),
            ("100%", 0, &[]),
            ("1,100%", 0, &[]),
            ("2,10", 5, &[0..2, 2..5]),
            ("1,5", 5, &[0..1, 1..5]),
            (" 1 , 50% ,100%", 4, &[0..1, 1..2, 2..4]),
            ("50%", 1, &[0..1]),
            ("1,1%,100%", 300, &[0..1, 1..3, 3..300]),
            ("99999999999999999999999", 7, &[0..7]),
        ];
        for (expression, total, expected) in table {
            assert_eq!(
                waves(expression).plan(*total).as_deref(),
                Ok(*expected),
                "{expression} over {total}"
            );
        }
    }

    #[test]
    fn waves_that_leave_clouds_out_are_refused_with_how_far_they_reach() {
        let table = [
            (
                "50%",
                4,
                "--waves '50%': waves end at 2 of 4 clouds; end with 100%",
            ),
            (
                "1,3",
                4,
                "--waves '1,3': waves end at 3 of 4 clouds; end with 100%",
            ),
            (
                "1, 99%",
                200,
                "--waves '1,99%': waves end at 198 of 200 clouds; end with 100%",
            ),
        ];
        for (expression, total, message) in table {
            let e = waves(expression).plan(total).expect_err("ends short");
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn bad_waves_say_where_and_what_is_valid() {
        let table = [
            (
                "",
                "--waves '': column 1: expected targets such as `1,25%,100%`, found nothing",
            ),
            (
                "0",
                "--waves '0': column 1: expected a count of 1 or more clouds, found `0`",
            ),
            (
                "1,0%",
                "--waves '1,0%': column 3: expected a percentage from 1% to 100%, found `0%`",
            ),
            (
                "101%",
                "--waves '101%': column 1: expected a percentage from 1% to 100%, found `101%`",
            ),
            (
                "1,1000%",
                "--waves '1,1000%': column 3: expected a percentage from 1% to 100%, \
                 found `1000%`",
            ),
            (
                "2,1",
                "--waves '2,1': column 3: expected a target above `2`, found `1` (each target \
                 is the number of clouds done by the end of its wave, so targets grow)",
            ),
            (
                "2,50%,2",
                "--waves '2,50%,2': column 7: expected a target above `2`, found `2` (each \
                 target is the number of clouds done by the end of its wave, so targets grow)",
            ),
            (
                "50%,25%",
                "--waves '50%,25%': column 5: expected a target above `50%`, found `25%` (each \
                 target is the number of clouds done by the end of its wave, so targets grow)",
            ),
            (
                "1,100%,5",
                "--waves '1,100%,5': column 8: expected nothing after `100%`, found `5` \
                 (`100%` already covers every cloud)",
            ),
            (
                "1,,100%",
                "--waves '1,,100%': column 3: expected a count such as `1` or a percentage such \
                 as `25%`, found `,`",
            ),
            (
                "1,",
                "--waves '1,': column 3: expected a count such as `1` or a percentage such as \
                 `25%`, found the end of the expression",
            ),
            (
                "1, 12.5%",
                "--waves '1, 12.5%': column 4: expected a count such as `1` or a percentage \
                 such as `25%`, found `12.5%`",
            ),
            (
                "1,half",
                "--waves '1,half': column 3: expected a count such as `1` or a percentage such \
                 as `25%`, found `half`",
            ),
            (
                "-1",
                "--waves '-1': column 1: expected a count such as `1` or a percentage such as \
                 `25%`, found `-1`",
            ),
        ];
        for (expression, message) in table {
            let e = Waves::parse(expression).expect_err("invalid");
            assert_eq!(e.to_string(), message, "{expression}");
        }
    }

    #[test]
    fn the_default_is_one_canary_then_the_rest() {
        assert_eq!(Waves::default_canary(), waves("1,100%"));
        assert_eq!(Waves::default(), Waves::default_canary());
        assert_eq!(Waves::default_canary().to_string(), "1,100%");
    }

    #[test]
    fn waves_serialize_as_their_canonical_text() {
        let w = waves(" 1, 25% ,100%");
        let json = serde_json::to_string(&w).expect("serializes");
        assert_eq!(json, r#""1,25%,100%""#);
        assert_eq!(
            serde_json::from_str::<Waves>(&json).expect("deserializes"),
            w
        );
        assert!(serde_json::from_str::<Waves>(r#""2,1""#).is_err());
    }

    fn target() -> impl Strategy<Value = String> {
        prop_oneof![
            (1usize..40).prop_map(|n| n.to_string()),
            (1u8..=100).prop_map(|p| format!("{p}%")),
        ]
    }

    proptest! {
        #[test]
        fn planned_waves_are_contiguous_non_empty_and_cover_every_cloud_in_order(
            targets in proptest::collection::vec(target(), 0..6),
            total in 0usize..500,
        ) {
            let mut text = targets.join(",");
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str("100%");
            // Random targets may not grow; only valid ones are planned.
            let Ok(w) = Waves::parse(&text) else { return Ok(()) };
            let plan = w.plan(total).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut next = 0;
            for wave in &plan {
                prop_assert_eq!(wave.start, next);
                prop_assert!(wave.end > wave.start, "empty wave in {:?}", plan);
                next = wave.end;
            }
            prop_assert_eq!(next, total);
            prop_assert!(plan.len() <= w.targets().len());
        }

        #[test]
        fn any_plan_either_covers_every_cloud_or_says_how_far_it_reaches(
            targets in proptest::collection::vec(target(), 1..6),
            total in 0usize..500,
        ) {
            let Ok(w) = Waves::parse(&targets.join(",")) else { return Ok(()) };
            match w.plan(total) {
                Ok(plan) => {
                    prop_assert_eq!(plan.last().map_or(0, |r| r.end), total);
                    prop_assert!(plan.windows(2).all(|p| p[0].end == p[1].start));
                }
                Err(WavesError::EndsShort { covered, total: t, .. }) => {
                    prop_assert_eq!(t, total);
                    prop_assert!(covered < total);
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        #[test]
        fn parsing_never_panics(s in ".{0,30}") {
            let _ = Waves::parse(&s);
        }
    }
}
