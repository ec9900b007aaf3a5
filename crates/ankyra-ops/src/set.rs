//! `ankyra set CLOUD keystone=30.0.0`: a new revision with components changed,
//! no hand-editing needed.

use ankyra_catalog::{resolve, Catalog};
use ankyra_model::{suggest, ImageRef, Spanned, Version};
use ankyra_plan::{diff_records, ComponentDiff};
use ankyra_store::{Store, StoreError};
use serde::Serialize;

use crate::revisions::{commit_on, resolved_revision, stored_record, CommitResult};
use crate::OpsError;

/// What `set` did.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    /// The new (or unchanged) revision and its plan.
    #[serde(flatten)]
    pub commit: CommitResult,
    /// What changed against the previous revision.
    pub diff: Vec<ComponentDiff>,
}

pub(crate) enum Value {
    Version(Version),
    Image(ImageRef),
    Replicas(u32),
}

fn bad(text: &str, reason: impl Into<String>, help: Option<String>) -> OpsError {
    OpsError::BadAssignment {
        text: text.to_string(),
        reason: reason.into(),
        help,
    }
}

/// Parses `component=version`, `component=image:tag` or `component.replicas=N`.
pub(crate) fn parse_assignment(text: &str) -> Result<(String, Value), OpsError> {
    let catalog = Catalog::get();
    let Some((lhs, rhs)) = text.split_once('=') else {
        return Err(bad(text, "expected COMPONENT=VERSION", Some("for example: keystone=30.0.0, keystone=ankyra/keystone:30.0.0 or keystone.replicas=2".into())));
    };
    let (component, field) = match lhs.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (lhs, None),
    };
    let (_, svc) = catalog.component(component).map_err(|_| {
        let known = catalog.component_names();
        let help = match suggest(component, known.iter().copied()) {
            Some(near) => format!(
                "did you mean `{near}`? known components: {}",
                known.join(", ")
            ),
            None => format!("known components: {}", known.join(", ")),
        };
        bad(text, format!("unknown component `{component}`"), Some(help))
    })?;
    let value = match field {
        Some("replicas") => match rhs.parse::<u32>() {
            Ok(n) if n <= 64 => Value::Replicas(n),
            _ => {
                return Err(bad(
                    text,
                    format!("`{rhs}` is not a replica count"),
                    Some("use a whole number from 0 to 64".into()),
                ))
            }
        },
        Some("version") | None if !rhs.contains(':') && !rhs.contains('/') => {
            let v: Version = rhs
                .parse()
                .map_err(|e: ankyra_model::VersionError| bad(text, e.to_string(), None))?;
            let known = svc.known_versions();
            if !known.contains(&v) {
                let list: Vec<String> = known.iter().map(ToString::to_string).collect();
                return Err(bad(
                    text,
                    format!("unknown {} version `{v}`", svc.name()),
                    Some(format!("valid: {}", list.join(", "))),
                ));
            }
            Value::Version(v)
        }
        Some("image") | None => Value::Image(
            rhs.parse()
                .map_err(|e: ankyra_model::ImageRefError| bad(text, e.to_string(), None))?,
        ),
        Some(other) => {
            return Err(bad(
                text,
                format!("unknown field `{other}`"),
                Some("settable fields: version, image, replicas".into()),
            ))
        }
    };
    Ok((component.to_string(), value))
}

/// Changes the components of `record` as the assignments say.
pub(crate) fn edit(record: &mut ankyra_model::Record, parsed: &[(String, Value)]) {
    for (component, value) in parsed {
        let spec = record.spec.components.entry(component.clone()).or_default();
        match value {
            Value::Version(v) => {
                spec.version = Some(Spanned::bare(v.clone()));
                // A version set by name runs Ankyra's own image of it.
                spec.image = None;
            }
            Value::Image(i) => spec.image = Some(Spanned::bare(i.clone())),
            Value::Replicas(n) => spec.replicas = Some(Spanned::bare(*n)),
        }
    }
}

/// Creates a new revision of `cloud` with the given components changed: the
/// latest revision, edited. Stored only if that revision is still the latest
/// when it is written; if another revision got in first (a concurrent `set`,
/// `commit` or `apply`), nothing is stored and it fails with
/// [`StoreError::Conflict`] naming that revision, its author and time.
pub fn set(
    store: &mut dyn Store,
    cloud: &str,
    assignments: &[String],
    author: &str,
    message: Option<&str>,
) -> Result<SetResult, OpsError> {
    if assignments.is_empty() {
        return Err(bad(
            "",
            "nothing to set",
            Some("for example: ankyra set lab1 keystone=30.0.0".into()),
        ));
    }
    let parsed = assignments
        .iter()
        .map(|a| parse_assignment(a))
        .collect::<Result<Vec<_>, _>>()?;
    let latest = store.latest(cloud)?.ok_or_else(|| {
        OpsError::Store(StoreError::UnknownCloud {
            cloud: cloud.into(),
        })
    })?;
    let before = resolved_revision(&latest)?;
    let mut record = stored_record(&latest)?;
    edit(&mut record, &parsed);
    let resolved = resolve(&record)?;
    let message = message
        .map(str::to_string)
        .unwrap_or_else(|| format!("set {}", assignments.join(" ")));
    // Only on top of the revision edited: a concurrent `set` that got in
    // first makes this one fail (StoreError::Conflict) instead of being lost.
    let commit = commit_on(store, Some(&latest), &record, &resolved, author, &message)?;
    let diff = diff_records(&before, &resolved);
    Ok(SetResult { commit, diff })
}
