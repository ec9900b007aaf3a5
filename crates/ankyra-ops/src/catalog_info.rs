//! `ankyra catalog [SERVICE]`: what Ankyra knows about a service.

use ankyra_catalog::{Catalog, ComponentDef, RELEASES};
use serde::Serialize;

use crate::OpsError;

/// A service's components, versions per release and allowed upgrade paths.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceInfo {
    /// The service.
    pub service: String,
    /// Its components.
    pub components: Vec<ComponentDef>,
    /// Release → versions.
    pub versions: Vec<(String, Vec<String>)>,
    /// How versions may change.
    pub upgrade_paths: String,
}

/// Every service, or one.
pub fn catalog_info(service: Option<&str>) -> Result<Vec<ServiceInfo>, OpsError> {
    let catalog = Catalog::get();
    let all = ankyra_catalog::ALL;
    if let Some(name) = service {
        if catalog.service(name).is_none() {
            let names: Vec<&str> = all.iter().map(|s| s.name()).collect();
            return Err(OpsError::UnknownService {
                name: name.into(),
                help: format!("known services: {}", names.join(", ")),
            });
        }
    }
    let slurps: Vec<&str> = RELEASES
        .iter()
        .filter(|r| r.slurp)
        .map(|r| r.name)
        .collect();
    Ok(all
        .iter()
        .filter(|s| service.is_none_or(|n| n == s.name()))
        .map(|s| ServiceInfo {
            service: s.name().into(),
            components: s.components().to_vec(),
            versions: s
                .versions()
                .by_release
                .iter()
                .map(|(r, vs)| (r.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
            upgrade_paths: format!(
                "any point release inside a series; N → N+1; SLURP → next SLURP ({}); downgrades only as rollbacks before contract",
                slurps.join(" → ")
            ),
        })
        .collect())
}
