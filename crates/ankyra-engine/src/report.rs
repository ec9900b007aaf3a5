//! Progress events: the CLI draws them, the server streams them, tests record them.

use serde::Serialize;

/// Something the engine did or is doing.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A plan was made.
    Planned {
        /// Steps to run.
        steps: usize,
    },
    /// A step started.
    StepStarted {
        /// The component.
        component: String,
        /// What it does.
        action: String,
    },
    /// Progress inside a step.
    Progress {
        /// The component.
        component: String,
        /// What happens.
        message: String,
    },
    /// A step ended well.
    StepDone {
        /// The component.
        component: String,
        /// Seconds it took.
        seconds: f64,
    },
    /// A step failed.
    StepFailed {
        /// The component.
        component: String,
        /// Why.
        reason: String,
    },
}

/// Receives progress events.
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: Event);
}

/// Ignores every event.
pub struct NoReporter;

impl Reporter for NoReporter {
    fn event(&self, _event: Event) {}
}
