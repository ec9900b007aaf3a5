//! Steps and plans: what the engine will do, and why.

use std::fmt;

use ankyra_catalog::Jump;
use serde::Serialize;

/// What a step does to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Start a component that does not run yet.
    Create,
    /// Replace every instance (new version, image or config).
    Replace,
    /// Change the number of instances only.
    Scale,
    /// Replace unhealthy instances with the same bits.
    Repair,
    /// Stop and remove a component the record no longer has.
    Remove,
}

/// How instances are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Start the new instance beside the old one, gate it, switch the load balancer, drain the old.
    StartFirst,
    /// Stop the old instance, then start the new one (stateful infrastructure, workers).
    StopFirst,
}

/// One reason a component changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    /// The component is new.
    Added,
    /// The record no longer has it.
    Removed,
    /// Its version changes.
    Version {
        /// Running version ("?" when unknown).
        from: String,
        /// Wanted version.
        to: String,
        /// What upstream calls the jump.
        jump: Jump,
    },
    /// Its image changes.
    Image {
        /// Running image.
        from: String,
        /// Wanted image.
        to: String,
    },
    /// Its configuration changes.
    Config {
        /// Files the record overrides now.
        files: Vec<String>,
    },
    /// Its instance count changes.
    Replicas {
        /// Running instances.
        from: u32,
        /// Wanted instances.
        to: u32,
    },
    /// Some instances fail their health probe.
    Unhealthy {
        /// Healthy instances.
        healthy: u32,
        /// Running instances.
        instances: u32,
    },
    /// The step runs in the reverse of the upgrade order: going back, the
    /// components that depend on this one change first.
    RollbackOrder,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added => f.write_str("new component"),
            Change::Removed => f.write_str("not in the record"),
            Change::Version { from, to, jump } => {
                write!(f, "{from} → {to}")?;
                match jump {
                    Jump::Downgrade => f.write_str(" (downgrade)"),
                    Jump::NextRelease => f.write_str(" (next release)"),
                    Jump::Slurp => f.write_str(" (SLURP skip-level)"),
                    Jump::Point | Jump::None => Ok(()),
                }
            }
            Change::Image { .. } => f.write_str("image changed"),
            Change::Config { files } if files.is_empty() => f.write_str("config changed"),
            Change::Config { files } => write!(f, "config changed ({})", files.join(", ")),
            Change::Replicas { from, to } => write!(f, "replicas {from} → {to}"),
            Change::Unhealthy { healthy, instances } => {
                write!(f, "{healthy} of {instances} instances healthy")
            }
            Change::RollbackOrder => f.write_str("rollback: reverse of the upgrade order"),
        }
    }
}

/// The order replacements run in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Dependencies first (the upgrade order): keystone, then glance,
    /// placement, neutron, then nova conductor → scheduler → api → compute.
    #[default]
    Upgrade,
    /// The reverse, for going back a whole cloud: nova compute → api →
    /// scheduler → conductor, then neutron, glance, placement, keystone last,
    /// so no component ever runs beside dependencies newer than it was
    /// tested with. Creates still come first, in dependency order.
    Rollback,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The component it changes.
    pub component: String,
    /// Its service.
    pub service: String,
    /// What it does.
    pub kind: StepKind,
    /// How instances are replaced (None for create and remove).
    pub strategy: Option<Strategy>,
    /// The version after the step (None for remove).
    pub version: Option<String>,
    /// The image after the step (None for remove).
    pub image: Option<String>,
    /// Instances after the step.
    pub replicas: u32,
    /// Why.
    pub changes: Vec<Change>,
    /// What it does to running guests, when it touches them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guests: Option<ankyra_catalog::GuestEffect>,
}

impl Step {
    /// Whether the step runs in the reverse of the upgrade order.
    pub fn is_reversed(&self) -> bool {
        self.changes.contains(&Change::RollbackOrder)
    }

    /// The reason as one line: `keystone: 27.1.0 → 30.0.0, image changed`.
    pub fn reason(&self) -> String {
        let parts: Vec<String> = self.changes.iter().map(ToString::to_string).collect();
        format!("{}: {}", self.component, parts.join(", "))
    }
}

/// A component the plan leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unchanged {
    /// The component.
    pub component: String,
    /// The version it runs.
    pub version: String,
}

/// An ordered list of steps, and what stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The cloud.
    pub cloud: String,
    /// Steps in the order the engine runs them.
    pub steps: Vec<Step>,
    /// Components that need nothing.
    pub unchanged: Vec<Unchanged>,
    /// Guests running on the cloud's computes, when the engine was asked
    /// (None: offline, or no libvirt runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_guests: Option<u32>,
}

impl Plan {
    /// The steps that cannot keep running guests.
    pub fn stops_guests(&self) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|s| s.guests.is_some_and(|g| !g.kept))
            .collect()
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
