//! Lookups over every service: by component, dependency order, version jumps.

use std::collections::BTreeMap;

use ankyra_model::Version;

use crate::release::{release_index, RELEASES};
use crate::types::{ComponentDef, Service};
use crate::ALL;

/// Errors of catalog lookups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The component is not in the catalog.
    #[error("unknown component `{name}`")]
    UnknownComponent {
        /// What was asked for.
        name: String,
    },
    /// The version is not known for the service.
    #[error("unknown {service} version `{version}`")]
    UnknownVersion {
        /// The service.
        service: String,
        /// The version asked for.
        version: String,
    },
    /// Upstream does not support this jump.
    #[error("{service} {from} → {to} skips releases upstream cannot upgrade across ({from_release} → {to_release})")]
    UnsupportedJump {
        /// The service.
        service: String,
        /// Running version.
        from: String,
        /// Wanted version.
        to: String,
        /// Series of `from`.
        from_release: String,
        /// Series of `to`.
        to_release: String,
    },
    /// The `after` relation has a cycle (a bug in the catalog's data).
    #[error("the catalog's order has a cycle through `{component}`")]
    Cycle {
        /// A component on the cycle.
        component: String,
    },
}

/// What a version change is, as upstream sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jump {
    /// Same version.
    None,
    /// A point release inside one series (security and bug fixes).
    Point,
    /// The next series (N → N+1).
    NextRelease,
    /// SLURP to the next SLURP (skip-level).
    Slurp,
    /// Back to an older version (a rollback: code-only until contract).
    Downgrade,
}

/// The catalog: every service in [`ALL`], indexed.
pub struct Catalog {
    by_component: BTreeMap<&'static str, (&'static ComponentDef, &'static dyn Service)>,
    order: Vec<&'static str>,
}

impl Catalog {
    /// Builds the index and the dependency order; fails only on a cycle in the data.
    pub fn new() -> Result<Catalog, CatalogError> {
        let mut by_component = BTreeMap::new();
        for svc in ALL {
            for c in svc.components() {
                by_component.insert(c.name, (c, *svc));
            }
        }
        let order = topo_order(&by_component)?;
        Ok(Catalog {
            by_component,
            order,
        })
    }

    /// The shared catalog.
    pub fn get() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        // The data is compiled in and tested for cycles (`order_has_no_cycle`).
        CATALOG.get_or_init(|| Catalog::new().expect("the catalog's order has no cycle"))
    }

    /// A component and its service.
    pub fn component(
        &self,
        name: &str,
    ) -> Result<(&'static ComponentDef, &'static dyn Service), CatalogError> {
        self.by_component
            .get(name)
            .copied()
            .ok_or_else(|| CatalogError::UnknownComponent { name: name.into() })
    }

    /// Every component name, in dependency order.
    pub fn component_names(&self) -> &[&'static str] {
        &self.order
    }

    /// A service by name.
    pub fn service(&self, name: &str) -> Option<&'static dyn Service> {
        ALL.iter().copied().find(|s| s.name() == name)
    }

    /// The position of a component in the dependency order (lower goes first).
    pub fn rank(&self, component: &str) -> usize {
        self.order
            .iter()
            .position(|c| *c == component)
            .unwrap_or(usize::MAX)
    }

    /// Classifies `from → to` for a service and refuses jumps upstream does not support.
    pub fn check_jump(
        &self,
        service: &dyn Service,
        from: &Version,
        to: &Version,
    ) -> Result<Jump, CatalogError> {
        if from == to {
            return Ok(Jump::None);
        }
        if to < from {
            return Ok(Jump::Downgrade);
        }
        let (Some(fr), Some(tr)) = (service.release_of(from), service.release_of(to)) else {
            // Versions outside the table (custom images) are the operator's call.
            return Ok(Jump::Point);
        };
        if fr == tr {
            return Ok(Jump::Point);
        }
        match (release_index(fr), release_index(tr)) {
            (Some(a), Some(b)) if b == a + 1 => Ok(Jump::NextRelease),
            (Some(a), Some(b)) if b == a + 2 && RELEASES[a].slurp && RELEASES[b].slurp => {
                Ok(Jump::Slurp)
            }
            (None, None) => Ok(Jump::Point),
            _ => Err(CatalogError::UnsupportedJump {
                service: service.name().into(),
                from: from.to_string(),
                to: to.to_string(),
                from_release: fr.into(),
                to_release: tr.into(),
            }),
        }
    }
}

fn topo_order(
    by_component: &BTreeMap<&'static str, (&'static ComponentDef, &'static dyn Service)>,
) -> Result<Vec<&'static str>, CatalogError> {
    // Kahn's algorithm; ties broken by the order of ALL, so the result is stable.
    let mut declared: Vec<&'static str> = Vec::new();
    for svc in ALL {
        for c in svc.components() {
            declared.push(c.name);
        }
    }
    let mut done: Vec<&'static str> = Vec::new();
    while done.len() < declared.len() {
        let next = declared.iter().copied().find(|name| {
            !done.contains(name)
                && by_component[name]
                    .0
                    .after
                    .iter()
                    .all(|dep| done.contains(dep) || !by_component.contains_key(dep))
        });
        match next {
            Some(n) => done.push(n),
            None => {
                let stuck = declared
                    .iter()
                    .find(|n| !done.contains(n))
                    .copied()
                    .unwrap_or("?");
                return Err(CatalogError::Cycle {
                    component: stuck.into(),
                });
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().expect("valid")
    }

    #[test]
    fn order_has_no_cycle_and_respects_after() {
        let c = Catalog::new().expect("no cycle");
        for name in c.component_names() {
            let (def, _) = c.component(name).expect("known");
            for dep in def.after {
                assert!(c.rank(dep) < c.rank(name), "{dep} before {name}");
            }
        }
        let r = |n| c.rank(n);
        assert!(r("mariadb") < r("keystone"));
        assert!(r("keystone") < r("glance"));
        assert!(r("nova-conductor") < r("nova-scheduler"));
        assert!(r("nova-scheduler") < r("nova-api"));
        assert!(r("nova-api") < r("nova-compute"));
    }

    #[test]
    fn keystone_jump_table() {
        let c = Catalog::get();
        let k = c.service("keystone").expect("keystone");
        let cases = [
            ("27.0.2", "27.1.0", Ok(Jump::Point)),
            ("27.1.0", "28.1.0", Ok(Jump::NextRelease)),
            ("27.1.0", "29.1.0", Ok(Jump::Slurp)),
            ("28.1.0", "29.1.0", Ok(Jump::NextRelease)),
            ("29.1.0", "27.1.0", Ok(Jump::Downgrade)),
            ("30.0.0", "30.0.0", Ok(Jump::None)),
        ];
        for (from, to, want) in cases {
            assert_eq!(c.check_jump(k, &v(from), &v(to)), want, "{from} → {to}");
        }
        assert!(c.check_jump(k, &v("27.1.0"), &v("30.0.0")).is_err());
        assert!(c.check_jump(k, &v("28.1.0"), &v("30.0.0")).is_err());
    }
}
