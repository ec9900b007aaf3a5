//! The diff: desired against observed, into ordered steps.

use ankyra_catalog::{Catalog, CatalogError, Jump};

use crate::{
    Change, Desired, DesiredComponent, Observed, ObservedComponent, Order, Plan, Step, StepKind,
    Strategy, Unchanged,
};

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A version jump upstream does not support.
    #[error("cannot plan {component}")]
    Jump {
        /// The component.
        component: String,
        /// The catalog's reason.
        #[source]
        source: Box<CatalogError>,
    },
}

/// Plans the steps that take `observed` to `desired`.
///
/// Creates and replacements run in dependency order (infrastructure, then
/// keystone, then the rest; nova conductor, scheduler, api, compute);
/// removals run last, in reverse order. Components already as wanted get no
/// step and are listed as unchanged.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
    plan_ordered(desired, observed, Order::Upgrade)
}

/// Plans like [`plan`], with replacements in `order`. With
/// [`Order::Rollback`] the replacements run in the reverse of the upgrade
/// order, after creates, scales and repairs (which keep dependency order:
/// a new component still needs what it depends on), each marked
/// [`Change::RollbackOrder`] so the engine's waves and the reasons follow.
pub fn plan_ordered(
    desired: &Desired,
    observed: &Observed,
    order: Order,
) -> Result<Plan, PlanError> {
    let mut steps = Vec::new();
    let mut unchanged = Vec::new();
    let mut ordered: Vec<&DesiredComponent> = desired.components.iter().collect();
    ordered.sort_by_key(|c| c.rank);
    for want in ordered {
        match observed.components.get(&want.name) {
            None => steps.push(Step {
                component: want.name.clone(),
                service: want.service.clone(),
                kind: StepKind::Create,
                strategy: None,
                version: Some(want.version.to_string()),
                image: Some(want.image.clone()),
                replicas: want.replicas,
                changes: vec![Change::Added],
                guests: None,
            }),
            Some(have) => match compare(want, have)? {
                Some(step) => steps.push(step),
                None => unchanged.push(Unchanged {
                    component: want.name.clone(),
                    version: want.version.to_string(),
                }),
            },
        }
    }
    if order == Order::Rollback {
        // Stable: creates/scales/repairs keep their order; replacements go
        // last, highest rank (last upgraded) first.
        let (mut replaces, rest): (Vec<Step>, Vec<Step>) = steps
            .into_iter()
            .partition(|s: &Step| s.kind == StepKind::Replace);
        replaces.reverse();
        for s in &mut replaces {
            s.changes.push(Change::RollbackOrder);
        }
        steps = rest;
        steps.extend(replaces);
    }
    let mut gone: Vec<(&String, &ObservedComponent)> = observed
        .components
        .iter()
        .filter(|(name, _)| desired.component(name).is_none())
        .collect();
    gone.sort_by_key(|(_, c)| std::cmp::Reverse(c.rank));
    for (name, _) in gone {
        steps.push(Step {
            component: name.clone(),
            service: String::new(),
            kind: StepKind::Remove,
            strategy: None,
            version: None,
            image: None,
            replicas: 0,
            changes: vec![Change::Removed],
            guests: None,
        });
    }
    // What each step does to running guests, as the catalog says.
    for s in &mut steps {
        if s.kind != StepKind::Create {
            s.guests = Catalog::get()
                .component(&s.component)
                .ok()
                .and_then(|(_, svc)| svc.guest_effect(&s.component, s.kind == StepKind::Remove));
        }
    }
    Ok(Plan {
        cloud: desired.cloud.clone(),
        steps,
        unchanged,
        running_guests: None,
    })
}

fn compare(want: &DesiredComponent, have: &ObservedComponent) -> Result<Option<Step>, PlanError> {
    let mut changes = Vec::new();
    if have.version.as_ref() != Some(&want.version) {
        let catalog = Catalog::get();
        let jump = match (&have.version, catalog.service(&want.service)) {
            (Some(from), Some(svc)) => {
                catalog
                    .check_jump(svc, from, &want.version)
                    .map_err(|source| PlanError::Jump {
                        component: want.name.clone(),
                        source: Box::new(source),
                    })?
            }
            _ => Jump::Point,
        };
        changes.push(Change::Version {
            from: have
                .version
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "?".into()),
            to: want.version.to_string(),
            jump,
        });
    }
    if have.image != want.image {
        changes.push(Change::Image {
            from: have.image.clone(),
            to: want.image.clone(),
        });
    }
    if have.config_hash != want.config_hash {
        changes.push(Change::Config {
            files: want.config_files.clone(),
        });
    }
    let replace = !changes.is_empty();
    if have.instances != want.replicas {
        changes.push(Change::Replicas {
            from: have.instances,
            to: want.replicas,
        });
    }
    let unhealthy = have.healthy < have.instances.min(want.replicas);
    if unhealthy && !replace {
        changes.push(Change::Unhealthy {
            healthy: have.healthy,
            instances: have.instances,
        });
    }
    if changes.is_empty() {
        return Ok(None);
    }
    let kind = if replace {
        StepKind::Replace
    } else if unhealthy {
        StepKind::Repair
    } else {
        StepKind::Scale
    };
    // The service decides (nova's conductor and scheduler run side by side
    // start-first; a compute is one per host, stop-first).
    let replace = Catalog::get()
        .service(&want.service)
        .map(|svc| svc.replace_strategy(&want.name, want.kind))
        .unwrap_or_else(|| ankyra_catalog::Replace::default_for(want.kind));
    let strategy = match replace {
        ankyra_catalog::Replace::StartFirst => Strategy::StartFirst,
        ankyra_catalog::Replace::StopFirst => Strategy::StopFirst,
    };
    Ok(Some(Step {
        component: want.name.clone(),
        service: want.service.clone(),
        kind,
        strategy: Some(strategy),
        version: Some(want.version.to_string()),
        image: Some(want.image.clone()),
        replicas: want.replicas,
        changes,
        guests: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ankyra_catalog::Catalog;

    /// Every OpenStack component, running with an older config than wanted.
    fn cloud() -> (Desired, Observed) {
        let catalog = Catalog::get();
        let names = [
            "keystone",
            "glance",
            "placement",
            "neutron-server",
            "nova-conductor",
            "nova-scheduler",
            "nova-api",
            "nova-compute",
        ];
        let components = names
            .iter()
            .map(|name| {
                let (def, svc) = catalog.component(name).expect("known component");
                DesiredComponent {
                    name: name.to_string(),
                    service: svc.name().to_string(),
                    kind: def.kind,
                    rank: catalog.rank(name),
                    version: svc.known_versions()[0].clone(),
                    image: format!("ankyra/{}:1", svc.name()),
                    replicas: 1,
                    hosts: vec!["local".into()],
                    config_hash: "new".into(),
                    config_files: Vec::new(),
                }
            })
            .collect();
        let desired = Desired {
            cloud: "lab1".into(),
            components,
        };
        let mut observed = Observed::from_desired(&desired);
        for c in observed.components.values_mut() {
            c.config_hash = "old".into();
        }
        (desired, observed)
    }

    fn order(p: &Plan) -> Vec<&str> {
        p.steps.iter().map(|s| s.component.as_str()).collect()
    }

    #[test]
    fn a_rollback_replaces_in_the_reverse_of_the_upgrade_order() {
        let (desired, observed) = cloud();
        let up = plan(&desired, &observed).expect("plans");
        let back = plan_ordered(&desired, &observed, Order::Rollback).expect("plans");
        let mut reversed = order(&up);
        reversed.reverse();
        assert_eq!(order(&back), reversed);
        assert_eq!(
            order(&back)[..4],
            [
                "nova-compute",
                "nova-api",
                "nova-scheduler",
                "nova-conductor"
            ]
        );
        assert_eq!(order(&back).last(), Some(&"keystone"), "keystone goes last");
        for s in &back.steps {
            assert!(s.is_reversed());
            assert!(
                s.reason()
                    .contains("rollback: reverse of the upgrade order"),
                "{}",
                s.reason()
            );
        }
        assert!(up.steps.iter().all(|s| !s.is_reversed()));
    }

    #[test]
    fn a_rollback_still_creates_in_dependency_order_before_replacing() {
        let (desired, mut observed) = cloud();
        observed.components.remove("glance");
        observed.components.remove("nova-compute");
        let back = plan_ordered(&desired, &observed, Order::Rollback).expect("plans");
        let kinds: Vec<(&str, StepKind)> = back
            .steps
            .iter()
            .map(|s| (s.component.as_str(), s.kind))
            .collect();
        assert_eq!(kinds[0], ("glance", StepKind::Create));
        assert_eq!(kinds[1], ("nova-compute", StepKind::Create));
        assert_eq!(kinds[2], ("nova-api", StepKind::Replace));
        assert!(!back.steps[0].is_reversed());
    }

    #[test]
    fn workers_are_replaced_the_way_their_service_says() {
        let (desired, observed) = cloud();
        let p = plan(&desired, &observed).expect("plans");
        let strategy = |name: &str| {
            p.steps
                .iter()
                .find(|s| s.component == name)
                .and_then(|s| s.strategy)
        };
        assert_eq!(strategy("nova-conductor"), Some(Strategy::StartFirst));
        assert_eq!(strategy("nova-scheduler"), Some(Strategy::StartFirst));
        assert_eq!(strategy("nova-compute"), Some(Strategy::StopFirst));
        assert_eq!(strategy("nova-api"), Some(Strategy::StartFirst));
    }
}
