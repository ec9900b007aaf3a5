//! The diff: desired against observed, into ordered steps.

use ankyra_catalog::{Catalog, CatalogError, ComponentKind, Jump};

use crate::{
    Change, Desired, DesiredComponent, Observed, ObservedComponent, Plan, Step, StepKind, Strategy,
    Unchanged,
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
        });
    }
    Ok(Plan {
        cloud: desired.cloud.clone(),
        steps,
        unchanged,
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
    let strategy = match want.kind {
        ComponentKind::Api => Strategy::StartFirst,
        ComponentKind::Infra | ComponentKind::LoadBalancer | ComponentKind::Worker => {
            Strategy::StopFirst
        }
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
    }))
}
