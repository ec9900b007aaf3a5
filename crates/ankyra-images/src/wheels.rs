//! Python wheels, fetched on the host: containers cannot reach PyPI here
//! (TLS fails inside them), and air-gapped sites work the same way. One wheel
//! cache serves every build; builds install from it with `--no-index`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ImageError;
use crate::{host, BuildOptions};

/// The constraints files in `images/constraints/`, compiled in so the binary
/// builds the same images wherever it runs. `BuildOptions::constraints_dir`
/// overrides them.
const CONSTRAINTS: &[(&str, &str)] = &[
    (
        "2025.1",
        include_str!("../../../images/constraints/2025.1.txt"),
    ),
    (
        "2025.2",
        include_str!("../../../images/constraints/2025.2.txt"),
    ),
    (
        "2026.1",
        include_str!("../../../images/constraints/2026.1.txt"),
    ),
    (
        "2026.2",
        include_str!("../../../images/constraints/2026.2.txt"),
    ),
];

/// The pinned library versions of a release series: `name==version` lines.
pub(crate) fn constraints(opts: &BuildOptions, release: &str) -> Result<String, ImageError> {
    if let Some(dir) = &opts.constraints_dir {
        let path = dir.join(format!("{release}.txt"));
        if path.exists() {
            return std::fs::read_to_string(&path).map_err(ImageError::io(path));
        }
    }
    CONSTRAINTS
        .iter()
        .find(|(r, _)| *r == release)
        .map(|(_, text)| text.to_string())
        .ok_or_else(|| ImageError::UnknownRelease {
            release: release.into(),
            known: CONSTRAINTS
                .iter()
                .map(|(r, _)| *r)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// PEP 503 normalized name: `oslo.db` and `oslo_db` are `oslo-db`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `constraints` without the line pinning `package`, so another version of
/// the service itself can be installed with the same libraries.
pub(crate) fn without(constraints: &str, package: &str) -> String {
    let target = normalize(package);
    constraints
        .lines()
        .filter(|l| l.split("==").next().map(|n| normalize(n.trim())) != Some(target.clone()))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[derive(Deserialize)]
struct Report {
    install: Vec<ReportItem>,
}
#[derive(Deserialize)]
struct ReportItem {
    metadata: ReportMetadata,
}
#[derive(Deserialize)]
struct ReportMetadata {
    name: String,
    version: String,
}

/// Makes sure the wheel cache holds everything `requirements` needs under
/// `constraints_file`, fetching from PyPI only when something is missing, and
/// returns the resolved set (`name`, `version`).
pub(crate) async fn ensure_wheels(
    opts: &BuildOptions,
    constraints_file: &Path,
    requirements: &[String],
    scratch: &Path,
) -> Result<Vec<(String, String)>, ImageError> {
    let wheels = wheel_dir(opts)?;
    let report = scratch.join("report.json");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        a.extend([
            "--disable-pip-version-check".into(),
            "-c".into(),
            constraints_file.display().to_string(),
        ]);
        a.extend(requirements.iter().cloned());
        a
    };
    let offline = common(&[
        "-m",
        "pip",
        "install",
        "-q",
        "--dry-run",
        "--ignore-installed",
        "--no-index",
        "--find-links",
        &wheels.display().to_string(),
        "--report",
        &report.display().to_string(),
    ]);
    if host::run(&opts.python, &offline, None).await.is_err() {
        // Something is missing: let pip fetch (or build, for sdist-only
        // packages) exactly the pinned versions into the cache.
        let fetch = common(&[
            "-m",
            "pip",
            "wheel",
            "-q",
            "--wheel-dir",
            &wheels.display().to_string(),
        ]);
        host::run(&opts.python, &fetch, None).await?;
        host::run(&opts.python, &offline, None).await?;
    }
    let text = std::fs::read_to_string(&report).map_err(ImageError::io(&report))?;
    let parsed: Report = serde_json::from_str(&text).map_err(|source| ImageError::PipReport {
        path: report,
        source,
    })?;
    Ok(parsed
        .install
        .into_iter()
        .map(|i| (i.metadata.name, i.metadata.version))
        .collect())
}

/// The shared wheel cache, `<cache>/wheels`.
pub(crate) fn wheel_dir(opts: &BuildOptions) -> Result<PathBuf, ImageError> {
    let dir = opts.cache_dir.join("wheels");
    std::fs::create_dir_all(&dir).map_err(ImageError::io(&dir))?;
    Ok(dir)
}

/// Checks the host's Python is 3.11, the ABI of bookworm's python3.
pub(crate) async fn check_python(opts: &BuildOptions) -> Result<(), ImageError> {
    let args = [
        "-c".to_string(),
        "import sys; print('%d.%d' % sys.version_info[:2])".into(),
    ];
    let found = host::run(&opts.python, &args, None)
        .await?
        .trim()
        .to_string();
    if found != "3.11" {
        return Err(ImageError::HostPythonMismatch {
            python: opts.python.clone(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_like_pip() {
        assert_eq!(normalize("oslo.db"), "oslo-db");
        assert_eq!(normalize("Oslo__DB"), "oslo-db");
    }

    #[test]
    fn without_drops_only_the_service_line() {
        let c = "# x\nkeystone==27.1.0\nkeystoneauth1==5.10.0\n";
        assert_eq!(without(c, "keystone"), "# x\nkeystoneauth1==5.10.0\n");
    }

    #[test]
    fn every_release_has_constraints_with_the_extras() {
        for (release, text) in CONSTRAINTS {
            for extra in ["gunicorn", "pymysql", "python-memcached"] {
                assert!(
                    text.lines()
                        .any(|l| l.split("==").next().map(normalize).as_deref() == Some(extra)),
                    "{release} lacks {extra}"
                );
            }
        }
    }
}
