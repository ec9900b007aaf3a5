//! `ankyra commit`, `set`, `history`, `show`, `diff`.

use std::path::Path;

use ankyra_ops::{CommitResult, OpsError};
use ankyra_plan::{ComponentDiff, DiffStatus};
use ankyra_store::Store;

use crate::commands::plan::print_plan;
use crate::printer::Printer;

fn print_commit(p: &Printer, c: &CommitResult) {
    let r = &c.revision;
    if c.created {
        p.line(format!(
            "{}: recorded revision {} ({})",
            r.cloud,
            r.number,
            &r.content_hash[..12.min(r.content_hash.len())]
        ));
        print_plan(p, &c.plan);
    } else {
        p.line(format!(
            "{}: unchanged, still revision {}",
            r.cloud, r.number
        ));
    }
}

pub fn commit(
    p: &Printer,
    store: &mut dyn Store,
    file: &Path,
    author: &str,
    message: &str,
) -> Result<(), OpsError> {
    let c = ankyra_ops::commit(store, file, author, message)?;
    if p.is_json() {
        p.json(&c);
    } else {
        print_commit(p, &c);
    }
    Ok(())
}

pub fn set(
    p: &Printer,
    store: &mut dyn Store,
    cloud: &str,
    assignments: &[String],
    author: &str,
    message: Option<&str>,
) -> Result<(), OpsError> {
    let r = ankyra_ops::set(store, cloud, assignments, author, message)?;
    if p.is_json() {
        p.json(&r);
    } else {
        print_commit(p, &r.commit);
    }
    Ok(())
}

pub fn unlock(p: &Printer, store: &mut dyn Store, cloud: &str) -> Result<(), OpsError> {
    let held = ankyra_ops::unlock(store, cloud)?;
    if p.is_json() {
        p.json(&held);
        return Ok(());
    }
    match held {
        Some(l) => {
            tracing::warn!(
                "removed the lock of {} held by {} since {} (token {}): if that process still runs it can no longer write, but what it already changed stays",
                l.cloud, l.owner, l.acquired_at, l.token
            );
            p.line(format!(
                "{cloud}: unlocked (was held by {} since {})",
                l.owner, l.acquired_at
            ));
        }
        None => p.line(format!("{cloud}: was not locked")),
    }
    Ok(())
}

pub fn history(p: &Printer, store: &dyn Store, cloud: &str) -> Result<(), OpsError> {
    let h = ankyra_ops::history(store, cloud)?;
    if p.is_json() {
        p.json(&h);
        return Ok(());
    }
    let mut rows = vec![vec![
        "rev".to_string(),
        "created".into(),
        "author".into(),
        "hash".into(),
        "message".into(),
    ]];
    for r in &h {
        rows.push(vec![
            r.number.to_string(),
            to_seconds(&r.created_at),
            r.author.clone(),
            r.content_hash.chars().take(12).collect(),
            r.message.clone(),
        ]);
    }
    p.table(&rows, |_, _, c| c.to_string());
    Ok(())
}

pub fn show(
    p: &Printer,
    store: &dyn Store,
    cloud: &str,
    revision: Option<u64>,
) -> Result<(), OpsError> {
    let s = ankyra_ops::show(store, cloud, revision)?;
    if p.is_json() {
        p.json(&s);
        return Ok(());
    }
    p.line(format!(
        "# revision {} of {}, {} by {}: {}",
        s.number, s.cloud, s.created_at, s.author, s.message
    ));
    p.line(format!("# content hash {}", s.content_hash));
    p.line(s.record.to_yaml().trim_end());
    Ok(())
}

pub fn diff(p: &Printer, store: &dyn Store, cloud: &str, a: u64, b: u64) -> Result<(), OpsError> {
    let d = ankyra_ops::diff(store, cloud, a, b)?;
    if p.is_json() {
        p.json(&d);
        return Ok(());
    }
    print_diff(p, cloud, a, b, &d);
    Ok(())
}

fn print_diff(p: &Printer, cloud: &str, a: u64, b: u64, d: &[ComponentDiff]) {
    if d.is_empty() {
        p.line(format!(
            "{cloud}: revisions {a} and {b} run the same components"
        ));
        return;
    }
    p.line(format!("{cloud}: revision {a} → {b}"));
    for c in d {
        let (mark, head) = match c.status {
            DiffStatus::Added => ("+", p.added(&format!("+ {} (added)", c.component))),
            DiffStatus::Removed => ("-", p.removed(&format!("- {} (removed)", c.component))),
            DiffStatus::Changed => ("~", p.changed(&format!("~ {}", c.component))),
        };
        p.line(head);
        for f in &c.fields {
            let text = match (&f.from, &f.to) {
                (Some(x), Some(y)) => format!("    {}: {x} → {y}", f.field),
                (None, Some(y)) => format!("    {}: {y}", f.field),
                (Some(x), None) => format!("    {}: {x}", f.field),
                (None, None) => continue,
            };
            let _ = mark;
            p.line(text);
        }
    }
}

/// An RFC 3339 time shown to the second: the table keeps its width.
fn to_seconds(t: &str) -> String {
    match t.find('.') {
        Some(dot) if t.ends_with('Z') => format!("{}Z", &t[..dot]),
        _ => t.to_string(),
    }
}
