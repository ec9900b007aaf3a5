//! `ankyra upgrade`, `rollback` and `finalize`: changing a running cloud's
//! versions, going back, and making an upgrade final.

use std::path::Path;

use ankyra_ops::OpsError;
use ankyra_store::Store;

use crate::commands::deploy::{lines, print_applied};
use crate::commands::plan::print_plan;
use crate::printer::Printer;

/// What `ankyra upgrade` was asked.
pub struct Args<'a> {
    pub cloud: &'a str,
    pub release: &'a str,
    pub assignments: &'a [String],
    pub author: &'a str,
    pub message: Option<&'a str>,
    pub apply: bool,
    pub no_progress: bool,
}

pub fn upgrade(p: &Printer, store: &mut dyn Store, state: &Path, a: Args) -> Result<(), OpsError> {
    let done = ankyra_ops::upgrade(
        store,
        state,
        a.cloud,
        a.release,
        a.assignments,
        a.author,
        a.message,
        a.apply,
        lines(a.no_progress),
    )?;
    if p.is_json() {
        p.json(&done);
        return Ok(());
    }
    p.line(format!(
        "{}: {} → {}, revision {}{}",
        a.cloud,
        done.from_release,
        done.release,
        done.commit.revision.number,
        if done.commit.created {
            " recorded"
        } else {
            " (unchanged)"
        }
    ));
    for m in &done.moves {
        p.line(format!(
            "  {}: {} → {} ({}; {})",
            m.component,
            m.from,
            m.to,
            serde_json::to_value(m.jump)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            m.why
        ));
    }
    if let Some(pre) = &done.preflight {
        p.line("pre-flight: every component healthy, nothing unfinalized, disk and images ready");
        for n in &pre.notes {
            p.line(format!("  {n}"));
        }
    }
    match &done.applied {
        Some(applied) => print_applied(p, applied),
        None => {
            print_plan(p, &done.commit.plan);
            p.line(format!("apply it: ankyra apply {}", a.cloud));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn rollback(
    p: &Printer,
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    component: Option<&str>,
    to: Option<u64>,
    restore_snapshot: bool,
    author: &str,
    no_progress: bool,
) -> Result<(), OpsError> {
    let Some(component) = component else {
        let done = ankyra_ops::rollback_cloud(
            store,
            state,
            cloud,
            to,
            restore_snapshot,
            author,
            lines(no_progress),
        )?;
        if p.is_json() {
            p.json(&done);
            return Ok(());
        }
        p.line(format!(
            "{cloud}: back to revision {} (new revision {}), in the reverse of the upgrade order:",
            done.from_revision, done.applied.revision
        ));
        for c in &done.components {
            p.line(format!("  {}: {} → {}", c.component, c.from, c.to));
        }
        print_applied(p, &done.applied);
        return Ok(());
    };
    let done = ankyra_ops::rollback(
        store,
        state,
        cloud,
        component,
        to,
        restore_snapshot,
        author,
        lines(no_progress),
    )?;
    if p.is_json() {
        p.json(&done);
        return Ok(());
    }
    p.line(format!(
        "{component}: back to {} as in revision {} (new revision {})",
        done.version, done.from_revision, done.applied.revision
    ));
    print_applied(p, &done.applied);
    Ok(())
}

pub fn finalize(
    p: &Printer,
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    component: Option<&str>,
    no_progress: bool,
) -> Result<(), OpsError> {
    let done = match component {
        Some(c) => vec![ankyra_ops::finalize(
            store,
            state,
            cloud,
            c,
            lines(no_progress),
        )?],
        None => ankyra_ops::finalize_cloud(store, state, cloud, lines(no_progress))?,
    };
    if p.is_json() {
        if component.is_some() {
            p.json(&done[0]);
        } else {
            p.json(&done);
        }
        return Ok(());
    }
    if done.is_empty() {
        p.line(format!("{cloud}: nothing to finalize"));
    }
    for f in &done {
        p.line(format!(
            "{}: {} is final ({} ran; {} migration(s) finalized). A rollback now needs --restore-snapshot.",
            f.component,
            f.version,
            if f.jobs.is_empty() { "no contract job".to_string() } else { f.jobs.join(", ") },
            f.migrations
        ));
    }
    Ok(())
}
