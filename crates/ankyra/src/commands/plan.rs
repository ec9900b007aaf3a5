//! `ankyra plan`: steps aligned for people, or JSON for scripts.

use std::path::Path;

use ankyra_ops::OpsError;
use ankyra_plan::{Plan, StepKind, Strategy};
use ankyra_store::Store;

use crate::printer::Printer;

pub fn plan(
    p: &Printer,
    store: &mut dyn Store,
    state: &Path,
    file: Option<&Path>,
    cloud: Option<&str>,
    from: Option<u64>,
    offline: bool,
) -> Result<(), OpsError> {
    let plan = match (file, cloud) {
        (Some(f), _) => ankyra_ops::plan_file(store, state, f, offline)?,
        (None, Some(c)) => ankyra_ops::plan_cloud(store, state, c, from, offline)?,
        (None, None) => unreachable!("clap requires a file or a cloud"),
    };
    print_plan(p, &plan);
    Ok(())
}

/// Prints a plan: one aligned row per step, then what stays unchanged.
pub fn print_plan(p: &Printer, plan: &Plan) {
    if p.is_json() {
        p.json(plan);
        return;
    }
    if plan.steps.is_empty() {
        p.line(format!(
            "{}: no changes ({} components unchanged)",
            plan.cloud,
            plan.unchanged.len()
        ));
        return;
    }
    let n = plan.steps.len();
    p.line(format!(
        "{}: {n} step{}",
        plan.cloud,
        if n == 1 { "" } else { "s" }
    ));
    let mut rows = vec![vec![
        "#".to_string(),
        "action".into(),
        "component".into(),
        "version".into(),
        "strategy".into(),
        "reason".into(),
    ]];
    for (i, s) in plan.steps.iter().enumerate() {
        let action = match s.kind {
            StepKind::Create => "create",
            StepKind::Replace => "replace",
            StepKind::Scale => "scale",
            StepKind::Repair => "repair",
            StepKind::Remove => "remove",
        };
        let strategy = match s.strategy {
            Some(Strategy::StartFirst) => "start-first",
            Some(Strategy::StopFirst) => "stop-first",
            None => "-",
        };
        let reasons: Vec<String> = s.changes.iter().map(ToString::to_string).collect();
        rows.push(vec![
            (i + 1).to_string(),
            action.to_string(),
            s.component.clone(),
            s.version.clone().unwrap_or_else(|| "-".into()),
            strategy.to_string(),
            reasons.join(", "),
        ]);
    }
    p.table(&rows, |ri, ci, cell| {
        if ci != 1 {
            return cell.to_string();
        }
        match plan.steps.get(ri - 1).map(|s| s.kind) {
            Some(StepKind::Create) => p.added(cell),
            Some(StepKind::Remove) => p.removed(cell),
            _ => p.changed(cell),
        }
    });
    // What the steps do to running guests, before anything is touched.
    let guests = plan.running_guests.unwrap_or(0);
    for s in &plan.steps {
        let Some(g) = s.guests else { continue };
        let what = if g.kept {
            match plan.running_guests {
                Some(n) => format!("keeps the {n} running guest(s)"),
                None => "keeps running guests".to_string(),
            }
        } else if guests > 0 {
            p.removed(&format!(
                "CANNOT keep the {guests} running guest(s) (asks for confirmation, or --yes)"
            ))
        } else {
            "would stop guests (none runs now)".to_string()
        };
        p.line(format!("guests: {} {what}: {}", s.component, g.why));
    }
    if !plan.unchanged.is_empty() {
        let list: Vec<String> = plan
            .unchanged
            .iter()
            .map(|u| format!("{} {}", u.component, u.version))
            .collect();
        p.line(p.dim(&format!("unchanged: {}", list.join(", "))));
    }
}
