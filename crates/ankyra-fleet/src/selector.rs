//! `--where` selectors: which clouds of the fleet a command acts on.
//!
//! The language is described in the crate documentation; this module parses
//! it ([`Selector::parse`]) and evaluates it against one cloud's
//! [`CloudFacts`] ([`Selector::matches`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ankyra_model::{Op, Version, VersionError};
use serde::{Deserialize, Serialize};

/// What a selector is evaluated against: one cloud's labels and the version
/// each of its components runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudFacts {
    /// The cloud's labels, e.g. `region` → `eu-west`.
    pub labels: BTreeMap<String, String>,
    /// The version each component runs, as the record states it:
    /// `keystone` → `27.1.0`, or an image reference when the record pins one.
    pub versions: BTreeMap<String, String>,
}

/// A parsed `--where` expression: terms that must all hold.
///
/// Parse with [`Selector::parse`] (or `str::parse`); [`fmt::Display`] gives
/// the canonical form, which parses back to the same selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    terms: Vec<Term>,
}

/// One `KEY OP VALUE` term of a [`Selector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    key: String,
    op: Op,
    value: String,
    /// `value` as a version: always set for ordering operators, set for `=`
    /// and `!=` when the value reads as one.
    version: Option<Version>,
}

impl Selector {
    /// Parses a `--where` expression such as `keystone<27.1.0,region=eu-west`.
    ///
    /// Errors name the column (1-based, in characters) and what was expected.
    pub fn parse(expression: &str) -> Result<Selector, SelectorError> {
        let fail = |at: usize, term: &str, problem| SelectorError {
            expression: expression.to_string(),
            column: column(expression, at),
            term: term.trim().to_string(),
            problem,
        };
        if expression.trim().is_empty() {
            return Err(fail(0, "", SelectorProblem::Empty));
        }
        let mut terms: Vec<Term> = Vec::new();
        let mut start = 0;
        for segment in expression.split(',') {
            if segment.trim().is_empty() {
                let at = start + segment.len();
                let found = (at < expression.len()).then(|| ",".to_string());
                return Err(fail(at, segment, SelectorProblem::EmptyTerm { found }));
            }
            let previous = terms.last().map(|t| t.key.as_str());
            let term = Term::parse(segment, previous)
                .map_err(|(at, problem)| fail(start + at, segment, problem))?;
            terms.push(term);
            start += segment.len() + 1;
        }
        Ok(Selector { terms })
    }

    /// Whether every term holds for this cloud.
    pub fn matches(&self, facts: &CloudFacts) -> bool {
        self.terms.iter().all(|term| term.matches(facts))
    }

    /// The keys compared with an ordering operator (`<`, `<=`, `>`, `>=`),
    /// once each in order of first use: the components a listing should show.
    pub fn components(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for term in &self.terms {
            if is_ordering(term.op) && !keys.contains(&term.key.as_str()) {
                keys.push(&term.key);
            }
        }
        keys
    }

    /// The terms, in the order written.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }
}

impl Term {
    /// The key: a component or a label name.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator (`==` and `=` are both [`Op::Eq`]).
    pub fn op(&self) -> Op {
        self.op
    }

    /// The value as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether this term holds for this cloud.
    ///
    /// A key the cloud has a version for is a component (even if a label has
    /// the same name); otherwise a key the cloud has a label for is a label;
    /// otherwise the key is absent and only `!=` holds.
    pub fn matches(&self, facts: &CloudFacts) -> bool {
        if let Some(running) = facts.versions.get(&self.key) {
            return self.matches_component(running);
        }
        match facts.labels.get(&self.key) {
            Some(label) => match self.op {
                Op::Eq => *label == self.value,
                Op::Ne => *label != self.value,
                // Labels are text, not versions: they have no order.
                Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
            },
            None => self.op == Op::Ne,
        }
    }

    fn matches_component(&self, running: &str) -> bool {
        match (&self.version, running.parse::<Version>()) {
            (Some(bound), Ok(version)) => {
                let order = compare(&version, bound);
                match self.op {
                    Op::Lt => order.is_lt(),
                    Op::Le => order.is_le(),
                    Op::Gt => order.is_gt(),
                    Op::Ge => order.is_ge(),
                    Op::Eq => order.is_eq(),
                    Op::Ne => order.is_ne(),
                }
            }
            // An image reference (or a value that is not a version): only
            // exact text equality means anything.
            _ => match self.op {
                Op::Eq => running == self.value,
                Op::Ne => running != self.value,
                Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
            },
        }
    }

    /// Parses one term; errors carry a byte offset into `text`. A term that
    /// starts with an operator takes `previous`, the key of the term before.
    fn parse(text: &str, previous: Option<&str>) -> Result<Term, (usize, SelectorProblem)> {
        let key_at = leading_space(text);
        let rest = &text[key_at..];
        let key_len = rest
            .find(|c: char| c.is_whitespace() || "=!<>".contains(c))
            .unwrap_or(rest.len());
        let key = match (&rest[..key_len], previous) {
            ("", Some(previous)) if rest.starts_with(['=', '!', '<', '>']) => previous,
            (key, _) => key,
        };
        if key.is_empty() {
            let found = rest.trim_end().to_string();
            return Err((key_at, SelectorProblem::MissingKey { found }));
        }
        if let Some((i, _)) = key.char_indices().find(|&(i, c)| !is_key_char(c, i == 0)) {
            let key = key.to_string();
            return Err((key_at + i, SelectorProblem::BadKey { key }));
        }

        let op_at = key_at + key_len + leading_space(&rest[key_len..]);
        let op_text = &text[op_at..];
        let Some((op, after_op)) = Op::split(op_text) else {
            let found = nonempty(op_text.trim_end());
            let key = key.to_string();
            return Err((op_at, SelectorProblem::MissingOperator { key, found }));
        };
        let op_token = op_text[..op_text.len() - after_op.len()].to_string();

        let value_at = op_at + op_token.len() + leading_space(after_op);
        let value_text = &text[value_at..];
        let value_len = value_text
            .find(char::is_whitespace)
            .unwrap_or(value_text.len());
        let value = &value_text[..value_len];
        if value.is_empty() {
            let version = is_ordering(op);
            return Err((
                value_at,
                SelectorProblem::MissingValue {
                    op: op_token,
                    version,
                },
            ));
        }
        let version = if is_ordering(op) {
            match value.parse::<Version>() {
                Ok(v) => Some(v),
                Err(source) => {
                    let source = Box::new(source);
                    let found = value.to_string();
                    let problem = SelectorProblem::BadVersion {
                        op: op_token,
                        found,
                        source,
                    };
                    return Err((value_at, problem));
                }
            }
        } else if value.starts_with(['=', '!', '<', '>']) {
            let found = value.to_string();
            return Err((
                value_at,
                SelectorProblem::BadValue {
                    op: op_token,
                    found,
                },
            ));
        } else {
            value.parse::<Version>().ok()
        };

        let tail = &value_text[value_len..];
        let tail_at = value_at + value_len + leading_space(tail);
        if tail_at < text.len() {
            let problem = SelectorProblem::TrailingText {
                value: value.to_string(),
                found: text[tail_at..].trim_end().to_string(),
            };
            return Err((tail_at, problem));
        }
        Ok(Term {
            key: key.to_string(),
            op,
            value: value.to_string(),
            version,
        })
    }
}

/// Compares a running version with a bound, reading the bound as a prefix.
///
/// A bound names every version that starts with its numbers: `27` is the 27
/// series, so 27.0.2 and 27.9.9 compare equal to it and `>27` starts at 28.
/// The one exception is a pre-release of the bound's own first release
/// (27.0.0.0rc1 for `27`), which sorts before it as PEP 440 says. A bound with
/// a pre-release marker (`28.0.0rc2`) is compared in full.
fn compare(version: &Version, bound: &Version) -> Ordering {
    if bound.is_pre() {
        return version.cmp(bound);
    }
    let release = version.release();
    for (i, b) in bound.release().iter().enumerate() {
        let a = release.get(i).copied().unwrap_or(0);
        match a.cmp(b) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    let beyond = release.get(bound.release().len()..).unwrap_or(&[]);
    if beyond.iter().any(|&n| n != 0) {
        // 27.0.2 against `27`: inside the series the bound names.
        return Ordering::Equal;
    }
    // The same numbers: only pre-release and dev markers can differ.
    version.cmp(bound)
}

fn is_ordering(op: Op) -> bool {
    matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge)
}

fn is_key_char(c: char, first: bool) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || (!first && matches!(c, '.' | '_' | '/' | '-'))
}

fn leading_space(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The 1-based column, in characters, of byte offset `at`.
fn column(text: &str, at: usize) -> usize {
    text.get(..at).map_or(0, |s| s.chars().count()) + 1
}

/// The operator as the canonical form writes it: `=` rather than `==`.
fn op_text(op: Op) -> &'static str {
    match op {
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Eq => "=",
        Op::Ne => "!=",
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.key, op_text(self.op), self.value)
    }
}

impl fmt::Display for Selector {
    /// The canonical form: no spaces, `=` for equality, terms joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{term}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl Serialize for Selector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a `--where` expression does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// The whole expression as given.
    pub expression: String,
    /// 1-based column, in characters, of the first character that is wrong.
    pub column: usize,
    /// The term the column falls in, trimmed (empty for an empty term).
    pub term: String,
    /// What is wrong there and what is valid.
    pub problem: SelectorProblem,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--where '{}': column {}: {}",
            self.expression, self.column, self.problem
        )
    }
}

impl std::error::Error for SelectorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The problem is this error's own message; its cause, if any, is next.
        std::error::Error::source(&self.problem)
    }
}

/// What is wrong at [`SelectorError::column`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorProblem {
    /// Nothing but spaces was given.
    #[error("expected terms such as `keystone<27.1.0,region=eu-west`, found nothing")]
    Empty,
    /// Two commas in a row, or a comma at either end.
    #[error(
        "expected a term such as `region=eu-west`, found {}",
        quoted_or(found, "the end of the expression")
    )]
    EmptyTerm {
        /// `,`, or `None` at the end of the expression.
        found: Option<String>,
    },
    /// The term starts with something other than a key.
    #[error("expected a key such as `keystone` or `region`, found `{found}`")]
    MissingKey {
        /// The rest of the term.
        found: String,
    },
    /// The key has a character keys cannot have (the column points at it).
    #[error(
        "expected a key such as `keystone` or `region`, found `{key}` (a key is lowercase \
         letters, digits, `.`, `_`, `/` and `-`, and starts with a letter or digit)"
    )]
    BadKey {
        /// The key as written.
        key: String,
    },
    /// No operator after the key.
    #[error(
        "expected an operator (=, !=, <, <=, >, >=) after `{key}`, found {}",
        quoted_or(found, "the end of the term")
    )]
    MissingOperator {
        /// The key before the missing operator.
        key: String,
        /// What follows the key, `None` at the end of the term.
        found: Option<String>,
    },
    /// Nothing after the operator.
    #[error(
        "expected {} after `{op}`, found the end of the term{}",
        if *version { "a version" } else { "a value" },
        if *version { " (a version is like 27.1.0)" } else { "" }
    )]
    MissingValue {
        /// The operator as written.
        op: String,
        /// Whether the operator orders, so the value must be a version.
        version: bool,
    },
    /// An ordering operator followed by something that is not a version.
    #[error("expected a version after `{op}`, found `{found}` (a version is like 27.1.0)")]
    BadVersion {
        /// The operator as written.
        op: String,
        /// The value as written.
        found: String,
        /// Why it is not a version (boxed to keep results small).
        #[source]
        source: Box<VersionError>,
    },
    /// `=` or `!=` followed by another operator character, as in `region=<eu`.
    #[error(
        "expected a value after `{op}`, found `{found}` (a value cannot start with `=`, `!`, `<` or `>`)"
    )]
    BadValue {
        /// The operator as written.
        op: String,
        /// The value as written.
        found: String,
    },
    /// More text after the value, before the next comma.
    #[error("expected `,` after `{value}`, found `{found}` (a value cannot contain spaces)")]
    TrailingText {
        /// The value before the extra text.
        value: String,
        /// The extra text.
        found: String,
    },
}

fn quoted_or(found: &Option<String>, otherwise: &str) -> String {
    match found {
        Some(text) => format!("`{text}`"),
        None => otherwise.to_string(),
    }
}

#[cfg(test)]
mod tests;
