//! One step of a plan: create, replace, scale, repair or remove a component.

use std::time::Instant;

use ankyra_catalog::{Catalog, CloudContext, ComponentKind, ResolvedRecord};
use ankyra_plan::{Change, Step, StepKind, Strategy};
use ankyra_runtime::ContainerInfo;

use crate::engine::{Engine, Prepared};
use crate::instances::Component;
use crate::report::Event;
use crate::{naming, observe, workers, EngineError};

/// What one step leaves for the store.
#[derive(Default)]
pub(crate) struct StepOutcome {
    pub(crate) parked: Option<Vec<ContainerInfo>>,
    pub(crate) switched: Option<f64>,
    pub(crate) clear_standby: bool,
}

impl Engine {
    pub(crate) async fn run_step(
        &self,
        r: &ResolvedRecord,
        p: &Prepared,
        step: &Step,
        revision: u64,
        bootstrap: bool,
    ) -> Result<StepOutcome, EngineError> {
        let started = Instant::now();
        self.reporter.event(Event::StepStarted {
            component: step.component.clone(),
            action: format!("{:?}", step.kind).to_lowercase(),
        });
        // One listing: every instance (for numbering and removal) and those in rotation.
        let every = observe::containers(&self.docker, &r.cloud).await?;
        let parked = p.parked.lock().await.clone();
        let existing: Vec<ContainerInfo> = every
            .get(&step.component)
            .into_iter()
            .flatten()
            .filter(|c| !parked.contains(&c.name))
            .cloned()
            .collect();
        let mut out = StepOutcome::default();
        if step.kind == StepKind::Remove {
            for c in every.get(&step.component).into_iter().flatten() {
                self.docker.stop_container(&c.name, 30).await?;
                self.docker.remove_container(&c.name).await?;
            }
            out.clear_standby = true;
            self.reporter.event(Event::StepDone {
                component: step.component.clone(),
                seconds: started.elapsed().as_secs_f64(),
            });
            return Ok(out);
        }
        let spec = r
            .components
            .iter()
            .find(|c| c.name == step.component)
            .ok_or_else(|| EngineError::NotRunnable {
                component: step.component.clone(),
            })?;
        let c = self
            .component(r, p, spec, revision)
            .ok_or_else(|| EngineError::NotRunnable {
                component: step.component.clone(),
            })?;
        let catalog = Catalog::get();
        let cx = self.context(r, &p.network, &p.secrets);
        let jobs = catalog
            .component(&spec.name)
            .map(|(_, svc)| svc.bootstrap(&spec.name, &cx))
            .unwrap_or_default();
        let before: Vec<_> = jobs
            .iter()
            .filter(|j| j.when == ankyra_catalog::JobWhen::Before)
            .collect();
        let after: Vec<_> = jobs
            .iter()
            .filter(|j| j.when == ankyra_catalog::JobWhen::After)
            .collect();
        let fixed_ip = (spec.kind == ComponentKind::LoadBalancer).then_some(p.network.vip.as_str());
        // Numbers never repeat while a parked instance may still hold one.
        let next = every
            .get(&step.component)
            .into_iter()
            .flatten()
            .map(observe::instance_number)
            .max()
            .unwrap_or(0)
            + 1;
        c.ensure_volumes().await?;
        // Schema jobs run only going up: going back is a code swap onto the
        // expanded schema (the old code cannot even read the newer revision).
        let version_changed = step.changes.iter().any(is_upgrade);
        // Instances started stop-first (gated after), hosts of instances
        // removed (their service records may go), and the step's gate.
        let mut new_instances: Vec<workers::Started> = Vec::new();
        let mut removed_hosts: Vec<String> = Vec::new();
        let mut gate: Option<workers::Gate> = None;
        let mut gate_asked = false;
        match step.kind {
            StepKind::Create => {
                // The service's user and endpoints exist before its first process
                // starts (nova's conductor talks to placement as `nova`).
                self.register(r, p, &spec.name).await?;
                if bootstrap {
                    c.run_jobs(&before).await?;
                }
                for n in 1..=spec.replicas {
                    new_instances.push(self.start_slot(&c, next + n - 1, fixed_ip, n).await?);
                }
                if bootstrap {
                    c.run_jobs(&after).await?;
                }
            }
            StepKind::Replace if spec.kind == ComponentKind::Api => {
                if let Some(standby) = self.matching_standby(p, &spec.name) {
                    // Inside the bake window: a load-balancer switch, no container starts.
                    out.switched = Some(self.switch_back(p, &c, standby, &existing).await?);
                    out.clear_standby = true;
                } else {
                    if let Some(sb) = p.standby.iter().find(|s| s.component == spec.name) {
                        // One standby generation at a time: the older one goes.
                        self.retire(p, &spec.name, &sb.containers).await?;
                        out.clear_standby = true;
                    }
                    if version_changed {
                        // Expand and migrate with the NEW image while the old version serves.
                        self.schema_upgrade(p, &c, &spec.name, &cx).await?;
                        crate::killpoint::hit("schema");
                    }
                    // Going down: older code cannot save over newer records
                    // (nova-api's own, checked when its WSGI app loads).
                    let back = self.hand_back_pending(&c, &existing).await?;
                    self.hand_back(p, &c, back, None).await?;
                    let rolled = self.roll(p, &c, &existing, next).await?;
                    if p.rollout.bake_window.is_zero() || rolled.parked.is_empty() {
                        let names: Vec<String> =
                            rolled.parked.iter().map(|c| c.name.clone()).collect();
                        self.retire(p, &spec.name, &names).await?;
                    } else {
                        out.parked = Some(rolled.parked);
                        out.clear_standby = false;
                    }
                }
                if version_changed {
                    c.run_jobs(&after).await?;
                }
            }
            StepKind::Replace if step.strategy == Some(Strategy::StartFirst) => {
                // A worker that runs side by side with its old version
                // (nova's conductor, scheduler): no load balancer involved.
                if version_changed {
                    self.schema_upgrade(p, &c, &spec.name, &cx).await?;
                }
                gate = self.service_gate(p, &c).await?;
                gate_asked = true;
                // Going down: older code cannot save over newer records.
                let back = self.hand_back_pending(&c, &existing).await?;
                self.hand_back(p, &c, back, gate.as_ref().map(|g| &g.api))
                    .await?;
                removed_hosts = self
                    .replace_start_first(p, &c, &existing, next, gate.as_ref())
                    .await?;
                if version_changed {
                    c.run_jobs(&after).await?;
                }
            }
            StepKind::Replace => {
                if version_changed {
                    self.schema_upgrade(p, &c, &spec.name, &cx).await?;
                }
                // The new instances take the old ones' slots (and hosts).
                let mut slots: Vec<u32> = Vec::new();
                for old in existing.iter().take(spec.replicas as usize) {
                    let slot = workers::slot_of(old)
                        .filter(|s| !slots.contains(s))
                        .unwrap_or_else(|| workers::free_slot(&slots));
                    slots.push(slot);
                }
                while slots.len() < spec.replicas as usize {
                    slots.push(workers::free_slot(&slots));
                }
                // Going down: the compute's record is lowered once the old one stopped.
                let back = self.hand_back_pending(&c, &existing).await?;
                for old in &existing {
                    removed_hosts.push(workers::host_of(&c, old));
                    c.remove(old).await?;
                }
                self.hand_back(p, &c, back, None).await?;
                for (n, slot) in slots.iter().enumerate() {
                    new_instances.push(
                        self.start_slot(&c, next + n as u32, fixed_ip, *slot)
                            .await?,
                    );
                }
                if version_changed {
                    c.run_jobs(&after).await?;
                }
            }
            StepKind::Scale | StepKind::Repair => {
                let (live, dead): (Vec<_>, Vec<_>) = existing
                    .iter()
                    .partition(|x| x.is_running() && x.health != "unhealthy");
                for d in dead {
                    removed_hosts.push(workers::host_of(&c, d));
                    c.remove(d).await?;
                }
                let keep = spec.replicas as usize;
                for extra in live.iter().skip(keep) {
                    removed_hosts.push(workers::host_of(&c, extra));
                    c.remove(extra).await?;
                }
                let mut taken: Vec<u32> = live
                    .iter()
                    .take(keep)
                    .filter_map(|x| workers::slot_of(x))
                    .collect();
                for n in 0..keep.saturating_sub(live.len()) as u32 {
                    let slot = workers::free_slot(&taken);
                    taken.push(slot);
                    new_instances.push(self.start_slot(&c, next + n, fixed_ip, slot).await?);
                }
            }
            StepKind::Remove => {}
        }
        // What the service says about the new instances (stop-first ones
        // here; start-first ones were gated one by one above), then once
        // per step a scheduling check and the retirement of stale records.
        // A step that started no instance (a scale-down, `serve` removing a
        // dead one) boots no test server: nothing new to schedule on.
        let started_any = gate_asked || !new_instances.is_empty();
        if !gate_asked && (started_any || !removed_hosts.is_empty()) {
            gate = self.service_gate(p, &c).await?;
        }
        if let Some(gate) = &gate {
            for s in &new_instances {
                if let Err(f) = self.gate_instance(&c, gate, s, s.since).await {
                    return Err(f.error(&spec.name, &s.host));
                }
            }
            self.finish_gate(p, &c, gate, &removed_hosts, started_any)
                .await?;
        }
        self.reporter.event(Event::StepDone {
            component: step.component.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
        Ok(out)
    }

    /// The schema jobs of an upgrade, after a last look at the database
    /// volume (it may have filled since the snapshot); a job that fails for
    /// lack of space says so.
    pub(crate) async fn schema_upgrade(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        component: &str,
        cx: &CloudContext,
    ) -> Result<(), EngineError> {
        let jobs = Catalog::get()
            .component(component)
            .map(|(_, svc)| svc.upgrade_jobs(component, cx))
            .unwrap_or_default();
        if jobs.is_empty() {
            return Ok(());
        }
        self.check_schema_space(p, component).await?;
        crate::killpoint::hit("schema-checked");
        match c.run_jobs(&jobs.iter().collect::<Vec<_>>()).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain_job_failure(p, component, e).await),
        }
    }

    /// The component's parked instances when they run exactly what is wanted
    /// now (same version, image and config): a rollback inside the bake window.
    pub(crate) fn matching_standby<'a>(
        &self,
        p: &'a Prepared,
        component: &str,
    ) -> Option<&'a [ContainerInfo]> {
        let want = p.desired.component(component)?;
        let sb = p.standby.iter().find(|s| s.component == component)?;
        let infos = p.standby_containers.get(component)?;
        let all_there = infos.len() == sb.containers.len() && !infos.is_empty();
        let same = infos.iter().all(|c| {
            c.labels.get(naming::LABEL_VERSION) == Some(&want.version.to_string())
                && c.labels.get(naming::LABEL_IMAGE) == Some(&want.image)
                && c.labels.get(naming::LABEL_CONFIG) == Some(&want.config_hash)
        });
        (all_there && same).then_some(infos.as_slice())
    }
}

/// A version change to a newer version (unparsable versions count as one:
/// running the idempotent sync is the safe side).
pub(crate) fn is_upgrade(ch: &Change) -> bool {
    match ch {
        Change::Version { from, to, .. } => {
            match (
                from.parse::<ankyra_model::Version>(),
                to.parse::<ankyra_model::Version>(),
            ) {
                (Ok(f), Ok(t)) => t > f,
                _ => true,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_version_is_an_upgrade() {
        let v = |from: &str, to: &str| Change::Version {
            from: from.into(),
            to: to.into(),
            jump: ankyra_catalog::Jump::Point,
        };
        assert!(is_upgrade(&v("27.1.0", "29.1.0")));
        assert!(is_upgrade(&v("27.0.2", "27.1.0")));
        assert!(
            !is_upgrade(&v("29.1.0", "27.1.0")),
            "a rollback is a code swap"
        );
        assert!(
            is_upgrade(&v("?", "27.1.0")),
            "unknown: run the idempotent sync"
        );
        assert!(!is_upgrade(&Change::Removed));
    }
}
