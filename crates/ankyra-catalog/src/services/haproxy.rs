//! HAProxy: the load balancer in front of every API (Debian's 2.6). Ankyra
//! changes backends through its runtime API, so it must start before the APIs.

use ankyra_model::Version;

use crate::deploy::{CloudContext, ConfigFile, Probe, ProcessSpec};
use crate::services::{component, debian_image};
use crate::types::{ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The HAProxy service.
pub struct HaProxy;

static COMPONENTS: &[ComponentDef] = &[component(
    "haproxy",
    "haproxy",
    ComponentKind::LoadBalancer,
    &[Port {
        name: "stats",
        port: 1984,
    }],
    &[],
)];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["2.6"])],
};

impl Service for HaProxy {
    service_tables!("haproxy", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        debian_image(
            "haproxy",
            version,
            vec!["haproxy"],
            crate::types::http_healthcheck(1984, "/"),
        )
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "haproxy").then(|| process(cx))
    }
}

/// Where the config is mounted (Debian's own file is replaced).
pub const CONFIG: &str = "/etc/haproxy/haproxy.cfg";
/// The runtime API on the cloud network (the engine adds and drains servers).
pub const RUNTIME_PORT: u16 = 9999;

/// One API behind HAProxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The component, also the `listen` section's name.
    pub component: &'static str,
    /// The port, the same on the vip and in the API's container.
    pub port: u16,
    /// The health check path.
    pub check: &'static str,
}

/// Every API component present in the cloud, in catalog order.
pub fn listeners(cx: &CloudContext) -> Vec<Listener> {
    let mut out = Vec::new();
    for svc in crate::ALL {
        for c in svc.components() {
            let present =
                cx.components.iter().any(|n| n == c.name) || cx.backends.contains_key(c.name);
            if c.kind != ComponentKind::Api || !present {
                continue;
            }
            if let Some(port) = c.ports.first() {
                out.push(Listener {
                    component: c.name,
                    port: port.port,
                    check: svc.check_path(c.name).unwrap_or("/"),
                });
            }
        }
    }
    out
}

/// `haproxy.cfg`: kolla's check settings, a stats page on 1984 (the image's
/// health check), and the runtime API on a socket and on port 9999.
pub fn haproxy_cfg(cx: &CloudContext) -> String {
    let mut out = format!(
        "# Rendered by Ankyra for cloud {cloud}.\n\
         global\n    \
         maxconn 4000\n    \
         stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners\n    \
         stats socket ipv4@0.0.0.0:{RUNTIME_PORT} level admin\n    \
         stats timeout 2m\n    \
         log stdout format raw local0 notice\n\
         \n\
         defaults\n    \
         mode http\n    \
         log global\n    \
         option httplog\n    \
         option redispatch\n    \
         retries 3\n    \
         timeout http-request 10s\n    \
         timeout queue 1m\n    \
         timeout connect 10s\n    \
         timeout client 5m\n    \
         timeout server 5m\n    \
         timeout check 10s\n    \
         default-server check inter 2000 rise 2 fall 5\n\
         \n\
         listen stats\n    \
         bind 0.0.0.0:1984\n    \
         stats enable\n    \
         stats uri /\n    \
         stats refresh 15s\n",
        cloud = cx.cloud
    );
    for l in listeners(cx) {
        out.push_str(&format!(
            "\nlisten {name}\n    \
             bind 0.0.0.0:{port}\n    \
             balance roundrobin\n    \
             option httpchk GET {check}\n    \
             option redispatch\n    \
             retries 3\n",
            name = l.component,
            port = l.port,
            check = l.check
        ));
        for b in cx.backends.get(l.component).into_iter().flatten() {
            // `disabled` is maintenance: an old instance kept for a rollback
            // stays out of rotation across an HAProxy restart.
            out.push_str(&format!(
                "    server {} {}:{} check inter 2000 rise 2 fall 5{}\n",
                b.name,
                b.address,
                b.port,
                if b.enabled { "" } else { " disabled" }
            ));
        }
    }
    out
}

fn process(cx: &CloudContext) -> ProcessSpec {
    ProcessSpec {
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("mkdir -p /run/haproxy && exec haproxy -W -db -f {CONFIG}"),
        ],
        env: Vec::new(),
        workdir: None,
        volumes: Vec::new(),
        files: vec![ConfigFile {
            path: CONFIG.into(),
            content: haproxy_cfg(cx),
            secret: false,
        }],
        probe: Probe::Http {
            port: 1984,
            path: "/".into(),
            expect: vec![200],
        },
        stop_timeout_secs: 10,
        host: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_cfg_snapshot() {
        let cx = crate::services::fixture();
        insta::assert_snapshot!(haproxy_cfg(&cx));
    }

    #[test]
    fn every_api_present_gets_a_listener() {
        let mut cx = crate::services::fixture();
        cx.components.retain(|c| c != "glance");
        cx.backends.remove("glance");
        let names: Vec<_> = listeners(&cx)
            .into_iter()
            .map(|l| (l.component, l.port))
            .collect();
        assert_eq!(
            names,
            [
                ("keystone", 5000),
                ("placement", 8778),
                ("neutron-server", 9696),
                ("nova-api", 8774)
            ]
        );
    }
}
