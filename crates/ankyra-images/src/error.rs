//! What can go wrong building images.

use std::path::PathBuf;

use ankyra_runtime::DockerError;

/// A failed image build or listing. Variants name the image and the step.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A Docker Engine call failed while working on `image`.
    #[error("Docker failed while building {image}")]
    Docker {
        /// The image being built (or listed).
        image: String,
        /// The engine call that failed (boxed: it is large, errors are rare).
        #[source]
        source: Box<DockerError>,
    },
    /// A command run inside a build container exited non-zero. `output` holds
    /// its last lines.
    #[error("step `{step}` of {image} exited with status {exit_code}; its last output:\n{output}")]
    StepFailed {
        /// The image being built.
        image: String,
        /// What the step does.
        step: String,
        /// The container's exit code.
        exit_code: i64,
        /// The last lines the step printed.
        output: String,
    },
    /// A host tool is missing and could not be installed.
    #[error("host tool `{tool}` is missing; run scripts/ensure-host-deps.sh as root (apt-get install {package})")]
    HostToolMissing {
        /// The command.
        tool: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A host command could not be started.
    #[error("cannot run `{command}` on the host")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// A host command (mmdebstrap, pip) failed.
    #[error("`{command}` failed with {status}; its last output:\n{output}")]
    HostCommand {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// Its last lines of output.
        output: String,
    },
    /// The host's Python is not the one the images run (3.11): wheels it
    /// fetches might not install in the image.
    #[error(
        "host `{python}` is Python {found}, but images run Python 3.11: set BuildOptions::python"
    )]
    HostPythonMismatch {
        /// The interpreter asked.
        python: String,
        /// The version it reported.
        found: String,
    },
    /// No constraints file for the release series of an OpenStack image.
    #[error("no constraints for release {release} (known: {known})")]
    UnknownRelease {
        /// The series asked for.
        release: String,
        /// The series with a constraints file.
        known: String,
    },
    /// A file or folder in the cache could not be read or written.
    #[error("cannot use {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// pip's resolution report could not be read.
    #[error("cannot read pip's report {path}")]
    PipReport {
        /// The report file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl ImageError {
    pub(crate) fn docker(image: impl Into<String>) -> impl FnOnce(DockerError) -> Self {
        let image = image.into();
        move |source| ImageError::Docker {
            image,
            source: Box::new(source),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
