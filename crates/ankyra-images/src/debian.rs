//! Infrastructure images (mariadb, memcached, rabbitmq, haproxy): Debian
//! packages installed by apt in one container step on the base image, so they
//! share the base layer and add one layer each.

use ankyra_catalog::ImageRecipe;
use ankyra_runtime::{CommitOptions, Docker};

use crate::error::ImageError;
use crate::labels::Labels;
use crate::step::Step;

/// The apt step: one layer with the packages, without apt's lists and cache.
pub(crate) fn script(packages: &[&str]) -> String {
    format!(
        "export DEBIAN_FRONTEND=noninteractive\n\
         apt-get update -qq\n\
         apt-get install -y -qq --no-install-recommends {} >/dev/null\n\
         apt-get clean\n\
         rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old\n",
        packages.join(" ")
    )
}

/// Builds the image of `recipe` from `base`; returns its temporary reference.
pub(crate) async fn build(
    docker: &Docker,
    recipe: &ImageRecipe,
    packages: &[&str],
    base: &str,
    hash: &str,
) -> Result<String, ImageError> {
    let reference = recipe.reference();
    let source = format!(
        "https://packages.debian.org/{}/{}",
        crate::base::SUITE,
        packages.first().copied().unwrap_or(recipe.service)
    );
    let labels = Labels {
        role: "service",
        reference: &reference,
        component: recipe.service,
        service: recipe.service,
        version: &recipe.version,
        release: "debian-12",
        source: &source,
        hash,
    }
    .build();
    Step {
        image: &reference,
        what: "apt-get install",
        from: base,
        script: script(packages),
        binds: vec![],
        commit: CommitOptions {
            labels,
            healthcheck: Some(recipe.healthcheck.clone()),
            cmd: Some(vec!["/bin/bash".into()]),
            comment: Some(format!("ankyra: apt-get install {}", packages.join(" "))),
            ..Default::default()
        },
    }
    .run(docker)
    .await
}
