//! Observed state: what runs, as the runtime reports it (or as a stored
//! revision says it should run, when comparing revisions).

use std::collections::BTreeMap;

use ankyra_catalog::ComponentKind;
use ankyra_model::Version;
use serde::Serialize;

use crate::Desired;

/// One component as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedComponent {
    /// How it is replaced.
    pub kind: ComponentKind,
    /// Position in the catalog's dependency order.
    pub rank: usize,
    /// The version its instances run (None when unknown, e.g. a foreign image).
    pub version: Option<Version>,
    /// The image its instances run.
    pub image: String,
    /// Running instances.
    pub instances: u32,
    /// Instances that pass their health probe.
    pub healthy: u32,
    /// Hash of the configuration the instances were started with.
    pub config_hash: String,
}

/// A whole cloud as it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// Components by name.
    pub components: BTreeMap<String, ObservedComponent>,
}

impl Observed {
    /// Nothing runs.
    pub fn empty() -> Observed {
        Observed::default()
    }

    /// Everything runs exactly as `desired` asks, all healthy.
    pub fn from_desired(desired: &Desired) -> Observed {
        Observed {
            components: desired
                .components
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        ObservedComponent {
                            kind: c.kind,
                            rank: c.rank,
                            version: Some(c.version.clone()),
                            image: c.image.clone(),
                            instances: c.replicas,
                            healthy: c.replicas,
                            config_hash: c.config_hash.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}
