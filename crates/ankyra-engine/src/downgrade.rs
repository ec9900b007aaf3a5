//! Going back past a finalized schema upgrade.

use ankyra_store::Store;

use crate::EngineError;

/// Whether `component` may go from version `from` back to `to`: not past a
/// finalized (contracted) schema upgrade, unless its snapshot is restored.
/// Returns the migration whose snapshot to restore.
pub fn check_downgrade(
    store: &dyn Store,
    cloud: &str,
    component: &str,
    from: &str,
    to: &str,
    restore_snapshot: bool,
) -> Result<Option<u64>, EngineError> {
    use ankyra_model::Version;
    let (Ok(from_v), Ok(to_v)) = (from.parse::<Version>(), to.parse::<Version>()) else {
        return Ok(None);
    };
    if to_v >= from_v {
        return Ok(None);
    }
    // Upgrades of this component that moved its schema past the target, newest first.
    // A restore is recorded as a migration down to its target: what came
    // before it no longer describes the schema.
    let past: Vec<ankyra_store::Migration> = store
        .migrations(cloud)?
        .into_iter()
        .filter(|m| m.component == component)
        .take_while(|m| m.to_version.parse::<Version>().is_ok_and(|v| v > to_v))
        .collect();
    let Some(m) = past.iter().find(|m| m.finalized_at.is_some()).cloned() else {
        // Nothing contracted: the target runs on the expanded schema.
        return Ok(None);
    };
    if restore_snapshot {
        // The newest snapshot taken at or below the target loses the least.
        let snap = past
            .iter()
            .find(|m| m.from_version.parse::<Version>().is_ok_and(|v| v <= to_v))
            .or_else(|| past.last())
            .map(|m| m.id)
            .unwrap_or(m.id);
        return Ok(Some(snap));
    }
    Err(EngineError::Refused {
        component: component.into(),
        to: to.into(),
        reason: format!(
            "the upgrade {} → {} was finalized ({}): its schema was contracted and {to} \
             cannot run on it. Use --restore-snapshot to restore the database snapshot taken \
             before that upgrade (revision {}); everything written to {component}'s database \
             since then is lost",
            m.from_version,
            m.to_version,
            m.finalized_at.clone().unwrap_or_default(),
            m.revision
        ),
    })
}
