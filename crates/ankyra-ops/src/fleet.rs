//! The fleet: every cloud in one store. `fleet ls` finds clouds by labels and
//! component versions; `fleet set` changes a component on every selected
//! cloud, wave by wave, each cloud through the same non-destructive path as
//! `ankyra set --apply`, halting at the first cloud that fails; `fleet
//! resume` and `fleet rollback` continue or undo a fleet operation.
//!
//! A fleet operation is journaled in the store: its revisions are all
//! recorded when it starts (in one transaction), and each cloud's state
//! (pending → in-progress → done / failed) is written before and after it is
//! changed. A runner killed mid-fleet is resumed with `fleet resume`: clouds
//! done are skipped, the one in progress is applied again (which resumes its
//! own journaled operation), and none is changed twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ankyra_catalog::resolve;
use ankyra_engine::{ApplyOptions, EngineError, Event, Reporter};
use ankyra_fleet::{CloudFacts, Selector, Waves};
use ankyra_store::{
    CloudIndex, FleetMember, FleetMemberState, FleetOp, FleetOpState, NewFleetMember, NewFleetOp,
    Store,
};
use serde::Serialize;

use crate::deploy::apply_latest;
use crate::revisions::{new_revision, resolved_revision, stored_record};
use crate::rollback::rollback;
use crate::set::{edit, parse_assignment, Value};
use crate::OpsError;

/// Opens a new handle to the store (each cloud changed in parallel gets its own).
pub type StoreOpener = dyn Fn() -> Result<Box<dyn Store>, OpsError> + Sync;

/// How long a fleet runner's lock lives without a heartbeat.
const FLEET_LOCK_TTL: Duration = Duration::from_secs(3600);

/// One component of one cloud in `fleet ls`.
#[derive(Debug, Clone, Serialize)]
pub struct FleetComponent {
    /// The component.
    pub name: String,
    /// The version its latest revision asks for.
    pub desired: String,
    /// The version of the last applied revision (what runs), if any.
    pub running: Option<String>,
}

/// One cloud in `fleet ls`.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRow {
    /// The cloud.
    pub cloud: String,
    /// Its latest revision.
    pub revision: u64,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The components asked for (all when none was).
    pub components: Vec<FleetComponent>,
    /// From the store: `ok` (latest revision applied), `failed` (its last
    /// apply failed), `pending` (not applied yet), or `drift` (an older
    /// revision is the last applied one).
    pub health: String,
    /// Components upgraded but not finalized (old instances parked or schema
    /// not contracted).
    pub not_finalized: Vec<String>,
}

fn facts(row: &CloudIndex) -> CloudFacts {
    CloudFacts {
        labels: row.labels.clone().unwrap_or_default(),
        versions: row.versions.clone().unwrap_or_default(),
    }
}

/// Fills in the index rows written before the store kept labels and versions
/// (their record is read once).
fn complete(store: &dyn Store, rows: &mut [CloudIndex]) -> Result<(), OpsError> {
    for row in rows.iter_mut() {
        if row.labels.is_some() && row.versions.is_some() {
            continue;
        }
        let rev = store.revision(&row.cloud, row.latest)?;
        let record = stored_record(&rev)?;
        let resolved = resolved_revision(&rev)?;
        row.labels = Some(record.metadata.labels.clone());
        row.versions = Some(
            resolved
                .components
                .iter()
                .map(|c| (c.name.clone(), c.version.to_string()))
                .collect(),
        );
    }
    Ok(())
}

fn health(row: &CloudIndex) -> String {
    match (row.latest_status.as_deref(), row.applied) {
        (Some("applied"), _) => "ok".into(),
        (Some("failed"), _) => "failed".into(),
        // `destroy` (with --purge: data gone too) marks the latest revision.
        (Some("destroyed"), _) => "destroyed".into(),
        (Some("stopped"), _) => "stopped".into(),
        (_, Some(_)) => "drift".into(),
        _ => "pending".into(),
    }
}

/// Every cloud of the store that `selector` selects (all without one), by name.
pub fn fleet_ls(
    store: &dyn Store,
    selector: Option<&str>,
    show: &[String],
) -> Result<Vec<FleetRow>, OpsError> {
    let selector = selector.map(Selector::parse).transpose()?;
    let mut index = store.fleet_index()?;
    complete(store, &mut index)?;
    let wanted: Vec<String> = if show.is_empty() {
        selector
            .as_ref()
            .map(|s| s.components().into_iter().map(str::to_string).collect())
            .unwrap_or_default()
    } else {
        show.to_vec()
    };
    Ok(index
        .iter()
        .filter(|row| selector.as_ref().is_none_or(|s| s.matches(&facts(row))))
        .map(|row| {
            let versions = row.versions.clone().unwrap_or_default();
            let running = row.applied_versions.clone().unwrap_or_default();
            let names: Vec<&String> = if wanted.is_empty() {
                versions.keys().collect()
            } else {
                wanted
                    .iter()
                    .filter(|n| versions.contains_key(*n))
                    .collect()
            };
            let not_finalized: BTreeSet<String> = row
                .standby_components
                .iter()
                .chain(&row.unfinalized_components)
                .cloned()
                .collect();
            FleetRow {
                cloud: row.cloud.clone(),
                revision: row.latest,
                labels: row.labels.clone().unwrap_or_default(),
                components: names
                    .into_iter()
                    .map(|n| FleetComponent {
                        name: n.clone(),
                        desired: versions.get(n).cloned().unwrap_or_default(),
                        running: row.applied.and(running.get(n).cloned()),
                    })
                    .collect(),
                health: health(row),
                not_finalized: not_finalized.into_iter().collect(),
            }
        })
        .collect())
}

/// One cloud of a planned fleet change.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCloud {
    /// The cloud.
    pub cloud: String,
    /// Its wave (1, 2 ...).
    pub wave: u32,
    /// The revision the change goes on top of.
    pub from_revision: u64,
    /// What the changed components run now (`keystone 27.0.2`).
    pub from_version: String,
}

/// What `fleet set` would do: printed before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct FleetPlan {
    /// The selector, canonical.
    pub selector: String,
    /// The change (`keystone=27.1.0`).
    pub change: Vec<String>,
    /// The waves as given.
    pub waves: String,
    /// Selected clouds, wave by wave, by name within a wave.
    pub clouds: Vec<PlannedCloud>,
    /// Selected clouds left out, with why (the change is already there).
    pub skipped: Vec<(String, String)>,
}

impl FleetPlan {
    /// How many waves.
    pub fn wave_count(&self) -> u32 {
        self.clouds.iter().map(|c| c.wave).max().unwrap_or(0)
    }
}

fn changed_versions(parsed: &[(String, Value)], versions: &BTreeMap<String, String>) -> String {
    parsed
        .iter()
        .map(|(c, _)| {
            format!(
                "{c} {}",
                versions.get(c).map(String::as_str).unwrap_or("(none)")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the change is already what the cloud asks for.
fn already(parsed: &[(String, Value)], versions: &BTreeMap<String, String>) -> bool {
    parsed.iter().all(|(c, v)| match v {
        Value::Version(v) => versions.get(c) == Some(&v.to_string()),
        _ => false,
    })
}

/// Plans `fleet set`: which clouds, in which wave, from which version. Reads
/// only the store's index (no record is parsed for clouds already indexed),
/// so it stays fast for thousands of clouds. Refuses clouds that belong to a
/// fleet operation not yet finished.
pub fn fleet_plan(
    store: &dyn Store,
    selector: &str,
    assignments: &[String],
    waves: Option<&str>,
) -> Result<FleetPlan, OpsError> {
    let selector = Selector::parse(selector)?;
    let waves = waves.map(Waves::parse).transpose()?.unwrap_or_default();
    if assignments.is_empty() {
        return Err(OpsError::BadAssignment {
            text: String::new(),
            reason: "nothing to set".into(),
            help: Some(
                "for example: ankyra fleet set keystone=27.1.0 --where 'keystone<27.1.0'".into(),
            ),
        });
    }
    let parsed = assignments
        .iter()
        .map(|a| parse_assignment(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut index = store.fleet_index()?;
    complete(store, &mut index)?;
    let busy = busy_clouds(store)?;
    let mut selected = Vec::new();
    let mut skipped = Vec::new();
    for row in &index {
        if !selector.matches(&facts(row)) {
            continue;
        }
        let versions = row.versions.clone().unwrap_or_default();
        if let Some(op) = busy.get(&row.cloud) {
            return Err(OpsError::Fleet {
                reason: format!(
                    "cloud `{}` is part of fleet operation {op}, not finished",
                    row.cloud
                ),
                help: format!("`ankyra fleet resume {op}` or `ankyra fleet rollback {op}` first"),
            });
        }
        if already(&parsed, &versions) {
            skipped.push((row.cloud.clone(), "already asks for it".to_string()));
            continue;
        }
        selected.push((
            row.cloud.clone(),
            row.latest,
            changed_versions(&parsed, &versions),
        ));
    }
    let ranges = waves.plan(selected.len())?;
    let mut clouds = Vec::new();
    for (w, range) in ranges.into_iter().enumerate() {
        for (cloud, from_revision, from_version) in &selected[range] {
            clouds.push(PlannedCloud {
                cloud: cloud.clone(),
                wave: u32::try_from(w + 1).unwrap_or(u32::MAX),
                from_revision: *from_revision,
                from_version: from_version.clone(),
            });
        }
    }
    Ok(FleetPlan {
        selector: selector.to_string(),
        change: assignments.to_vec(),
        waves: waves.to_string(),
        clouds,
        skipped,
    })
}

/// Clouds in a fleet operation that is running or halted, with its id.
fn busy_clouds(store: &dyn Store) -> Result<BTreeMap<String, u64>, OpsError> {
    let mut out = BTreeMap::new();
    for op in store.unfinished_fleet_ops()? {
        for m in &op.members {
            out.entry(m.cloud.clone()).or_insert(op.id);
        }
    }
    Ok(out)
}

/// Records a planned fleet change: one new revision per cloud (each on top of
/// the revision planned from, all or none) and the operation linking them.
pub fn fleet_start(
    store: &mut dyn Store,
    plan: &FleetPlan,
    max_parallel: u32,
    author: &str,
    message: Option<&str>,
) -> Result<FleetOp, OpsError> {
    let parsed = plan
        .change
        .iter()
        .map(|a| parse_assignment(a))
        .collect::<Result<Vec<_>, _>>()?;
    let message = message
        .map(str::to_string)
        .unwrap_or_else(|| format!("fleet set {}", plan.change.join(" ")));
    let mut members = Vec::new();
    for c in &plan.clouds {
        let base = store.revision(&c.cloud, c.from_revision)?;
        let mut record = stored_record(&base)?;
        edit(&mut record, &parsed);
        let resolved = resolve(&record)?;
        // The same refusal of unsupported jumps as `set`, before anything is written.
        ankyra_plan::plan(
            &crate::revisions::desired(&resolved),
            &crate::revisions::observed_from(Some(&base))?,
        )?;
        members.push(NewFleetMember {
            cloud: c.cloud.clone(),
            wave: c.wave,
            from_revision: c.from_revision,
            from_version: c.from_version.clone(),
            revision: new_revision(&record, &resolved, author, &message),
        });
    }
    Ok(store.create_fleet_op(NewFleetOp {
        kind: "set".into(),
        selector: plan.selector.clone(),
        change: plan.change.join(" "),
        waves: plan.waves.clone(),
        max_parallel: max_parallel.max(1),
        author: author.to_string(),
        message,
        members,
    })?)
}

/// What a fleet runner reports.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FleetEvent {
    /// A wave starts.
    WaveStarted {
        /// Its number.
        wave: u32,
        /// Its clouds.
        clouds: Vec<String>,
    },
    /// A cloud starts changing.
    CloudStarted {
        /// The cloud.
        cloud: String,
    },
    /// Progress of one cloud's change.
    Cloud {
        /// The cloud.
        cloud: String,
        /// The engine's event.
        event: Event,
    },
    /// A cloud finished.
    CloudDone {
        /// The cloud.
        cloud: String,
        /// Its state now.
        state: FleetMemberState,
        /// Why, when it failed.
        reason: Option<String>,
    },
    /// The operation halted: no further cloud is touched.
    Halted {
        /// The cloud that failed.
        cloud: String,
    },
}

/// Receives fleet events.
pub type FleetReporter = dyn Fn(FleetEvent) + Send + Sync;

/// Tags engine events with their cloud.
struct CloudReporter {
    cloud: String,
    out: Arc<FleetReporter>,
}

impl Reporter for CloudReporter {
    fn event(&self, event: Event) {
        (self.out)(FleetEvent::Cloud {
            cloud: self.cloud.clone(),
            event,
        });
    }
}

/// Takes the operation's runner lock: one runner per fleet operation, on any
/// machine sharing the store. A holder that died on this machine (its process
/// is gone) is taken over, with a warning.
fn take_lock(store: &mut dyn Store, op: u64) -> Result<ankyra_store::LockInfo, OpsError> {
    let name = lock_name(op);
    match store.acquire_lock(&name, &ankyra_engine::lock_owner(), FLEET_LOCK_TTL) {
        Err(ankyra_store::StoreError::Locked { owner, since, .. })
            if ankyra_engine::holder_is_dead(&owner) =>
        {
            tracing::warn!(%owner, %since, op, "taking over the fleet operation of a runner that no longer runs");
            store.force_unlock(&name)?;
            Ok(store.acquire_lock(&name, &ankyra_engine::lock_owner(), FLEET_LOCK_TTL)?)
        }
        other => Ok(other?),
    }
}

fn lock_name(op: u64) -> String {
    format!("fleet-op/{op}")
}

/// At most 300 characters of `text`, cut at a character boundary.
fn short(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Applies one member's revision; its state before and after is journaled.
fn run_member(
    open: &StoreOpener,
    state: &Path,
    op: u64,
    member: &FleetMember,
    out: &Arc<FleetReporter>,
) -> Result<FleetMemberState, OpsError> {
    let mut store = open()?;
    store.set_fleet_member(op, &member.cloud, FleetMemberState::InProgress, None)?;
    out(FleetEvent::CloudStarted {
        cloud: member.cloud.clone(),
    });
    let latest = store.latest(&member.cloud)?.map(|r| r.number);
    let result = if latest != Some(member.to_revision) {
        // Someone changed the cloud after the fleet operation planned it:
        // its revision is no longer what the operator confirmed.
        Err(format!(
            "the cloud's latest revision is {} now, not the fleet's {}: changed by someone else",
            latest.unwrap_or(0),
            member.to_revision
        ))
    } else {
        let reporter = Arc::new(CloudReporter {
            cloud: member.cloud.clone(),
            out: out.clone(),
        });
        apply_latest(
            store.as_mut(),
            state,
            &member.cloud,
            ApplyOptions {
                bootstrap: false,
                restore_snapshot: false,
                rollback: false,
                // A fleet change never powers guests off: such a cloud halts the wave.
                stop_guests: false,
            },
            reporter,
        )
        .map(|_| ())
        .map_err(|e| {
            // The first line says what failed; the cloud's own history and
            // journal keep the rest (container logs can run to pages).
            let text = e.to_string();
            let first = short(text.lines().next().unwrap_or(""));
            match &e {
                OpsError::Engine(EngineError::GateFailed { .. }) => {
                    format!("{first} (rolled back automatically)")
                }
                _ => first,
            }
        })
    };
    let (state, reason) = match result {
        Ok(()) => (FleetMemberState::Done, None),
        Err(reason) => (FleetMemberState::Failed, Some(reason)),
    };
    store.set_fleet_member(op, &member.cloud, state, reason.as_deref())?;
    out(FleetEvent::CloudDone {
        cloud: member.cloud.clone(),
        state,
        reason,
    });
    Ok(state)
}

/// Runs (or resumes) fleet operation `op`: wave by wave, at most its
/// `max_parallel` clouds at a time; a wave starts only when every cloud of
/// the one before is done (applied, healthy, smoke-checked). The first cloud
/// that fails halts the operation: clouds not started stay untouched.
pub fn fleet_run(
    open: &StoreOpener,
    state: &Path,
    op: u64,
    out: Arc<FleetReporter>,
) -> Result<FleetOp, OpsError> {
    let mut store = open()?;
    let current = store.fleet_op(op)?;
    match current.state {
        FleetOpState::Running | FleetOpState::Halted => {}
        other => {
            return Err(OpsError::Fleet {
                reason: format!("fleet operation {op} is {}", other.as_str()),
                help: "`ankyra fleet status` lists operations and their states".into(),
            })
        }
    }
    let lock = take_lock(store.as_mut(), op)?;
    store.set_fleet_op_state(op, FleetOpState::Running)?;
    let waves: BTreeSet<u32> = current.members.iter().map(|m| m.wave).collect();
    let mut halted = false;
    for wave in waves {
        let todo: Vec<FleetMember> = store
            .fleet_op(op)?
            .members
            .into_iter()
            .filter(|m| m.wave == wave && m.state != FleetMemberState::Done)
            .collect();
        if todo.is_empty() {
            continue;
        }
        out(FleetEvent::WaveStarted {
            wave,
            clouds: todo.iter().map(|m| m.cloud.clone()).collect(),
        });
        let failed = run_wave(open, state, op, &todo, current.max_parallel, &out)?;
        store.heartbeat(&lock_name(op), lock.token)?;
        if let Some(cloud) = failed {
            out(FleetEvent::Halted { cloud });
            halted = true;
            break;
        }
    }
    store.set_fleet_op_state(
        op,
        if halted {
            FleetOpState::Halted
        } else {
            FleetOpState::Done
        },
    )?;
    store.release_lock(&lock_name(op), lock.token)?;
    Ok(store.fleet_op(op)?)
}

/// Runs one wave's clouds, `max_parallel` at a time; the first failed cloud
/// (if any). Once one fails, no further cloud of the wave starts.
fn run_wave(
    open: &StoreOpener,
    state: &Path,
    op: u64,
    todo: &[FleetMember],
    max_parallel: u32,
    out: &Arc<FleetReporter>,
) -> Result<Option<String>, OpsError> {
    let queue = Mutex::new(todo.iter());
    let failed: Mutex<Option<String>> = Mutex::new(None);
    let error: Mutex<Option<OpsError>> = Mutex::new(None);
    let workers = usize::try_from(max_parallel.max(1))
        .unwrap_or(1)
        .min(todo.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if lock(&failed).is_some() || lock(&error).is_some() {
                    return;
                }
                let Some(member) = lock(&queue).next() else {
                    return;
                };
                match run_member(open, state, op, member, out) {
                    Ok(FleetMemberState::Done) => {}
                    Ok(_) => {
                        lock(&failed).get_or_insert_with(|| member.cloud.clone());
                    }
                    Err(e) => {
                        lock(&error).get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(failed.into_inner().unwrap_or_else(|p| p.into_inner()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Returns every cloud the operation touched (done, failed or in progress)
/// to the revision it had before, component by component, through
/// `ankyra rollback` (inside the bake window a load-balancer switch). Clouds
/// not started get their record back (their containers never changed), unless
/// someone recorded another revision since. Resumable like a run.
pub fn fleet_rollback(
    open: &StoreOpener,
    state: &Path,
    op: u64,
    author: &str,
    out: Arc<FleetReporter>,
) -> Result<FleetOp, OpsError> {
    let mut store = open()?;
    let current = store.fleet_op(op)?;
    let lock = take_lock(store.as_mut(), op)?;
    store.set_fleet_op_state(op, FleetOpState::RollingBack)?;
    let components: Vec<String> = current
        .change
        .split_whitespace()
        .filter_map(|a| {
            a.split_once('=')
                .map(|(c, _)| c.split('.').next().unwrap_or(c))
        })
        .map(str::to_string)
        .collect();
    let mut failures = Vec::new();
    for m in current.members.iter().rev() {
        if m.state == FleetMemberState::RolledBack {
            continue;
        }
        // A cloud not started yet still had its revision recorded when the
        // operation began: its record goes back too (nothing runs it, so the
        // apply that follows changes no container).
        if m.state == FleetMemberState::Pending
            && store.latest(&m.cloud)?.map(|r| r.number) != Some(m.to_revision)
        {
            continue;
        }
        store.set_fleet_member(op, &m.cloud, FleetMemberState::RollingBack, None)?;
        out(FleetEvent::CloudStarted {
            cloud: m.cloud.clone(),
        });
        let reporter = Arc::new(CloudReporter {
            cloud: m.cloud.clone(),
            out: out.clone(),
        });
        let mut reason = None;
        for component in &components {
            let res = rollback(
                store.as_mut(),
                state,
                &m.cloud,
                component,
                Some(m.from_revision),
                false,
                author,
                reporter.clone(),
            );
            if let Err(e) = res {
                reason = Some(e.to_string());
                break;
            }
        }
        let state_now = if reason.is_some() {
            FleetMemberState::Failed
        } else {
            FleetMemberState::RolledBack
        };
        store.set_fleet_member(op, &m.cloud, state_now, reason.as_deref())?;
        out(FleetEvent::CloudDone {
            cloud: m.cloud.clone(),
            state: state_now,
            reason: reason.clone(),
        });
        if let Some(r) = reason {
            failures.push(format!("{}: {r}", m.cloud));
        }
    }
    store.set_fleet_op_state(
        op,
        if failures.is_empty() {
            FleetOpState::RolledBack
        } else {
            FleetOpState::Halted
        },
    )?;
    store.release_lock(&lock_name(op), lock.token)?;
    if !failures.is_empty() {
        return Err(OpsError::Fleet {
            reason: format!(
                "rollback of fleet operation {op} failed for {}",
                failures.join("; ")
            ),
            help: format!("fix the cause, then run `ankyra fleet rollback {op}` again"),
        });
    }
    Ok(store.fleet_op(op)?)
}

/// Fleet operations, newest first (one when `op` is given).
pub fn fleet_status(store: &dyn Store, op: Option<u64>) -> Result<Vec<FleetOp>, OpsError> {
    Ok(match op {
        Some(id) => vec![store.fleet_op(id)?],
        None => store.fleet_ops()?,
    })
}

impl From<ankyra_fleet::SelectorError> for OpsError {
    fn from(e: ankyra_fleet::SelectorError) -> Self {
        OpsError::Fleet {
            reason: e.to_string(),
            help: "terms like keystone<27.1.0, keystone>=27,<30.0.1 or region=eu-west, joined by `,` (and)".into(),
        }
    }
}

impl From<ankyra_fleet::WavesError> for OpsError {
    fn from(e: ankyra_fleet::WavesError) -> Self {
        OpsError::Fleet {
            reason: e.to_string(),
            help: "cumulative targets such as 1,25%,100%: a count or a percentage of the selected clouds, growing, ending at 100%".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> String {
        format!(
            "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: {name}\nspec:\n  release: \"2025.1\"\n  \
             components:\n    mariadb: {{}}\n    memcached: {{}}\n    haproxy: {{}}\n    keystone:\n      \
             version: 27.1.0\n"
        )
    }

    /// A cloud in an unfinished fleet operation (running, halted, rolling
    /// back) is refused by the next plan, naming the operation; once that
    /// operation is done or rolled back, the cloud can be planned again.
    #[test]
    fn a_cloud_in_an_unfinished_fleet_operation_is_not_planned_again() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = ankyra_store::open(&dir.path().join("store.db").display().to_string())?;
        for name in ["busy-a", "busy-b"] {
            let file = dir.path().join(format!("{name}.yaml"));
            std::fs::write(&file, record(name))?;
            crate::commit(&mut *store, &file, "tester", "first")?;
        }
        let change = ["keystone=29.1.0".to_string()];
        let plan = fleet_plan(&*store, "keystone<29", &change, None)?;
        assert_eq!(plan.clouds.len(), 2);
        let op = fleet_start(&mut *store, &plan, 1, "tester", None)?;
        for state in FleetOpState::ALL {
            store.set_fleet_op_state(op.id, *state)?;
            let again = fleet_plan(&*store, "keystone<=29.1.0", &change, None);
            if state.is_unfinished() {
                let Err(OpsError::Fleet { reason, help }) = again else {
                    panic!("{state}: expected a refusal, got {again:?}");
                };
                assert!(
                    reason.contains(&format!("fleet operation {}, not finished", op.id)),
                    "{state}: {reason}"
                );
                assert!(help.contains(&format!("fleet resume {}", op.id)), "{help}");
            } else {
                let plan = again?;
                assert!(plan.clouds.is_empty(), "{state}: both already ask for it");
                assert_eq!(plan.skipped.len(), 2, "{state}");
            }
        }
        Ok(())
    }
}
