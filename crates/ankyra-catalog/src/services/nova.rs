//! Nova, the compute service: four components from one image. Upstream's
//! upgrade order is conductor, scheduler, api, compute; `after` encodes it.

use ankyra_model::Version;

use crate::deploy::{
    CloudContext, ConfigFile, Job, JobWhen, Probe, ProcessSpec, Registration, SecretSpec,
    VolumeMount,
};
use crate::ini::Ini;
use crate::openstack::{
    authtoken, cache, conf_file, db_job, db_url, endpoint, job, password_auth, transport_url,
    PASSWORD_LEN,
};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, ImageRecipe, Port, Replace, RpcQueue, Service,
    ServiceGate, VersionRules,
};
use crate::wsgi::{WsgiApp, VENV};

/// The Nova service.
pub struct Nova;

static COMPONENTS: &[ComponentDef] = &[
    ComponentDef {
        name: "nova-conductor",
        service: "nova",
        kind: ComponentKind::Worker,
        ports: &[],
        after: &["mariadb", "rabbitmq", "keystone", "placement"],
        default_replicas: 1,
    },
    ComponentDef {
        name: "nova-scheduler",
        service: "nova",
        kind: ComponentKind::Worker,
        ports: &[],
        after: &["nova-conductor"],
        default_replicas: 1,
    },
    ComponentDef {
        name: "nova-api",
        service: "nova",
        kind: ComponentKind::Api,
        ports: &[Port {
            name: "public",
            port: 8774,
        }],
        after: &["nova-scheduler", "neutron-server", "glance"],
        default_replicas: 1,
    },
    ComponentDef {
        name: "nova-compute",
        service: "nova",
        kind: ComponentKind::Worker,
        ports: &[],
        after: &["nova-api"],
        default_replicas: 1,
    },
];

/// Versions on PyPI per series (checked 2026-11-25).
static VERSIONS: VersionRules = VersionRules {
    by_release: &[
        (
            "2025.1",
            &["31.0.0", "31.0.1", "31.1.0", "31.2.0", "31.3.0", "31.3.1"],
        ),
        ("2025.2", &["32.0.0", "32.1.0", "32.2.0", "32.2.1"]),
        ("2026.1", &["33.0.0", "33.0.1", "33.0.2"]),
        ("2026.2", &["34.0.0"]),
    ],
};

impl Service for Nova {
    fn name(&self) -> &'static str {
        "nova"
    }
    fn components(&self) -> &'static [ComponentDef] {
        COMPONENTS
    }
    fn versions(&self) -> &'static VersionRules {
        &VERSIONS
    }
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        pypi_image("nova", "nova", version, release, (8774, "/"), vec![])
    }
    fn secrets(&self) -> &'static [SecretSpec] {
        &[
            SecretSpec {
                name: DB_PASSWORD,
                length: PASSWORD_LEN,
            },
            SecretSpec {
                name: SERVICE_PASSWORD,
                length: PASSWORD_LEN,
            },
        ]
    }
    fn databases(&self) -> &'static [&'static str] {
        &["nova_api", "nova", "nova_cell0"]
    }
    fn check_path(&self, _component: &str) -> Option<&'static str> {
        Some("/")
    }
    fn process(&self, component: &str, cx: &CloudContext) -> Option<ProcessSpec> {
        let conf = nova_conf(component, cx)?;
        if component == "nova-api" {
            // nova-api reads sys.argv: plain gunicorn. Its WSGI loader takes the
            // FIRST config file as the paste file: the venv's api-paste.ini (an
            // absolute path wins over OS_NOVA_CONFIG_DIR), then nova.conf.
            return Some(
                WsgiApp {
                    app: "nova.wsgi.osapi_compute:application",
                    port: 8774,
                    workers: 1,
                    env: vec![
                        ("OS_NOVA_CONFIG_DIR".into(), CONF_DIR.into()),
                        (
                            "OS_NOVA_CONFIG_FILES".into(),
                            format!("{VENV}/etc/nova/api-paste.ini;nova.conf"),
                        ),
                    ],
                    files: vec![conf],
                    volumes: Vec::new(),
                    probe: ("/", &[200, 300]),
                }
                .process(),
            );
        }
        let volumes = if component == "nova-compute" {
            vec![VolumeMount {
                volume: "nova-compute-state".into(),
                target: STATE_PATH.into(),
            }]
        } else {
            Vec::new()
        };
        Some(ProcessSpec {
            command: vec![format!("{VENV}/bin/{component}")],
            env: Vec::new(),
            workdir: None,
            volumes,
            files: vec![conf],
            // Workers have no HTTP API: the process is up.
            probe: Probe::Exec {
                command: vec!["pgrep".into(), "-f".into(), format!("bin/{component}")],
            },
            // nova-compute takes 8–11 s to stop on SIGTERM.
            stop_timeout_secs: if component == "nova-compute" { 30 } else { 15 },
        })
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        let before = |name: &str, cmd: &[&str]| job(name, "nova-conductor", cmd, JobWhen::Before);
        match component {
            "nova-conductor" => vec![
                db_job(cx, "nova", "nova", DB_PASSWORD, self.databases()),
                before("nova api_db sync", &["nova-manage", "api_db", "sync"]),
                // Does nothing when cell0 is mapped already.
                before("nova map_cell0", &["nova-manage", "cell_v2", "map_cell0"]),
                // create_cell fails when the cell exists: look first.
                before(
                    "nova create_cell cell1",
                    &[
                        "sh",
                        "-c",
                        "nova-manage cell_v2 list_cells | grep -q ' cell1 ' || nova-manage cell_v2 create_cell --name cell1",
                    ],
                ),
                before("nova db sync", &["nova-manage", "db", "sync"]),
            ],
            "nova-compute" => vec![discover_hosts(cx), online_data_migrations()],
            _ => Vec::new(),
        }
    }
    fn upgrade_jobs(&self, component: &str, _cx: &CloudContext) -> Vec<Job> {
        // The schemas move with the conductor, first of nova's components; the
        // others only swap code. Online data migrations run after nova-compute,
        // the last (its `after` jobs).
        match component {
            "nova-conductor" => vec![
                job(
                    "nova api_db sync",
                    "nova-conductor",
                    &["nova-manage", "api_db", "sync"],
                    JobWhen::Before,
                ),
                job(
                    "nova db sync",
                    "nova-conductor",
                    &["nova-manage", "db", "sync"],
                    JobWhen::Before,
                ),
            ],
            _ => Vec::new(),
        }
    }
    fn replace_strategy(&self, component: &str, kind: ComponentKind) -> Replace {
        match component {
            // Several conductors and schedulers serve the same RPC topic: the
            // new one takes calls before the old one goes, so none time out.
            "nova-conductor" | "nova-scheduler" => Replace::StartFirst,
            // One compute per host: two would both claim the node.
            "nova-compute" => Replace::StopFirst,
            _ => Replace::default_for(kind),
        }
    }
    fn instance_host(&self, component: &str, cx: &CloudContext, slot: u32) -> Option<String> {
        match component {
            // nova's `host` defaults to the host name: one per slot, so a
            // replacement takes over its slot's service record.
            "nova-conductor" | "nova-scheduler" => Some(format!("{}-{component}-{slot}", cx.cloud)),
            // Its `host` is set in nova.conf; the container's name matches.
            "nova-compute" => Some(compute_host(cx)),
            _ => None,
        }
    }
    fn service_gate(&self, component: &str) -> Option<ServiceGate> {
        let binary = match component {
            "nova-conductor" => "nova-conductor",
            "nova-scheduler" => "nova-scheduler",
            "nova-compute" => "nova-compute",
            _ => return None,
        };
        Some(ServiceGate {
            binary,
            resource_provider: component == "nova-compute",
            scheduling_check: true,
            // Never the compute's: deleting it deletes its node and provider.
            retire_stale_records: component != "nova-compute",
            // The service list and a boot need the API, a scheduler, a
            // conductor and a compute (and the images and placement APIs).
            needs: &[
                "nova-api",
                "nova-conductor",
                "nova-scheduler",
                "nova-compute",
                "placement",
                "glance",
            ],
            // oslo.messaging's topic queue: every conductor (scheduler)
            // consumes from it, so a new one counts there once it takes calls.
            rpc_queue: matches!(component, "nova-conductor" | "nova-scheduler").then_some(
                RpcQueue {
                    broker: "rabbitmq",
                    queue: if component == "nova-conductor" {
                        "conductor"
                    } else {
                        "scheduler"
                    },
                    list_command: &["rabbitmqctl", "list_queues", "-q", "name", "consumers"],
                },
            ),
        })
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(Registration {
            service_type: "compute".into(),
            service_name: "nova".into(),
            url: format!("{}/v2.1", endpoint(cx, 8774)),
            user: Some(("nova".into(), SERVICE_PASSWORD.into())),
        })
    }
}

/// Nova's database password (one user for nova_api, nova and nova_cell0).
pub const DB_PASSWORD: &str = "nova-db-password";
/// The password of keystone user `nova` (also used for placement, neutron
/// and service tokens).
pub const SERVICE_PASSWORD: &str = "nova-service-password";
const CONF_DIR: &str = "/etc/nova";
/// nova's default `default_log_levels` (nova 34; oslo.log's list and nova's additions).
const NOVA_LOG_LEVELS: &str = "amqp=WARN,boto=WARN,sqlalchemy=WARN,suds=INFO,\
oslo.messaging=INFO,oslo_messaging=INFO,iso8601=WARN,\
requests.packages.urllib3.connectionpool=WARN,urllib3.connectionpool=WARN,websocket=WARN,\
requests.packages.urllib3.util.retry=WARN,urllib3.util.retry=WARN,keystonemiddleware=WARN,\
routes.middleware=WARN,stevedore=WARN,taskflow=WARN,keystoneauth=WARN,oslo.cache=INFO,\
oslo_policy=INFO,dogpile.core.dogpile=INFO,glanceclient=WARN,oslo.privsep.daemon=INFO";

/// nova-compute's state (its saved node identity, `compute_id`), on a volume.
const STATE_PATH: &str = "/var/lib/nova";

/// The compute node's fixed host name: a recreated container is the same node.
pub fn compute_host(cx: &CloudContext) -> String {
    format!("{}-compute", cx.cloud)
}

/// Maps the compute host into cell1 once nova-compute has registered itself
/// (ready only means the process is up, so it waits for the host).
fn discover_hosts(cx: &CloudContext) -> Job {
    let host = compute_host(cx);
    let script = format!(
        "for i in $(seq 1 60); do \
         nova-manage cell_v2 discover_hosts --verbose >/dev/null || true; \
         nova-manage cell_v2 list_hosts | grep -q ' {host} ' && exit 0; \
         sleep 2; done; echo 'compute host {host} never registered' >&2; exit 1"
    );
    job(
        "nova discover_hosts",
        "nova-compute",
        &["sh", "-c", &script],
        JobWhen::After,
    )
}

/// Moves rows to the new formats in batches; exit 1 means "more to do", so it
/// loops until done (0) or an error (2).
fn online_data_migrations() -> Job {
    job(
        "nova online_data_migrations",
        "nova-compute",
        &[
            "sh",
            "-c",
            "for i in $(seq 1 20); do nova-manage db online_data_migrations; rc=$?; \
             [ $rc -eq 0 ] && exit 0; [ $rc -ne 1 ] && exit $rc; done; exit 1",
        ],
        JobWhen::After,
    )
}

/// `nova.conf` of one nova component (None: not a nova component).
pub fn nova_conf(component: &str, cx: &CloudContext) -> Option<ConfigFile> {
    if !COMPONENTS.iter().any(|c| c.name == component) {
        return None;
    }
    let mut ini = Ini::new();
    ini.set("DEFAULT", "use_stderr", "true")
        .set("DEFAULT", "transport_url", transport_url(cx))
        .set("DEFAULT", "state_path", STATE_PATH);
    if component == "nova-compute" {
        ini.set("DEFAULT", "host", compute_host(cx))
            // Saves state_path/compute_id, so a restart is the same node.
            .set(
                "DEFAULT",
                "compute_driver",
                "fake.FakeDriverWithoutFakeNodes",
            )
            // nova's own list plus the resource tracker at DEBUG: its `Final
            // resource view` line (after each sync with placement) is how
            // Ankyra's gate sees that a new compute has synced its provider.
            .set(
                "DEFAULT",
                "default_log_levels",
                format!("{NOVA_LOG_LEVELS},nova.compute.resource_tracker=DEBUG"),
            );
    }
    // During a rolling upgrade old computes and new controllers talk: the
    // RPC version follows the oldest service running.
    ini.set("upgrade_levels", "compute", "auto");
    ini.set("api", "auth_strategy", "keystone")
        .set(
            "wsgi",
            "api_paste_config",
            format!("{VENV}/etc/nova/api-paste.ini"),
        )
        .set(
            "api_database",
            "connection",
            db_url(cx, "nova", DB_PASSWORD, "nova_api"),
        )
        .set("api_database", "max_retries", "-1")
        .set(
            "database",
            "connection",
            db_url(cx, "nova", DB_PASSWORD, "nova"),
        )
        .set("database", "max_retries", "-1")
        .section("cache", &cache())
        .section(
            "keystone_authtoken",
            &authtoken(cx, "nova", SERVICE_PASSWORD),
        )
        .set("service_user", "send_service_user_token", "true")
        .section("service_user", &password_auth(cx, "nova", SERVICE_PASSWORD))
        .section("placement", &password_auth(cx, "nova", SERVICE_PASSWORD))
        .set("glance", "region_name", crate::openstack::REGION)
        // The compute delete path asks neutron for ports: it needs auth.
        .section("neutron", &password_auth(cx, "nova", SERVICE_PASSWORD))
        .set("scheduler", "workers", "1")
        .set("scheduler", "discover_hosts_in_cells_interval", "60")
        .set("conductor", "workers", "1")
        .set("upgrade_levels", "compute", "auto")
        .set("vnc", "enabled", "false")
        .set("oslo_concurrency", "lock_path", format!("{STATE_PATH}/tmp"));
    Some(conf_file(cx, CONF_DIR, "nova.conf", ini))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_compute_conf_snapshot() {
        let cx = crate::services::fixture();
        insta::assert_snapshot!(nova_conf("nova-compute", &cx)
            .map(|f| f.content)
            .unwrap_or_default());
    }

    #[test]
    fn compute_keeps_its_identity_on_a_volume() {
        let cx = crate::services::fixture();
        let p = Nova.process("nova-compute", &cx).expect("runs");
        assert_eq!(p.volumes[0].target, STATE_PATH);
        let api = Nova.process("nova-api", &cx).expect("runs");
        assert!(api
            .files
            .iter()
            .any(|f| f.content.contains("nova.wsgi.osapi_compute:application")));
        assert!(nova_conf("keystone", &cx).is_none());
    }

    #[test]
    fn conductors_and_schedulers_keep_a_host_per_slot_and_go_start_first() {
        let cx = crate::services::fixture();
        let host = |c: &str, slot| Nova.instance_host(c, &cx, slot);
        assert_eq!(
            host("nova-conductor", 1),
            Some(format!("{}-nova-conductor-1", cx.cloud))
        );
        assert_eq!(
            host("nova-scheduler", 2),
            Some(format!("{}-nova-scheduler-2", cx.cloud))
        );
        assert_eq!(host("nova-compute", 3), Some(compute_host(&cx)));
        assert_eq!(host("nova-api", 1), None);
        let kind = ComponentKind::Worker;
        assert_eq!(
            Nova.replace_strategy("nova-conductor", kind),
            Replace::StartFirst
        );
        assert_eq!(
            Nova.replace_strategy("nova-scheduler", kind),
            Replace::StartFirst
        );
        assert_eq!(
            Nova.replace_strategy("nova-compute", kind),
            Replace::StopFirst
        );
        let compute = Nova.service_gate("nova-compute").expect("gated");
        assert!(compute.resource_provider && !compute.retire_stale_records);
        let conductor = Nova.service_gate("nova-conductor").expect("gated");
        assert!(!conductor.resource_provider && conductor.retire_stale_records);
        assert!(Nova.service_gate("nova-api").is_none());
    }
}
