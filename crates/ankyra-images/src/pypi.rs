//! OpenStack images from PyPI, in two layers on the base:
//!
//! 1. `ankyra/<service>-libs:<release>-<hash>`: a venv at `/opt/openstack`
//!    with every library the service needs, pinned by the release's
//!    constraints (plus the recipe's Debian packages). Shared by every version
//!    of the service in that release.
//! 2. the service itself (`ankyra/<service>:<version>`), installed on top;
//!    libraries a point release adds come along, pinned the same way. A point
//!    release is a small layer.
//!
//! Wheels come from the host's cache through a read-only bind mount, so no
//! layer holds them.

use std::path::Path;

use ankyra_runtime::{BindMount, CommitOptions, Docker};

use crate::error::ImageError;
use crate::labels::Labels;
use crate::step::Step;
use crate::wheels::normalize;

/// Where the venv lives in every OpenStack image.
pub const VENV: &str = "/opt/openstack";

/// The environment of OpenStack images: the venv's commands come first.
pub(crate) fn env() -> Vec<String> {
    vec![
        format!("PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        format!("VIRTUAL_ENV={VENV}"),
    ]
}

/// What both layers mount: the wheel cache and the step's scratch folder.
fn binds(wheels: &Path, scratch: &Path) -> Vec<BindMount> {
    vec![
        BindMount {
            source: wheels.display().to_string(),
            target: "/wheels".into(),
            read_only: true,
        },
        BindMount {
            source: scratch.display().to_string(),
            target: "/build".into(),
            read_only: true,
        },
    ]
}

/// Inputs of the libraries layer.
pub(crate) struct LibsLayer<'a> {
    pub reference: &'a str,
    pub service: &'a str,
    pub release: &'a str,
    pub hash: &'a str,
    pub debs: &'a [&'a str],
    /// `name==version` of every library (the service excluded).
    pub libs: &'a [(String, String)],
}

/// Builds the libraries layer from `base`; returns its temporary reference.
pub(crate) async fn build_libs(
    docker: &Docker,
    layer: &LibsLayer<'_>,
    base: &str,
    wheels: &Path,
    scratch: &Path,
) -> Result<String, ImageError> {
    let list: String = layer
        .libs
        .iter()
        .map(|(n, v)| format!("{n}=={v}\n"))
        .collect();
    let file = scratch.join("libs.txt");
    std::fs::write(&file, list).map_err(ImageError::io(&file))?;
    let mut script = String::from("export DEBIAN_FRONTEND=noninteractive\n");
    if !layer.debs.is_empty() {
        script.push_str(&crate::debian::script(layer.debs));
    }
    // --no-deps: the list is already the full, pinned closure; --no-cache-dir
    // keeps pip's cache out of the layer.
    script.push_str(&format!(
        "python3 -m venv {VENV}\n\
         {VENV}/bin/pip install -q --disable-pip-version-check --no-cache-dir --no-index \
         --find-links /wheels --no-deps -r /build/libs.txt\n"
    ));
    // Debian's Python bindings (python3-libvirt: built against Debian's
    // libvirt, which PyPI's sdist would need a compiler for) are seen by the
    // venv through links to their top-level modules only.
    for deb in layer.debs.iter().filter(|d| d.starts_with("python3-")) {
        script.push_str(&format!(
            "for f in $(dpkg -L {deb} | grep -E '^/usr/lib/python3/dist-packages/[^/]+$'); do \
             ln -sf \"$f\" {VENV}/lib/python3.11/site-packages/; done\n"
        ));
    }
    let component = format!("{}-libs", layer.service);
    let source = "https://pypi.org/";
    let labels = Labels {
        role: "libs",
        reference: layer.reference,
        component: &component,
        service: layer.service,
        version: layer.release,
        release: layer.release,
        source,
        hash: layer.hash,
    }
    .build();
    Step {
        image: layer.reference,
        what: "install libraries",
        from: base,
        script,
        binds: binds(wheels, scratch),
        commit: CommitOptions {
            labels,
            healthcheck: Some(vec!["NONE".into()]),
            cmd: Some(vec!["/bin/bash".into()]),
            env: env(),
            comment: Some(format!(
                "ankyra: {} libraries of {}",
                layer.service, layer.release
            )),
            ..Default::default()
        },
    }
    .run(docker)
    .await
}

/// Inputs of the service layer.
pub(crate) struct ServiceLayer<'a> {
    pub recipe: &'a ankyra_catalog::ImageRecipe,
    pub package: &'a str,
    pub release: &'a str,
    pub extras: &'a [&'a str],
    pub hash: &'a str,
    /// The release's constraints without the service's own pin.
    pub constraints: &'a str,
}

/// Installs the service on its libraries layer; returns its temporary reference.
pub(crate) async fn build_service(
    docker: &Docker,
    layer: &ServiceLayer<'_>,
    libs: &str,
    wheels: &Path,
    scratch: &Path,
) -> Result<String, ImageError> {
    let recipe = layer.recipe;
    let reference = recipe.reference();
    let file = scratch.join("constraints.txt");
    std::fs::write(&file, layer.constraints).map_err(ImageError::io(&file))?;
    let mut reqs = vec![format!("{}=={}", layer.package, recipe.version)];
    reqs.extend(layer.extras.iter().map(|e| e.to_string()));
    // The service's own unit tests (keystone/tests and the like) never run in
    // an image, yet with their .pyc they are about half of the service: drop
    // them so a point release stays a small layer (keystone: 15.5 MB with them).
    let prune = format!(
        "import importlib.metadata as m, pathlib, shutil\n\
         d = m.distribution('{name}')\n\
         print(d.metadata['Name'], d.version)\n\
         for top in {{pathlib.PurePath(f).parts[0] for f in d.files or [] if len(pathlib.PurePath(f).parts) > 1}}:\n    \
         tests = pathlib.Path(d.locate_file(top)) / 'tests'\n    \
         if not top.endswith(('.dist-info', '.data')) and tests.is_dir(): shutil.rmtree(tests)\n",
        name = normalize(layer.package)
    );
    let prune_file = scratch.join("prune.py");
    std::fs::write(&prune_file, prune).map_err(ImageError::io(&prune_file))?;
    // The libraries layer already holds the pinned closure: install the service
    // alone (a full resolve against a folder of many versions can backtrack for
    // many minutes) and add only what `pip check` says is missing (a point release's new
    // dependency; environment markers the host's Python judged otherwise).
    let script = format!(
        "pip_install() {{ {VENV}/bin/pip install -q --disable-pip-version-check --no-cache-dir --no-index \
         --find-links /wheels -c /build/constraints.txt \"$@\"; }}\n\
         pip_install --no-deps {reqs}\n\
         if ! {VENV}/bin/pip check >/tmp/pip-check 2>&1; then cat /tmp/pip-check; \
         missing=$(sed -n 's/.* requires \\([^,]*\\), which is not installed\\./\\1/p' /tmp/pip-check | sort -u); \
         if [ -n \"$missing\" ]; then pip_install $missing || echo \"warning: cannot install $missing\"; fi; fi\n\
         {VENV}/bin/python /build/prune.py\n",
        reqs = reqs.join(" ")
    );
    let source = format!(
        "https://pypi.org/project/{}/{}/",
        layer.package, recipe.version
    );
    let labels = Labels {
        role: "service",
        reference: &reference,
        component: recipe.service,
        service: recipe.service,
        version: &recipe.version,
        release: layer.release,
        source: &source,
        hash: layer.hash,
    }
    .build();
    Step {
        image: &reference,
        what: "install the service",
        from: libs,
        script,
        binds: binds(wheels, scratch),
        commit: CommitOptions {
            labels,
            healthcheck: Some(recipe.healthcheck.clone()),
            cmd: Some(vec!["/bin/bash".into()]),
            env: env(),
            comment: Some(format!("ankyra: {}=={}", layer.package, recipe.version)),
            ..Default::default()
        },
    }
    .run(docker)
    .await
}
