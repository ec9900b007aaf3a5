//! Progress events, for the CLI's bars, the server's stream and tests.

use serde::Serialize;

use crate::BuiltImage;

/// One thing that happened during a build.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ImageEvent {
    /// Work on an image (final or intermediate) started.
    Started {
        /// `repository:tag`.
        reference: String,
    },
    /// A step of that work started (`mmdebstrap`, `fetch wheels`, `install`, `commit`).
    Step {
        /// `repository:tag`.
        reference: String,
        /// What the step does.
        step: String,
    },
    /// An image is ready, built now or found with the same recipe hash.
    Done {
        /// The result.
        image: BuiltImage,
    },
    /// The build of an image failed.
    Failed {
        /// `repository:tag`.
        reference: String,
        /// The error, rendered.
        error: String,
    },
}

/// Receives [`ImageEvent`]s. Called from the build's tasks: keep it quick.
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: ImageEvent);
}

/// A reporter that drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {
    fn event(&self, _event: ImageEvent) {}
}

impl<F: Fn(ImageEvent) + Send + Sync> Reporter for F {
    fn event(&self, event: ImageEvent) {
        self(event)
    }
}
