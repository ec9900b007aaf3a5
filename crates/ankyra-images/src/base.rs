//! The base image: a Debian bookworm root file system made by mmdebstrap on the
//! host (nothing can be pulled here) and imported into the engine. Every other
//! image starts from it, so they share its layer.

use std::path::{Path, PathBuf};

use ankyra_runtime::Docker;
use tracing::info;

use crate::error::ImageError;
use crate::{host, recipe_hash, BuildOptions};

/// The Debian suite of every image.
pub const SUITE: &str = "bookworm";
/// Repository of the base image; its tag is `bookworm-<hash>`.
pub const BASE_REPOSITORY: &str = "ankyra/base";

/// What the base holds: Python for the OpenStack venvs and the Python health
/// checks, CA certificates, libpython (for WSGI servers that embed Python),
/// procps (ps/pgrep for operators).
const PACKAGES: &[&str] = &[
    "python3",
    "python3-venv",
    "ca-certificates",
    "libpython3.11",
    "procps",
];

/// Documentation is dead weight in a container; copyright files stay.
const DPKG_OPTIONS: &[&str] = &[
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
];

/// The base recipe's hash: changes when packages, options or mirror change.
pub(crate) fn base_hash(opts: &BuildOptions) -> String {
    recipe_hash(&serde_json::json!({
        "suite": SUITE,
        "variant": "apt",
        "packages": PACKAGES,
        "dpkg": DPKG_OPTIONS,
        "mirror": opts.debian_mirror,
        "security": opts.debian_security_mirror,
    }))
}

/// `ankyra/base:bookworm-<hash>`.
pub(crate) fn base_reference(opts: &BuildOptions) -> String {
    format!("{BASE_REPOSITORY}:{SUITE}-{}", &base_hash(opts)[..12])
}

/// Makes sure the base image exists; returns its reference. The root file
/// system tar is cached, so a removed image comes back with a quick import.
pub(crate) async fn ensure_base(
    docker: &Docker,
    opts: &BuildOptions,
) -> Result<String, ImageError> {
    let reference = base_reference(opts);
    if docker
        .inspect_image(&reference)
        .await
        .map_err(ImageError::docker(&reference))?
        .is_some()
    {
        return Ok(reference);
    }
    let hash = base_hash(opts);
    let dir = opts.cache_dir.join("base");
    std::fs::create_dir_all(&dir).map_err(ImageError::io(&dir))?;
    let tar = dir.join(format!("{SUITE}-{}.tar", &hash[..12]));
    if !tar.exists() {
        debootstrap(opts, &tar).await?;
    }
    let bytes = tokio::fs::read(&tar).await.map_err(ImageError::io(&tar))?;
    let (repo, tag) = reference
        .rsplit_once(':')
        .unwrap_or((BASE_REPOSITORY, "latest"));
    let labels = [
        format!(
            "LABEL {}=base {}={} {}={SUITE}",
            crate::labels::ROLE,
            crate::labels::RECIPE_HASH,
            hash,
            crate::labels::RELEASE
        ),
        format!(
            "LABEL {}=https://www.debian.org/releases/{SUITE}/",
            crate::labels::SOURCE
        ),
    ];
    let changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        "CMD [\"/bin/bash\"]",
        labels[0].as_str(),
        labels[1].as_str(),
    ];
    docker
        .import_rootfs(bytes.into(), repo, tag, &changes)
        .await
        .map_err(ImageError::docker(&reference))?;
    info!(%reference, "imported the base image");
    Ok(reference)
}

/// Runs mmdebstrap into `out` (through a temporary file, so a crash never
/// leaves a truncated tar that looks cached).
async fn debootstrap(opts: &BuildOptions, out: &Path) -> Result<(), ImageError> {
    ensure_mmdebstrap(opts).await?;
    // mmdebstrap picks the output format from the name: keep `.tar` last.
    let partial = PathBuf::from(format!("{}.partial.tar", out.display()));
    let _ = std::fs::remove_file(&partial);
    let mut args = vec![
        "--variant=apt".to_string(),
        "--quiet".into(),
        format!("--include={}", PACKAGES.join(",")),
        "--aptopt=Acquire::Retries \"3\"".into(),
        // Keep the policy that stops package scripts from starting services:
        // infrastructure packages are installed in containers without init.
        "--customize-hook=printf '#!/bin/sh\\nexit 101\\n' > \"$1/usr/sbin/policy-rc.d\"; chmod 755 \"$1/usr/sbin/policy-rc.d\"".into(),
    ];
    args.extend(DPKG_OPTIONS.iter().map(|o| format!("--dpkgopt={o}")));
    args.push(SUITE.into());
    args.push(partial.display().to_string());
    args.push(format!("deb {} {SUITE} main", opts.debian_mirror));
    args.push(format!("deb {} {SUITE}-updates main", opts.debian_mirror));
    args.push(format!(
        "deb {} {SUITE}-security main",
        opts.debian_security_mirror
    ));
    host::run("mmdebstrap", &args, None).await?;
    std::fs::rename(&partial, out).map_err(ImageError::io(out))?;
    Ok(())
}

/// mmdebstrap is a host tool: install it with scripts/ensure-host-deps.sh when
/// allowed, else explain.
async fn ensure_mmdebstrap(opts: &BuildOptions) -> Result<(), ImageError> {
    if host::on_path("mmdebstrap") {
        return Ok(());
    }
    if let Some(script) = &opts.host_deps_script {
        host::run("bash", &[script.display().to_string()], None).await?;
        if host::on_path("mmdebstrap") {
            return Ok(());
        }
    }
    Err(ImageError::HostToolMissing {
        tool: "mmdebstrap",
        package: "mmdebstrap",
    })
}
