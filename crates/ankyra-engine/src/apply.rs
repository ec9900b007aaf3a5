//! `apply` and `reconcile`: plan, then run the steps in dependency waves,
//! journaling each; what comes before a step (snapshots, restores).

use std::collections::BTreeMap;

use ankyra_catalog::{Catalog, CloudContext, ComponentKind, ResolvedRecord};
use ankyra_plan::{Change, Plan, Step, StepKind};
use ankyra_store::{Standby, StepState, Store};
use futures_util::future::join_all;
use serde::Serialize;

use crate::downgrade::check_downgrade;
use crate::engine::{now_unix, Engine, Prepared, ADMIN_SECRET};
use crate::report::Event;
use crate::step::is_upgrade;
use crate::{access, naming, observe, EngineError};

/// A rollback inside the bake window: a load-balancer switch.
#[derive(Debug, Clone, Serialize)]
pub struct Switch {
    /// The component.
    pub component: String,
    /// From the first runtime API call to the last old instance out of rotation.
    pub seconds: f64,
}

/// Old instances left running out of rotation after an upgrade.
#[derive(Debug, Clone, Serialize)]
pub struct Parked {
    /// The component.
    pub component: String,
    /// Their containers.
    pub containers: Vec<String>,
    /// The version they run.
    pub version: String,
    /// When the bake window ends (seconds since the Unix epoch).
    pub until_unix: i64,
}

/// How an apply may change the cloud.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Run bootstrap jobs of new components (databases, keys, users).
    pub bootstrap: bool,
    /// Allow going back past a finalized schema by restoring the snapshot
    /// taken before that upgrade (what was written since is lost).
    pub restore_snapshot: bool,
    /// Going back a whole cloud: replacements run in the reverse of the
    /// upgrade order (nova compute first, keystone last).
    pub rollback: bool,
    /// Go ahead with a change that cannot keep the running guests (removing
    /// nova-libvirt, say): the operator confirmed it.
    pub stop_guests: bool,
}

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyOutcome {
    /// The cloud.
    pub cloud: String,
    /// The revision now running.
    pub revision: u64,
    /// The plan that ran.
    pub plan: Plan,
    /// The admin's clouds.yaml, when keystone runs.
    pub clouds_yaml: Option<String>,
    /// The admin's openrc, when keystone runs.
    pub openrc: Option<String>,
    /// Rollbacks done as load-balancer switches.
    pub switches: Vec<Switch>,
    /// Old instances kept for the bake window.
    pub parked: Vec<Parked>,
    /// Database snapshots taken before schema upgrades (component, bytes).
    pub snapshots: Vec<(String, u64)>,
}

impl Engine {
    /// Deploys or converges a cloud to `revision` of its record, changing only what the plan says.
    pub async fn apply(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        options: ApplyOptions,
    ) -> Result<ApplyOutcome, EngineError> {
        self.with_lock(store, &r.cloud, async |store, token| {
            self.apply_locked(store, r, revision, options, token).await
        })
        .await
    }

    /// Refuses to go back past a finalized (contracted) schema unless the
    /// snapshot taken before that upgrade is to be restored; returns the
    /// snapshots to restore, by component.
    fn check_downgrades(
        store: &dyn Store,
        cloud: &str,
        plan: &Plan,
        options: ApplyOptions,
    ) -> Result<BTreeMap<String, u64>, EngineError> {
        let mut restore = BTreeMap::new();
        for step in &plan.steps {
            for ch in &step.changes {
                if let Change::Version { from, to, .. } = ch {
                    if let Some(id) = check_downgrade(
                        store,
                        cloud,
                        &step.component,
                        from,
                        to,
                        options.restore_snapshot,
                    )? {
                        restore.insert(step.component.clone(), id);
                    }
                }
            }
        }
        Ok(restore)
    }

    async fn apply_locked(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
        options: ApplyOptions,
        token: u64,
    ) -> Result<ApplyOutcome, EngineError> {
        let mut p = self.prepare(store, r, true).await?;
        if self.expire(store, &p).await? {
            // What was retired is gone: see the cloud afresh.
            p = self.prepare(store, r, true).await?;
        }
        let running = self.active(&p).await?;
        let order = if options.rollback {
            ankyra_plan::Order::Rollback
        } else {
            ankyra_plan::Order::Upgrade
        };
        let mut plan = ankyra_plan::plan_ordered(&p.desired, &observe::observed(&running), order)?;
        self.count_guests(&mut plan, &running).await;
        if !options.stop_guests {
            if let Some(e) = guests_at_risk(&plan) {
                return Err(e);
            }
        }
        let restore = Self::check_downgrades(store, &r.cloud, &plan, options)?;
        self.reporter.event(Event::Planned {
            steps: plan.steps.len(),
        });
        if let Some(op) = store.unfinished_operation(&r.cloud)? {
            // A run that died: what runs is re-observed and re-planned, so it is safe to supersede.
            store.journal_resume(op.id, token)?;
            store.journal_end(op.id, "superseded")?;
        }
        let op = store.journal_begin(&r.cloud, revision, "apply", token)?;
        crate::killpoint::hit("journaled");
        let mut index = 0u32;
        let mut failure = None;
        let mut switches = Vec::new();
        let mut parked_out = Vec::new();
        let mut snapshots = Vec::new();
        'waves: for wave in waves(&plan) {
            // Journal steps are numbered in run order (a wave holds steps from
            // anywhere in the plan, so plan positions would collide).
            let no: BTreeMap<usize, u32> = wave
                .iter()
                .enumerate()
                .map(|(k, (i, _))| (*i, index + k as u32))
                .collect();
            for s in &wave {
                store.journal_step(
                    op,
                    no[&s.0],
                    &s.1.component,
                    StepState::Started,
                    &s.1.reason(),
                )?;
            }
            // Snapshots first, one at a time: the store is not shared by the steps.
            for (i, step) in &wave {
                let before = self
                    .before_step(store, r, &p, step, &restore, revision, &mut snapshots)
                    .await;
                if let Err(e) = before {
                    self.step_failed(store, op, no[i], &step.component, &e)?;
                    failure = Some(e);
                    break 'waves;
                }
            }
            let results = join_all(
                wave.iter()
                    .map(|(_, step)| self.run_step(r, &p, step, revision, options.bootstrap)),
            )
            .await;
            let reload_lb = wave.iter().any(|(_, s)| {
                s.kind != StepKind::Replace
                    && p.desired
                        .component(&s.component)
                        .is_none_or(|c| c.kind == ComponentKind::Api)
            });
            if reload_lb {
                self.update_lb(r, &p).await?;
            }
            for ((i, step), res) in wave.iter().zip(results) {
                match res {
                    Ok(out) => {
                        if out.clear_standby {
                            store.clear_standby(&r.cloud, &step.component)?;
                        }
                        if let Some(seconds) = out.switched {
                            switches.push(Switch {
                                component: step.component.clone(),
                                seconds,
                            });
                        }
                        let mut parked = out.parked;
                        if restore.contains_key(&step.component) {
                            // Their version is past the restored schema: never to be switched back to.
                            if let Some(old) = parked.take() {
                                let names: Vec<String> =
                                    old.iter().map(|c| c.name.clone()).collect();
                                self.retire(&p, &step.component, &names).await?;
                            }
                        }
                        if let Some(old) = parked {
                            let sb = Standby {
                                cloud: r.cloud.clone(),
                                component: step.component.clone(),
                                containers: old.iter().map(|c| c.name.clone()).collect(),
                                version: old
                                    .first()
                                    .and_then(|c| c.labels.get(naming::LABEL_VERSION).cloned())
                                    .unwrap_or_default(),
                                from_revision: old
                                    .first()
                                    .and_then(|c| c.labels.get(naming::LABEL_REVISION))
                                    .and_then(|n| n.parse().ok())
                                    .unwrap_or(0),
                                to_revision: revision,
                                until_unix: now_unix() + p.rollout.bake_window.as_secs() as i64,
                            };
                            store.put_standby(&sb)?;
                            crate::killpoint::hit("standby-recorded");
                            parked_out.push(Parked {
                                component: sb.component,
                                containers: sb.containers,
                                version: sb.version,
                                until_unix: sb.until_unix,
                            });
                        }
                        store.journal_step(op, no[i], &step.component, StepState::Done, "")?
                    }
                    Err(e) => {
                        self.step_failed(store, op, no[i], &step.component, &e)?;
                        failure.get_or_insert(e);
                    }
                }
            }
            if failure.is_some() {
                break 'waves;
            }
            index += wave.len() as u32;
        }
        if failure.is_none() {
            // What a new libvirt cloud offers its users (kept when present).
            if let Err(e) = self.offer_guest(r.compute_driver, &p).await {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            store.journal_end(op, "failed")?;
            let _ = store.set_revision_status(&r.cloud, revision, "failed");
            return Err(e);
        }
        store.journal_end(op, "done")?;
        store.set_revision_status(&r.cloud, revision, "applied")?;
        let (clouds_yaml, openrc) = match p.secrets.get(ADMIN_SECRET) {
            Some(pw) if p.processes.contains_key("keystone") => {
                let (c, o) =
                    access::write(&self.cloud_dir(&r.cloud), &r.cloud, &p.network.vip, pw)?;
                (Some(c.display().to_string()), Some(o.display().to_string()))
            }
            _ => (None, None),
        };
        Ok(ApplyOutcome {
            cloud: r.cloud.clone(),
            revision,
            plan,
            clouds_yaml,
            openrc,
            switches,
            parked: parked_out,
            snapshots,
        })
    }

    /// Journals a step as failed with its reason, and says so.
    fn step_failed(
        &self,
        store: &mut dyn Store,
        op: u64,
        n: u32,
        component: &str,
        e: &EngineError,
    ) -> Result<(), EngineError> {
        store.journal_step(op, n, component, StepState::Failed, &e.to_string())?;
        self.reporter.event(Event::StepFailed {
            component: component.into(),
            reason: e.to_string(),
        });
        Ok(())
    }

    /// What comes before a step, one step at a time: the snapshot restore a
    /// downgrade past a finalized schema asked for, or, before a schema
    /// upgrade, a check of the database volume's free space and a snapshot.
    #[allow(clippy::too_many_arguments)]
    async fn before_step(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        p: &Prepared,
        step: &Step,
        restore: &BTreeMap<String, u64>,
        revision: u64,
        snapshots: &mut Vec<(String, u64)>,
    ) -> Result<(), EngineError> {
        if let Some(id) = restore.get(&step.component) {
            let dump = store.snapshot(*id)?;
            self.reporter.event(Event::Progress {
                component: step.component.clone(),
                message: format!(
                    "restoring the database snapshot of migration {id} ({} bytes): later writes are lost",
                    dump.len()
                ),
            });
            let cx = self.context(r, &p.network, &p.secrets);
            self.restore(p, &cx, &step.component, &dump).await?;
            if let Some((from, to)) = step.changes.iter().find_map(|ch| match ch {
                Change::Version { from, to, .. } => Some((from.clone(), to.clone())),
                _ => None,
            }) {
                // The schema is back at `to`: recorded, and final, as a migration down.
                store.record_migration(&r.cloud, &step.component, &from, &to, revision, &[])?;
                store.finalize_migrations(&r.cloud, &step.component)?;
            }
        } else if let Some((from, to)) = self.needs_snapshot(p, step) {
            // No snapshot for an upgrade the database volume has no room for.
            self.check_schema_space(p, &step.component).await?;
            self.reporter.event(Event::Progress {
                component: step.component.clone(),
                message: "snapshot of its database before the schema upgrade".into(),
            });
            let cx = self.context(r, &p.network, &p.secrets);
            if let Some(bytes) = self.snapshot(p, &cx, &step.component).await? {
                store.record_migration(&r.cloud, &step.component, &from, &to, revision, &bytes)?;
                snapshots.push((step.component.clone(), bytes.len() as u64));
                crate::killpoint::hit("snapshot");
            }
        }
        Ok(())
    }

    /// A version change of a component with schema jobs, not undone by a
    /// switch to parked instances: (from, to) when a snapshot must come first.
    fn needs_snapshot(&self, p: &Prepared, step: &Step) -> Option<(String, String)> {
        if step.kind != StepKind::Replace {
            return None;
        }
        let (from, to) = step.changes.iter().find_map(|ch| match ch {
            Change::Version { from, to, .. } if is_upgrade(ch) => Some((from.clone(), to.clone())),
            _ => None,
        })?;
        if self.matching_standby(p, &step.component).is_some() {
            return None;
        }
        let (_, svc) = Catalog::get().component(&step.component).ok()?;
        let cx = CloudContext {
            cloud: p.cloud.clone(),
            ..Default::default()
        };
        (!svc.upgrade_jobs(&step.component, &cx).is_empty() && !svc.databases().is_empty())
            .then_some((from, to))
    }

    /// Retires standby sets whose bake window has ended.
    pub(crate) async fn expire(
        &self,
        store: &mut dyn Store,
        p: &Prepared,
    ) -> Result<bool, EngineError> {
        let now = now_unix();
        let mut any = false;
        for sb in &p.standby {
            if sb.until_unix > now {
                continue;
            }
            self.reporter.event(Event::Progress {
                component: sb.component.clone(),
                message: format!(
                    "bake window over: removing the parked {} instances",
                    sb.version
                ),
            });
            self.retire(p, &sb.component, &sb.containers).await?;
            store.clear_standby(&p.cloud, &sb.component)?;
            any = true;
        }
        Ok(any)
    }

    /// One reconciliation of `serve` (also the end of bake windows): the same plan and steps as apply, without
    /// bootstrap jobs (the cloud was bootstrapped when it was applied).
    pub async fn reconcile(
        &self,
        store: &mut dyn Store,
        r: &ResolvedRecord,
        revision: u64,
    ) -> Result<Option<ApplyOutcome>, EngineError> {
        let plan = self.plan(store, r).await?;
        // A bake window that ended is work too: apply retires the parked instances.
        let now = now_unix();
        let bake_over = store
            .standbys(&r.cloud)?
            .iter()
            .any(|s| s.until_unix <= now);
        if plan.is_empty() && !bake_over {
            return Ok(None);
        }
        self.apply(store, r, revision, ApplyOptions::default())
            .await
            .map(Some)
    }
}

/// Steps grouped into waves: a step runs once every component it comes after
/// (and that this plan touches) has finished. Steps in the reverse of the
/// upgrade order (a whole-cloud rollback) come next, in the upgrade's waves
/// mirrored: what went last goes first. Removals run in a last wave.
fn waves(plan: &Plan) -> Vec<Vec<(usize, &Step)>> {
    let (reversed, forward): (Vec<_>, Vec<_>) = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind != StepKind::Remove)
        .partition(|(_, s)| s.is_reversed());
    let mut out = dependency_waves(&forward);
    let mut back = dependency_waves(&reversed);
    back.reverse();
    out.extend(back);
    let removals: Vec<(usize, &Step)> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == StepKind::Remove)
        .collect();
    if !removals.is_empty() {
        out.push(removals);
    }
    out.retain(|w| !w.is_empty());
    out
}

/// The refusal of a plan with steps that cannot keep the guests that run
/// (None: it keeps them, or none runs).
pub fn guests_at_risk(plan: &Plan) -> Option<EngineError> {
    let guests = plan.running_guests.unwrap_or(0);
    let steps = plan.stops_guests();
    if guests == 0 || steps.is_empty() {
        return None;
    }
    Some(EngineError::GuestsAtRisk {
        cloud: plan.cloud.clone(),
        guests,
        steps: steps
            .iter()
            .map(|s| format!("{} ({})", s.component, s.guests.map_or("", |g| g.why)))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// `steps` in waves of the catalog's dependency order: a step's wave is one
/// past the latest wave of the components it comes after among `steps`.
fn dependency_waves<'a>(steps: &[(usize, &'a Step)]) -> Vec<Vec<(usize, &'a Step)>> {
    let catalog = Catalog::get();
    let touched: Vec<&str> = steps.iter().map(|(_, s)| s.component.as_str()).collect();
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out: Vec<Vec<(usize, &Step)>> = Vec::new();
    // Dependency order whatever order the plan lists them in.
    let mut sorted = steps.to_vec();
    sorted.sort_by_key(|(_, s)| catalog.rank(&s.component));
    for (i, s) in sorted {
        let deps = catalog
            .component(&s.component)
            .map(|(d, _)| d.after)
            .unwrap_or(&[]);
        let l = deps
            .iter()
            .filter(|d| touched.contains(d))
            .filter_map(|d| level.get(d).map(|l| l + 1))
            .max()
            .unwrap_or(0);
        level.insert(&s.component, l);
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push((i, s));
    }
    for w in &mut out {
        // Within a wave, the plan's order.
        w.sort_by_key(|(i, _)| *i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ankyra_plan::Change;

    fn step(component: &str, reversed: bool) -> Step {
        let mut changes = vec![Change::Config { files: Vec::new() }];
        if reversed {
            changes.push(Change::RollbackOrder);
        }
        Step {
            component: component.into(),
            service: String::new(),
            kind: StepKind::Replace,
            strategy: None,
            version: None,
            image: None,
            replicas: 1,
            changes,
            guests: None,
        }
    }

    fn names(plan: &Plan) -> Vec<Vec<&str>> {
        waves(plan)
            .iter()
            .map(|w| w.iter().map(|(_, s)| s.component.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_rollback_waits_for_everything_that_depends_on_a_component() {
        let plan = Plan {
            cloud: "lab1".into(),
            steps: [
                "nova-compute",
                "nova-api",
                "nova-scheduler",
                "nova-conductor",
                "neutron-server",
                "placement",
                "glance",
                "keystone",
            ]
            .iter()
            .map(|c| step(c, true))
            .collect(),
            unchanged: Vec::new(),
            running_guests: None,
        };
        let w = names(&plan);
        assert_eq!(w[0], ["nova-compute"]);
        assert_eq!(w[1], ["nova-api"]);
        assert_eq!(w[2], ["nova-scheduler"]);
        assert_eq!(w[3], ["nova-conductor"]);
        assert_eq!(w[4], ["neutron-server", "placement", "glance"]);
        assert_eq!(w[5], ["keystone"]);
        assert_eq!(w.len(), 6, "{w:?}");
    }

    #[test]
    fn an_upgrade_goes_in_dependency_waves() {
        let plan = Plan {
            cloud: "lab1".into(),
            steps: ["keystone", "glance", "nova-conductor", "nova-scheduler"]
                .iter()
                .map(|c| step(c, false))
                .collect(),
            unchanged: Vec::new(),
            running_guests: None,
        };
        assert_eq!(
            names(&plan),
            [
                vec!["keystone"],
                vec!["glance", "nova-conductor"],
                vec!["nova-scheduler"]
            ]
        );
    }

    #[test]
    fn only_a_step_that_cannot_keep_running_guests_is_refused() {
        let catalog = Catalog::get();
        let effect = |c: &str, removing| {
            catalog
                .component(c)
                .ok()
                .and_then(|(_, svc)| svc.guest_effect(c, removing))
        };
        let with = |kind: StepKind, guests: Option<u32>| {
            let mut s = step("nova-libvirt", false);
            s.kind = kind;
            s.guests = effect("nova-libvirt", kind == StepKind::Remove);
            Plan {
                cloud: "lab1".into(),
                steps: vec![s],
                unchanged: Vec::new(),
                running_guests: guests,
            }
        };
        let refused = guests_at_risk(&with(StepKind::Remove, Some(2))).expect("refused");
        let text = refused.to_string();
        assert!(
            text.contains("cannot keep the 2 running guest(s)") && text.contains("--yes"),
            "{text}"
        );
        assert!(text.contains("powers off every guest"), "{text}");
        // No guest runs, or the step keeps them: nothing to confirm.
        assert!(guests_at_risk(&with(StepKind::Remove, Some(0))).is_none());
        assert!(guests_at_risk(&with(StepKind::Remove, None)).is_none());
        assert!(guests_at_risk(&with(StepKind::Replace, Some(2))).is_none());
        assert!(effect("nova-compute", false).is_some_and(|g| g.kept));
        assert!(effect("keystone", false).is_none());
    }
}
