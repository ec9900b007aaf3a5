//! RabbitMQ: nova's message queue (Debian's 3.10).

use ankyra_model::Version;

use crate::deploy::{CloudContext, ConfigFile, Probe, ProcessSpec, SecretSpec, VolumeMount};
use crate::openstack::{secret, PASSWORD_LEN, RABBITMQ_PASSWORD, RABBITMQ_USER};
use crate::services::{component, debian_image};
use crate::types::{ComponentDef, ComponentKind, ImageRecipe, Port, Service, VersionRules};

/// The RabbitMQ service.
pub struct RabbitMq;

static COMPONENTS: &[ComponentDef] = &[component(
    "rabbitmq",
    "rabbitmq",
    ComponentKind::Infra,
    &[Port {
        name: "amqp",
        port: 5672,
    }],
    &[],
)];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["3.10"])],
};

impl Service for RabbitMq {
    service_tables!("rabbitmq", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        debian_image(
            "rabbitmq",
            version,
            vec!["rabbitmq-server"],
            vec![
                "CMD".into(),
                "rabbitmq-diagnostics".into(),
                "-q".into(),
                "ping".into(),
            ],
        )
    }
    fn secrets(&self) -> &'static [SecretSpec] {
        &[SecretSpec {
            name: RABBITMQ_PASSWORD,
            length: PASSWORD_LEN,
        }]
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        (component == "rabbitmq").then(|| process(cx))
    }
}

/// The mounted config (root-only on the host); copied for the rabbitmq user at start.
const MOUNTED_CONF: &str = "/etc/ankyra/rabbitmq/rabbitmq.conf";

/// `rabbitmq.conf`. The user comes from `default_user`/`default_pass`, which
/// RabbitMQ applies when its database is new (first start on the volume):
/// the password never reaches an argv (`rabbitmqctl add_user` would put it
/// there). The secret is generated once and kept, so it does not change later.
pub fn rabbitmq_conf(cx: &CloudContext) -> String {
    format!(
        "listeners.tcp.default = 5672\n\
         default_vhost = /\n\
         default_user = {RABBITMQ_USER}\n\
         default_pass = {}\n\
         default_permissions.configure = .*\n\
         default_permissions.read = .*\n\
         default_permissions.write = .*\n\
         vm_memory_high_watermark.relative = 0.2\n\
         disk_free_limit.absolute = 50MB\n",
        secret(cx, RABBITMQ_PASSWORD)
    )
}

fn process(cx: &CloudContext) -> ProcessSpec {
    // Debian's rabbitmq-server drops to the rabbitmq user, so its folders and
    // config must belong to it; the node name is fixed so a recreated
    // container finds its database on the volume.
    let script = format!(
        "set -e; mkdir -p /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq; \
         install -o rabbitmq -g rabbitmq -m 600 {MOUNTED_CONF} /etc/rabbitmq/rabbitmq.conf; \
         printf 'NODENAME=rabbit@localhost\\n' > /etc/rabbitmq/rabbitmq-env.conf; \
         chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq; \
         exec rabbitmq-server"
    );
    ProcessSpec {
        command: vec!["sh".into(), "-c".into(), script],
        env: Vec::new(),
        workdir: None,
        volumes: vec![VolumeMount {
            volume: "rabbitmq-data".into(),
            target: "/var/lib/rabbitmq".into(),
        }],
        files: vec![ConfigFile {
            path: MOUNTED_CONF.into(),
            content: rabbitmq_conf(cx),
            secret: true,
        }],
        // The AMQP listener opens only after boot (users included) is done.
        probe: Probe::Tcp { port: 5672 },
        stop_timeout_secs: 30,
        host: Default::default(),
    }
}
