//! `ankyra apply`, `status`, `serve`, `destroy`, `images`.

#![allow(clippy::print_stderr)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ankyra_ops::{Event, ImageEvent, OpsError, Reporter};
use ankyra_store::Store;

use crate::commands::plan::print_plan;
use crate::printer::Printer;

/// Progress as lines on stderr: `[  12.3s] keystone: starting lab1-keystone-1`.
pub(crate) struct Lines {
    start: Instant,
    quiet: bool,
}

impl Lines {
    pub(crate) fn line(&self, who: &str, what: &str) {
        if !self.quiet {
            eprintln!(
                "[{:>7.1}s] {who}: {what}",
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}

impl Reporter for Lines {
    fn event(&self, e: Event) {
        match e {
            Event::Planned { steps } => self.line("plan", &format!("{steps} steps")),
            Event::StepStarted { component, action } => {
                self.line(&component, &format!("{action} started"))
            }
            Event::Progress { component, message } => self.line(&component, &message),
            Event::StepDone { component, seconds } => {
                self.line(&component, &format!("done in {seconds:.1}s"))
            }
            Event::StepFailed { component, reason } => self.line(
                &component,
                &format!("FAILED: {}", reason.lines().next().unwrap_or("")),
            ),
        }
    }
}

impl ankyra_ops::ImageReporter for Lines {
    fn event(&self, e: ImageEvent) {
        match e {
            ImageEvent::Started { reference } => self.line(&reference, "building"),
            ImageEvent::Step { reference, step } => self.line(&reference, &step),
            ImageEvent::Done { image } => self.line(
                &image.reference,
                &if image.created {
                    format!("built in {:.0}s", image.seconds)
                } else {
                    "present".into()
                },
            ),
            ImageEvent::Failed { reference, error } => {
                self.line(&reference, &format!("FAILED: {error}"))
            }
        }
    }
}

pub(crate) fn lines(no_progress: bool) -> Arc<Lines> {
    Arc::new(Lines {
        start: Instant::now(),
        quiet: no_progress,
    })
}

/// Runs `f` without leave to stop guests; when that is refused because the
/// change cannot keep them, asks on the terminal (never without one) and
/// runs it again with leave.
fn confirming_guests<T>(
    yes: bool,
    mut f: impl FnMut(bool) -> Result<T, OpsError>,
) -> Result<T, OpsError> {
    match f(yes) {
        Err(OpsError::Engine(e @ ankyra_ops::EngineError::GuestsAtRisk { .. })) => {
            eprintln!("{e}");
            if crate::commands::confirm("Power off those guests and go ahead?") {
                f(true)
            } else {
                Err(OpsError::Engine(e))
            }
        }
        other => other,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn apply(
    p: &Printer,
    store: &mut dyn Store,
    state: &Path,
    file: &Path,
    author: &str,
    message: &str,
    yes: bool,
    no_progress: bool,
) -> Result<(), OpsError> {
    let applied = confirming_guests(yes, |stop_guests| {
        ankyra_ops::apply(
            store,
            state,
            file,
            author,
            message,
            stop_guests,
            lines(no_progress),
        )
    })?;
    if p.is_json() {
        p.json(&applied);
        return Ok(());
    }
    print_applied(p, &applied);
    Ok(())
}

/// What an apply did, for people.
pub(crate) fn print_applied(p: &Printer, applied: &ankyra_ops::Applied) {
    let o = &applied.outcome;
    print_plan(p, &o.plan);
    for (component, bytes) in &o.snapshots {
        p.line(format!(
            "{component}: database snapshot kept in the store ({bytes} bytes)"
        ));
    }
    for s in &o.switches {
        p.line(format!(
            "{}: switched back to the parked instances in {:.3} s",
            s.component, s.seconds
        ));
    }
    for k in &o.parked {
        p.line(format!(
            "{}: {} old instance(s) of {} parked out of rotation for {} s (instant rollback: `ankyra rollback {} {}`)",
            k.component,
            k.containers.len(),
            k.version,
            (k.until_unix - now_unix()).max(0),
            o.cloud,
            k.component
        ));
    }
    p.line(format!(
        "{}: revision {} applied",
        o.cloud, applied.revision
    ));
    if let Some(c) = &o.clouds_yaml {
        p.line(format!(
            "admin access: OS_CLIENT_CONFIG_FILE={c} openstack --os-cloud {} token issue",
            o.cloud
        ));
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `apply CLOUD` (and `set --apply`): the latest revision.
pub fn apply_cloud(
    p: &Printer,
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    yes: bool,
    no_progress: bool,
) -> Result<(), OpsError> {
    let applied = confirming_guests(yes, |stop_guests| {
        ankyra_ops::apply_latest(
            store,
            state,
            cloud,
            ankyra_ops::ApplyOptions {
                bootstrap: true,
                restore_snapshot: false,
                rollback: false,
                stop_guests,
            },
            lines(no_progress),
        )
    })?;
    if p.is_json() {
        p.json(&applied);
    } else {
        print_applied(p, &applied);
    }
    Ok(())
}

pub fn status(p: &Printer, store: &dyn Store, state: &Path, cloud: &str) -> Result<(), OpsError> {
    let s = ankyra_ops::status(store, state, cloud)?;
    if p.is_json() {
        p.json(&s);
        return Ok(());
    }
    p.line(format!("{}: revision {}", s.cloud, s.revision));
    let mut rows = vec![vec![
        "component".to_string(),
        "desired".into(),
        "running".into(),
        "instances".into(),
        "health".into(),
        "notes".into(),
    ]];
    for c in &s.components {
        rows.push(vec![
            c.name.clone(),
            c.desired_version.clone().unwrap_or_else(|| "-".into()),
            c.running_version.clone().unwrap_or_else(|| "-".into()),
            format!("{}/{}", c.healthy, c.desired_instances),
            c.health.clone(),
            status_notes(c),
        ]);
    }
    p.table(&rows, |_, ci, cell| match (ci, cell) {
        (4, "healthy") => p.added(cell),
        (4, "missing") => p.removed(cell),
        (4, _) => p.changed(cell),
        _ => cell.to_string(),
    });
    if let Some(c) = &s.clouds_yaml {
        p.line(p.dim(&format!("clouds.yaml: {c}")));
    }
    Ok(())
}

/// `serve --listen`: where, the token file, how each request opens the store.
pub struct HttpArgs {
    pub listen: std::net::SocketAddr,
    pub token_file: std::path::PathBuf,
    pub open: Arc<ankyra_ops::HttpOpener>,
}

pub fn serve(
    store: &mut dyn Store,
    state: &Path,
    clouds: &[String],
    interval: u64,
    http: Option<HttpArgs>,
) -> Result<(), OpsError> {
    let http = http.map(|h| ankyra_ops::Http {
        listen: h.listen,
        token_file: h.token_file,
        open: h.open,
        // Always shown (logs are warn-only by default): with port 0 this is
        // the only way to learn the port. The token stays in its file.
        on_listening: Box::new(|bound, token_file| {
            eprintln!(
                "listening on http://{bound} (bearer token in {})",
                token_file.display()
            );
        }),
    });
    ankyra_ops::serve(
        store,
        state,
        clouds,
        Duration::from_secs(interval.max(1)),
        lines(false),
        http,
    )
}

pub fn destroy(
    p: &Printer,
    store: &mut dyn Store,
    state: &Path,
    cloud: &str,
    purge: bool,
) -> Result<(), OpsError> {
    let removed = ankyra_ops::destroy(store, state, cloud, purge)?;
    if p.is_json() {
        p.json(&serde_json::json!({ "cloud": cloud, "removed": removed, "purged": purge }));
    } else {
        p.line(format!(
            "{cloud}: removed {} containers and volumes{}",
            removed.len(),
            if purge {
                " (data purged)"
            } else {
                "; data volumes kept (use --purge to remove them)"
            }
        ));
    }
    Ok(())
}

pub fn images_build(
    p: &Printer,
    file: Option<&Path>,
    components: &[String],
    no_progress: bool,
) -> Result<(), OpsError> {
    let recipes = ankyra_ops::recipes(file, components)?;
    let built = ankyra_ops::build_images(&recipes, lines(no_progress))?;
    if p.is_json() {
        p.json(&built);
        return Ok(());
    }
    let mut rows = vec![vec![
        "image".to_string(),
        "id".into(),
        "size".into(),
        "built".into(),
    ]];
    for b in &built {
        rows.push(vec![
            b.reference.clone(),
            b.id.chars().skip(7).take(12).collect(),
            format!("{:.0} MB", b.size as f64 / 1e6),
            if b.created {
                format!("now, {:.0}s", b.seconds)
            } else {
                "already present".into()
            },
        ]);
    }
    p.table(&rows, |_, _, c| c.to_string());
    Ok(())
}

pub fn images_ls(p: &Printer) -> Result<(), OpsError> {
    let list = ankyra_ops::list_images()?;
    if p.is_json() {
        p.json(&list);
        return Ok(());
    }
    let mut rows = vec![vec![
        "image".to_string(),
        "service".into(),
        "version".into(),
        "release".into(),
        "id".into(),
        "size".into(),
    ]];
    for i in &list {
        rows.push(vec![
            i.reference.clone(),
            i.service.clone(),
            i.version.clone(),
            i.release.clone(),
            i.id.chars().skip(7).take(12).collect(),
            format!("{:.0} MB", i.size as f64 / 1e6),
        ]);
    }
    p.table(&rows, |_, _, c| c.to_string());
    Ok(())
}

/// Bake window and finalize state of one component, for the status table.
fn status_notes(c: &ankyra_ops::ComponentStatus) -> String {
    let mut notes = Vec::new();
    if let Some(b) = &c.bake {
        let left = if b.seconds_left > 0 {
            format!("{} s left", b.seconds_left)
        } else {
            "ended, removed at the next apply or serve pass".into()
        };
        notes.push(format!(
            "{} parked ({} instance(s), {} MiB), bake window {left}",
            b.version,
            b.containers.len(),
            b.memory_bytes / (1024 * 1024)
        ));
    }
    if let Some(m) = &c.not_finalized {
        notes.push(format!("upgraded, not finalized ({m})"));
    }
    if let Some(g) = &c.guests {
        notes.push(format!("{} guest(s) running", g.len()));
    }
    notes.join("; ")
}
