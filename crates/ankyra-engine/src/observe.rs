//! What runs: a cloud's containers, grouped by component, as the planner's
//! observed state.

use std::collections::BTreeMap;

use ankyra_catalog::{Catalog, ComponentKind};
use ankyra_plan::{Observed, ObservedComponent};
use ankyra_runtime::{ContainerInfo, Docker};

use crate::naming::{
    LABEL_CLOUD, LABEL_COMPONENT, LABEL_CONFIG, LABEL_IMAGE, LABEL_INSTANCE, LABEL_VERSION,
};
use crate::EngineError;

/// A cloud's containers by component (bootstrap jobs excluded), oldest first.
pub async fn containers(
    docker: &Docker,
    cloud: &str,
) -> Result<BTreeMap<String, Vec<ContainerInfo>>, EngineError> {
    let mut out: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
    for c in docker
        .containers_with_labels(&[format!("{LABEL_CLOUD}={cloud}")])
        .await?
    {
        if !c.labels.contains_key(LABEL_INSTANCE) {
            continue;
        }
        if let Some(component) = c.labels.get(LABEL_COMPONENT).cloned() {
            out.entry(component).or_default().push(c);
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(instance_number);
    }
    Ok(out)
}

/// The instance number of a container.
pub fn instance_number(c: &ContainerInfo) -> u32 {
    c.labels
        .get(LABEL_INSTANCE)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The planner's view of what runs.
pub fn observed(by_component: &BTreeMap<String, Vec<ContainerInfo>>) -> Observed {
    let catalog = Catalog::get();
    let mut components = BTreeMap::new();
    for (name, list) in by_component {
        let running: Vec<&ContainerInfo> = list.iter().filter(|c| c.is_running()).collect();
        let pick = |label: &str| -> String {
            let values: Vec<&str> = list
                .iter()
                .filter_map(|c| c.labels.get(label).map(String::as_str))
                .collect();
            match values.first() {
                Some(first) if values.iter().all(|v| v == first) => first.to_string(),
                Some(_) => "mixed".to_string(),
                None => String::new(),
            }
        };
        let kind = catalog
            .component(name)
            .map(|(d, _)| d.kind)
            .unwrap_or(ComponentKind::Worker);
        components.insert(
            name.clone(),
            ObservedComponent {
                kind,
                rank: catalog.rank(name),
                version: pick(LABEL_VERSION).parse().ok(),
                image: pick(LABEL_IMAGE),
                instances: running.len() as u32,
                healthy: running.iter().filter(|c| c.health != "unhealthy").count() as u32,
                config_hash: pick(LABEL_CONFIG),
            },
        );
    }
    Observed { components }
}
