//! The labels every Ankyra image carries. `io.ankyra.role` tells final images
//! (`service`) from the shared layers under them (`base`, `libs`).

use std::collections::HashMap;

use time::format_description::well_known::Rfc3339;

/// OCI: the version of the packaged software.
pub const VERSION: &str = "org.opencontainers.image.version";
/// OCI: where the software comes from (PyPI or Debian page).
pub const SOURCE: &str = "org.opencontainers.image.source";
/// OCI: when the image was built (RFC 3339).
pub const CREATED: &str = "org.opencontainers.image.created";
/// OCI: a human-readable title (the reference).
pub const TITLE: &str = "org.opencontainers.image.title";
/// The component (process kind) this image is for; for shared layers, what they are.
pub const COMPONENT: &str = "io.ankyra.component";
/// The catalog service, e.g. `keystone`.
pub const SERVICE: &str = "io.ankyra.service";
/// The OpenStack release series (or `debian-12` for infrastructure).
pub const RELEASE: &str = "io.ankyra.release";
/// The hash of everything the image was built from; same hash, same image.
pub const RECIPE_HASH: &str = "io.ankyra.recipe-hash";
/// `base`, `libs` or `service`.
pub const ROLE: &str = "io.ankyra.role";

/// The full label set. Every image sets every key, so nothing stale is
/// inherited from the image below (commits merge labels over the parent's).
pub(crate) struct Labels<'a> {
    pub role: &'a str,
    pub reference: &'a str,
    pub component: &'a str,
    pub service: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub source: &'a str,
    pub hash: &'a str,
}

impl Labels<'_> {
    pub(crate) fn build(&self) -> HashMap<String, String> {
        let created = time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        [
            (ROLE, self.role),
            (TITLE, self.reference),
            (COMPONENT, self.component),
            (SERVICE, self.service),
            (VERSION, self.version),
            (RELEASE, self.release),
            (SOURCE, self.source),
            (RECIPE_HASH, self.hash),
            (CREATED, created.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}
