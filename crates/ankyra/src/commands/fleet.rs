//! `ankyra fleet ls | set | status | resume | rollback`.

#![allow(clippy::print_stderr)]

use std::path::Path;
use std::sync::Arc;

use ankyra_ops::{FleetEvent, FleetPlan, OpsError, StoreOpener};
use ankyra_store::{FleetMemberState, FleetOp, FleetOpState, Store};

use crate::commands::confirm;
use crate::commands::deploy::{lines, Lines};
use crate::printer::Printer;

pub fn ls(
    p: &Printer,
    store: &dyn Store,
    selector: Option<&str>,
    show: &[String],
) -> Result<(), OpsError> {
    let rows = ankyra_ops::fleet_ls(store, selector, show)?;
    if p.is_json() {
        p.json(&rows);
        return Ok(());
    }
    let mut table = vec![vec![
        "CLOUD".to_string(),
        "REV".into(),
        "LABELS".into(),
        "COMPONENTS (desired / running)".into(),
        "HEALTH".into(),
        "NOT FINALIZED".into(),
    ]];
    for r in &rows {
        let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let comps: Vec<String> = r
            .components
            .iter()
            .map(|c| match &c.running {
                Some(run) if *run == c.desired => format!("{} {}", c.name, c.desired),
                Some(run) => format!("{} {} / {run}", c.name, c.desired),
                None => format!("{} {} / -", c.name, c.desired),
            })
            .collect();
        table.push(vec![
            r.cloud.clone(),
            r.revision.to_string(),
            labels.join(","),
            comps.join(", "),
            r.health.clone(),
            r.not_finalized.join(","),
        ]);
    }
    p.table(&table, |_, ci, cell| match (ci, cell) {
        (4, "ok") => p.added(cell),
        (4, _) => p.changed(cell),
        _ => cell.to_string(),
    });
    p.line(format!("{} clouds", rows.len()));
    Ok(())
}

/// Arguments of `fleet set`.
pub struct SetArgs<'a> {
    pub assignments: &'a [String],
    pub selector: &'a str,
    pub waves: Option<&'a str>,
    pub max_parallel: u32,
    pub message: Option<&'a str>,
    pub yes: bool,
    pub dry_run: bool,
    pub no_progress: bool,
}

fn print_plan(p: &Printer, plan: &FleetPlan) {
    p.line(format!(
        "fleet set {} --where '{}' --waves {}: {} clouds in {} waves",
        plan.change.join(" "),
        plan.selector,
        plan.waves,
        plan.clouds.len(),
        plan.wave_count()
    ));
    let mut table = vec![vec![
        "WAVE".to_string(),
        "CLOUD".into(),
        "FROM REV".into(),
        "FROM".into(),
    ]];
    for c in &plan.clouds {
        table.push(vec![
            c.wave.to_string(),
            c.cloud.clone(),
            c.from_revision.to_string(),
            c.from_version.clone(),
        ]);
    }
    p.table(&table, |_, _, cell| cell.to_string());
    for (cloud, why) in &plan.skipped {
        p.line(format!("skipped {cloud}: {why}"));
    }
}

fn reporter(progress: Arc<Lines>) -> Arc<ankyra_ops::FleetReporter> {
    Arc::new(move |e: FleetEvent| match e {
        FleetEvent::WaveStarted { wave, clouds } => {
            progress.line(&format!("wave {wave}"), &clouds.join(", "))
        }
        FleetEvent::CloudStarted { cloud } => progress.line(&cloud, "started"),
        FleetEvent::Cloud { cloud, event } => {
            use ankyra_ops::Event;
            let text = match event {
                Event::Planned { steps } => format!("plan: {steps} steps"),
                Event::StepStarted { component, action } => format!("{component}: {action}"),
                Event::Progress { component, message } => format!("{component}: {message}"),
                Event::StepDone { component, seconds } => {
                    format!("{component}: done in {seconds:.1}s")
                }
                Event::StepFailed { component, reason } => format!(
                    "{component}: FAILED: {}",
                    reason.lines().next().unwrap_or("")
                ),
            };
            progress.line(&cloud, &text)
        }
        FleetEvent::CloudDone {
            cloud,
            state,
            reason,
        } => progress.line(
            &cloud,
            &match reason {
                Some(r) => format!("{}: {r}", state.as_str()),
                None => state.as_str().to_string(),
            },
        ),
        FleetEvent::Halted { cloud } => progress.line(
            "fleet",
            &format!("HALTED at {cloud}: no further cloud is touched"),
        ),
    })
}

pub fn set(
    p: &Printer,
    open: &StoreOpener,
    state: &Path,
    a: &SetArgs<'_>,
    author: &str,
) -> Result<(), OpsError> {
    let mut store = open()?;
    let plan = ankyra_ops::fleet_plan(store.as_ref(), a.selector, a.assignments, a.waves)?;
    if a.dry_run {
        if p.is_json() {
            p.json(&plan);
        } else {
            print_plan(p, &plan);
        }
        return Ok(());
    }
    if !p.is_json() {
        print_plan(p, &plan);
    }
    if plan.clouds.is_empty() {
        if p.is_json() {
            p.json(&plan);
        } else {
            p.line("nothing to do: no selected cloud needs the change");
        }
        return Ok(());
    }
    if !a.yes && !confirm("record these revisions and roll them out?") {
        return Err(OpsError::Fleet {
            reason: "not confirmed: nothing was recorded".into(),
            help: "answer y at the prompt, or pass --yes (needed without a terminal)".into(),
        });
    }
    let op = ankyra_ops::fleet_start(store.as_mut(), &plan, a.max_parallel, author, a.message)?;
    drop(store);
    if !p.is_json() {
        p.line(format!(
            "fleet operation {} recorded: {} revisions",
            op.id,
            op.members.len()
        ));
    }
    let done = ankyra_ops::fleet_run(open, state, op.id, reporter(lines(a.no_progress)))?;
    finish(p, &done)
}

/// Prints the operation and fails (exit 1) when it halted.
fn finish(p: &Printer, op: &FleetOp) -> Result<(), OpsError> {
    if p.is_json() {
        p.json(op);
    } else {
        print_op(p, op);
    }
    match op.state {
        FleetOpState::Halted => Err(OpsError::FleetHalted {
            op: op.id,
            cloud: op
                .members
                .iter()
                .find(|m| m.state == FleetMemberState::Failed)
                .map(|m| m.cloud.clone())
                .unwrap_or_default(),
        }),
        _ => Ok(()),
    }
}

fn print_op(p: &Printer, op: &FleetOp) {
    p.line(format!(
        "fleet operation {}: {} — {} --where '{}' --waves {} (by {} at {})",
        op.id,
        p.bold(op.state.as_str()),
        op.change,
        op.selector,
        op.waves,
        op.author,
        op.created_at
    ));
    let mut table = vec![vec![
        "WAVE".to_string(),
        "CLOUD".into(),
        "FROM".into(),
        "REVISIONS".into(),
        "STATE".into(),
        "REASON".into(),
    ]];
    for m in &op.members {
        table.push(vec![
            m.wave.to_string(),
            m.cloud.clone(),
            m.from_version.clone(),
            format!("{} → {}", m.from_revision, m.to_revision),
            state_text(m.state).into(),
            m.reason.clone().unwrap_or_default(),
        ]);
    }
    p.table(&table, |_, ci, cell| match (ci, cell) {
        (4, "done") | (4, "rolled back") => p.added(cell),
        (4, "failed") => p.removed(cell),
        _ => cell.to_string(),
    });
}

/// States as operators read them.
fn state_text(s: FleetMemberState) -> &'static str {
    match s {
        FleetMemberState::Pending => "not started",
        FleetMemberState::InProgress => "in progress",
        FleetMemberState::Done => "done",
        FleetMemberState::Failed => "failed",
        FleetMemberState::RollingBack => "rolling back",
        FleetMemberState::RolledBack => "rolled back",
    }
}

pub fn status(p: &Printer, store: &dyn Store, op: Option<u64>) -> Result<(), OpsError> {
    let ops = ankyra_ops::fleet_status(store, op)?;
    if p.is_json() {
        p.json(&ops);
        return Ok(());
    }
    if ops.is_empty() {
        p.line("no fleet operation yet");
    }
    for (i, o) in ops.iter().enumerate() {
        if i > 0 {
            p.line("");
        }
        print_op(p, o);
    }
    Ok(())
}

pub fn resume(
    p: &Printer,
    open: &StoreOpener,
    state: &Path,
    op: u64,
    no_progress: bool,
) -> Result<(), OpsError> {
    let done = ankyra_ops::fleet_run(open, state, op, reporter(lines(no_progress)))?;
    finish(p, &done)
}

pub fn rollback(
    p: &Printer,
    open: &StoreOpener,
    state: &Path,
    op: u64,
    author: &str,
    no_progress: bool,
) -> Result<(), OpsError> {
    let done = ankyra_ops::fleet_rollback(open, state, op, author, reporter(lines(no_progress)))?;
    finish(p, &done)
}
