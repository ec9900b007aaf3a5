//! Fleet logic: which clouds a fleet command acts on, and in which waves.
//! Pure functions, no I/O.
//!
//! Start at [`Selector::parse`] for `ankyra fleet ls --where EXPR` and
//! `ankyra fleet set --where EXPR`, evaluated per cloud against its
//! [`CloudFacts`] with [`Selector::matches`]; and at [`Waves::parse`] and
//! [`Waves::plan`] for `--waves`.
//!
//! # `--where`: selecting clouds
//!
//! An expression is one or more terms joined by `,`; a cloud is selected when
//! every term holds. A term is `KEY OP VALUE`, with spaces allowed around
//! each part:
//!
//! | operator | meaning |
//! |---|---|
//! | `=` (or `==`) | equal; for a version, within the release the value names |
//! | `!=` | not equal |
//! | `<` `<=` `>` `>=` | version order; the value must be a version |
//!
//! A key is lowercase letters, digits, `.`, `_`, `/` and `-`, and starts with
//! a letter or digit. A value is any text without spaces or commas that does
//! not start with `=`, `!`, `<` or `>`. A term that starts with an operator
//! takes the key of the term before it, so `keystone>=27,<30.0.1` is a range.
//!
//! **What a key names.** A key the cloud runs a component of that name for
//! (`keystone`, `nova`) is a component, compared by its version; otherwise a
//! key the cloud has a label of that name for (`region`) is a label, compared
//! as text. A name that is both is the component. A key the cloud has neither
//! for satisfies only `!=`: `tier!=gold` selects clouds with no `tier` label,
//! `nova<30` never selects a cloud without nova.
//!
//! **Versions** are ordered as OpenStack orders them (see
//! [`ankyra_model::Version`]), and a value names every version that starts
//! with its numbers, so a shorter value means a whole series:
//!
//! | term | selects | does not select |
//! |---|---|---|
//! | `keystone<27.1.0` | 27.0.2, 27.1.0.0rc1 | 27.1.0, 29.1.0 |
//! | `keystone>=27` | 27.0.0, 27.0.2 | 26.9.9 |
//! | `keystone<28` | 27.9.9 | 28.0.0, 28.0.1 |
//! | `keystone<=27` | 27.9.9 | 28.0.0 |
//! | `keystone>27` | 28.0.0 | 27.9.9 |
//! | `keystone=27.1` | 27.1.0, 27.1.3 | 27.2.0 |
//! | `keystone>=27,<30.0.1` | 27.0.2, 30.0.0 | 26.9.9, 30.0.1 |
//!
//! A pre-release of the first release a value names sorts before it, as in
//! PEP 440: 28.0.0.0rc1 is `<28` and not `>=28`. A component pinned to an
//! image reference (`ankyra/keystone@sha256:…`) instead of a version never
//! matches `<`, `<=`, `>` or `>=`; `=` and `!=` compare it as text.
//!
//! **Labels** have no order: `region<5` selects nothing.
//!
//! ```
//! use ankyra_fleet::{CloudFacts, Selector};
//!
//! let mut lab1 = CloudFacts::default();
//! lab1.labels.insert("region".into(), "eu-west".into());
//! lab1.versions.insert("keystone".into(), "27.0.2".into());
//!
//! let selector = Selector::parse("keystone<27.1.0, region=eu-west")?;
//! assert!(selector.matches(&lab1));
//! assert_eq!(selector.to_string(), "keystone<27.1.0,region=eu-west");
//! assert_eq!(selector.components(), ["keystone"]);
//!
//! let e = Selector::parse("keystone<<27").unwrap_err();
//! assert_eq!(
//!     e.to_string(),
//!     "--where 'keystone<<27': column 10: expected a version after `<`, \
//!      found `<27` (a version is like 27.1.0)"
//! );
//! # Ok::<(), ankyra_fleet::SelectorError>(())
//! ```
//!
//! # `--waves`: changing clouds a few at a time
//!
//! `--waves` lists how many of the selected clouds are done by the end of
//! each wave: a count `N` (1 or more) or a percentage `P%` (1 to 100, rounded
//! up), each above the one before. `1,25%,100%` changes one cloud, then up
//! to a quarter, then the rest. The last target must cover every selected
//! cloud, which `100%` always does. A target that adds no cloud is skipped:
//! over 3 clouds, 25% is 1, so `1,25%,100%` is two waves. Without `--waves`,
//! callers use [`Waves::default_canary`], `1,100%`.
//!
//! ```
//! use ankyra_fleet::Waves;
//!
//! let waves = Waves::parse("1,25%,100%")?;
//! assert_eq!(waves.plan(3)?, [0..1, 1..3]);
//! assert_eq!(waves.plan(8)?, [0..1, 1..2, 2..8]);
//! assert_eq!(
//!     Waves::parse("50%")?.plan(4).unwrap_err().to_string(),
//!     "--waves '50%': waves end at 2 of 4 clouds; end with 100%"
//! );
//! # Ok::<(), ankyra_fleet::WavesError>(())
//! ```

mod selector;
mod waves;

pub use selector::{CloudFacts, Selector, SelectorError, SelectorProblem, Term};
pub use waves::{WaveTarget, Waves, WavesError, WavesProblem};
