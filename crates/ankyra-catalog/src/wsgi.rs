//! OpenStack APIs served as WSGI applications under gunicorn.
//!
//! The trap (see openstack-notes.md): oslo.config parses `sys.argv`, so any
//! argument to gunicorn (even `-c FILE`) makes every worker exit while the
//! master respawns them forever. So the command is plain `gunicorn`, started
//! in a folder holding `gunicorn.conf.py`, which gunicorn reads by default.

use crate::deploy::{ConfigFile, Probe, ProcessSpec, VolumeMount};

/// Where each OpenStack image keeps its virtualenv (decided by ankyra-images).
pub const VENV: &str = "/opt/openstack";

/// The folder holding `gunicorn.conf.py`, the API process's working directory.
pub const GUNICORN_DIR: &str = "/etc/ankyra/gunicorn";

/// One WSGI API process.
#[derive(Debug, Clone)]
pub struct WsgiApp {
    /// `module:callable`, e.g. `keystone.wsgi.api:application`.
    pub app: &'static str,
    /// Port on 0.0.0.0 inside the container.
    pub port: u16,
    /// gunicorn workers.
    pub workers: u32,
    /// Environment (config folders; never secrets).
    pub env: Vec<(String, String)>,
    /// The service's config files.
    pub files: Vec<ConfigFile>,
    /// Named volumes.
    pub volumes: Vec<VolumeMount>,
    /// Readiness probe: GET `path` answering one of `expect`.
    pub probe: (&'static str, &'static [u16]),
}

impl WsgiApp {
    /// The usual app: one worker, no volume, probed with `GET /` answering
    /// 200, its config folder named by `config_dir.0` (e.g.
    /// `OS_PLACEMENT_CONFIG_DIR`) in the environment. Change the rest with
    /// struct update syntax: `WsgiApp { workers: 2, ..WsgiApp::new(..) }`.
    pub fn new(
        app: &'static str,
        port: u16,
        config_dir: (&str, &str),
        files: Vec<ConfigFile>,
    ) -> WsgiApp {
        WsgiApp {
            app,
            port,
            workers: 1,
            env: vec![(config_dir.0.to_string(), config_dir.1.to_string())],
            files,
            volumes: Vec::new(),
            probe: ("/", &[200]),
        }
    }
}

/// The `gunicorn.conf.py` of an app.
pub fn gunicorn_conf(app: &str, port: u16, workers: u32) -> String {
    // Unknown names are ignored by gunicorn, so `control_socket_disable`
    // (gunicorn >= 26 opens a control socket) is safe with older pins.
    format!(
        "# Rendered by Ankyra. gunicorn reads this from its working directory.\n\
         wsgi_app = \"{app}\"\n\
         bind = \"0.0.0.0:{port}\"\n\
         workers = {workers}\n\
         worker_class = \"sync\"\n\
         timeout = 120\n\
         graceful_timeout = 10\n\
         keepalive = 5\n\
         accesslog = \"-\"\n\
         errorlog = \"-\"\n\
         control_socket_disable = True\n"
    )
}

impl WsgiApp {
    /// The process running this app.
    pub fn process(self) -> ProcessSpec {
        let mut files = self.files;
        files.push(ConfigFile {
            path: format!("{GUNICORN_DIR}/gunicorn.conf.py"),
            content: gunicorn_conf(self.app, self.port, self.workers),
            secret: false,
        });
        ProcessSpec {
            command: vec![format!("{VENV}/bin/gunicorn")],
            env: self.env,
            workdir: Some(GUNICORN_DIR.to_string()),
            volumes: self.volumes,
            files,
            probe: Probe::Http {
                port: self.port,
                path: self.probe.0.to_string(),
                expect: self.probe.1.to_vec(),
            },
            stop_timeout_secs: 15,
            host: Default::default(),
        }
    }
}

/// Extra Python run in a gunicorn master before workers fork.
pub trait Preload {
    /// Adds the line `python` to the process's `gunicorn.conf.py`.
    fn preload(self, python: &str) -> Self;
}

impl Preload for ProcessSpec {
    fn preload(mut self, python: &str) -> Self {
        for f in &mut self.files {
            if f.path.ends_with("/gunicorn.conf.py") {
                f.content.push_str(python);
                f.content.push('\n');
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunicorn_runs_without_arguments_in_its_folder() {
        let p = WsgiApp {
            app: "placement.wsgi.api:application",
            port: 8778,
            workers: 1,
            env: vec![],
            files: vec![],
            volumes: vec![],
            probe: ("/", &[200]),
        }
        .process();
        assert_eq!(p.command, vec!["/opt/openstack/bin/gunicorn".to_string()]);
        assert_eq!(p.workdir.as_deref(), Some(GUNICORN_DIR));
        assert!(p.files[0].content.contains("bind = \"0.0.0.0:8778\""));
    }
}
