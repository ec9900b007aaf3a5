//! OpenStack release series, in order, and which are SLURP releases
//! (upstream supports skipping from one SLURP to the next).

use serde::Serialize;

/// An OpenStack release series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Release {
    /// `2026.1`.
    pub name: &'static str,
    /// Its code name.
    pub codename: &'static str,
    /// Whether it is a SLURP release.
    pub slurp: bool,
}

/// Every release series Ankyra knows, oldest first.
pub static RELEASES: &[Release] = &[
    Release {
        name: "2025.1",
        codename: "Epoxy",
        slurp: true,
    },
    Release {
        name: "2025.2",
        codename: "Flamingo",
        slurp: false,
    },
    Release {
        name: "2026.1",
        codename: "Gazpacho",
        slurp: true,
    },
    Release {
        name: "2026.2",
        codename: "",
        slurp: false,
    },
];

/// The release a new record uses by default.
pub const DEFAULT_RELEASE: &str = "2026.2";

/// The position of a release in [`RELEASES`].
pub fn release_index(name: &str) -> Option<usize> {
    RELEASES.iter().position(|r| r.name == name)
}
