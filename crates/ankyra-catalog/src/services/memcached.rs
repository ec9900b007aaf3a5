//! Memcached: keystone's token cache and every API's cache (Debian's 1.6).

use ankyra_model::Version;

use crate::deploy::{CloudContext, Probe, ProcessSpec};
use crate::services::{component, debian_image};
use crate::types::{ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The Memcached service.
pub struct Memcached;

static COMPONENTS: &[ComponentDef] = &[component(
    "memcached",
    "memcached",
    ComponentKind::Infra,
    &[Port {
        name: "memcache",
        port: 11211,
    }],
    &[],
)];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["1.6"])],
};

impl Service for Memcached {
    service_tables!("memcached", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        debian_image(
            "memcached",
            version,
            vec!["memcached"],
            vec![
            "CMD".into(),
            "python3".into(),
            "-c".into(),
            "import socket; s=socket.create_connection(('127.0.0.1',11211),3); s.sendall(b'version\\r\\n'); assert s.recv(64).startswith(b'VERSION')".into(),
        ],
        )
    }
    fn process(&self, component: &str, _cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "memcached").then(|| ProcessSpec {
            command: [
                "memcached",
                "-u",
                "root",
                "-l",
                "0.0.0.0",
                "-p",
                "11211",
                "-m",
                "64",
                "-c",
                "4096",
            ]
            .map(String::from)
            .to_vec(),
            env: Vec::new(),
            workdir: None,
            volumes: Vec::new(),
            files: Vec::new(),
            probe: Probe::Tcp { port: 11211 },
            stop_timeout_secs: 10,
            host: Default::default(),
        })
    }
}
