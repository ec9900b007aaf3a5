//! Nova, the compute service: four components from one image. Upstream's
//! upgrade order is conductor, scheduler, api, compute; `after` encodes it.

use ankyra_model::Version;

use crate::deploy::HostAccess;
use crate::deploy::{
    CloudContext, ConfigFile, Job, JobWhen, Probe, ProcessSpec, Registration, SecretSpec,
    VolumeMount,
};
use crate::ini::Ini;
use crate::openstack::{
    authtoken, before, cache, conf_file, database, db_and_user_secrets, db_job, job, password_auth,
    registration, transport_url,
};
use crate::services::{component, libvirt};
use crate::types::{
    pypi_image, ComponentDef, ComponentKind, GuestEffect, ImageRecipe, Port, Replace, RpcQueue,
    Service, ServiceGate, VersionRules,
};
use crate::wsgi::{WsgiApp, VENV};
use ankyra_model::ComputeDriver;

/// The Nova service.
pub struct Nova;

static COMPONENTS: &[ComponentDef] = &[
    component(
        "nova",
        "nova-conductor",
        ComponentKind::Worker,
        &[],
        &["mariadb", "rabbitmq", "keystone", "placement"],
    ),
    component(
        "nova",
        "nova-scheduler",
        ComponentKind::Worker,
        &[],
        &["nova-conductor"],
    ),
    component(
        "nova",
        "nova-api",
        ComponentKind::Api,
        &[Port {
            name: "public",
            port: 8774,
        }],
        &["nova-scheduler", "neutron-server", "glance"],
    ),
    component(
        "nova",
        "nova-compute",
        ComponentKind::Worker,
        &[],
        // Its guests run in nova-libvirt's QEMU (when the cloud has it).
        &["nova-api", crate::validate::LIBVIRT_COMPONENT],
    ),
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

static SECRETS: [SecretSpec; 2] = db_and_user_secrets(DB_PASSWORD, SERVICE_PASSWORD);

impl Service for Nova {
    service_tables!("nova", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, release: &str) -> ImageRecipe {
        // libvirt's Python binding and qemu-img, for the libvirt driver.
        pypi_image(
            "nova",
            "nova",
            version,
            release,
            (8774, "/"),
            vec!["python3-libvirt", "qemu-utils"],
        )
    }
    fn secrets(&self) -> &'static [SecretSpec] {
        &SECRETS
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
                    env: vec![
                        ("OS_NOVA_CONFIG_DIR".into(), CONF_DIR.into()),
                        (
                            "OS_NOVA_CONFIG_FILES".into(),
                            format!("{VENV}/etc/nova/api-paste.ini;nova.conf"),
                        ),
                    ],
                    probe: ("/", &[200, 300]),
                    ..WsgiApp::new(
                        "nova.wsgi.osapi_compute:application",
                        8774,
                        ("OS_NOVA_CONFIG_DIR", CONF_DIR),
                        vec![conf],
                    )
                }
                .process(),
            );
        }
        let compute = component == "nova-compute";
        let libvirt = compute && cx.compute_driver == ComputeDriver::Libvirt;
        let mut volumes = Vec::new();
        if compute {
            // Its node identity, and (libvirt) the instances' disks and
            // console logs, which nova-libvirt sees at the same path.
            volumes.push(VolumeMount {
                volume: libvirt::NOVA_STATE_VOLUME.into(),
                target: STATE_PATH.into(),
            });
        }
        if libvirt {
            volumes.push(VolumeMount {
                volume: libvirt::RUN_VOLUME.into(),
                target: libvirt::RUN_DIR.into(),
            });
        }
        // privsep's daemon keeps only these (console log, instance files).
        // The console is a pty of libvirt's, on the host's /dev/pts: nova
        // looks for it (and reads it) before it reads console.log.
        let host = if libvirt {
            HostAccess {
                cap_add: ["SYS_ADMIN", "NET_ADMIN", "DAC_READ_SEARCH"]
                    .map(String::from)
                    .to_vec(),
                paths: vec!["/dev".into()],
                device_cgroup_rules: vec!["c 136:* rwm".into()],
                ..HostAccess::default()
            }
        } else {
            HostAccess::default()
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
            stop_timeout_secs: if compute { 30 } else { 15 },
            host,
        })
    }
    fn bootstrap(&self, component: &str, cx: &CloudContext) -> Vec<Job> {
        match component {
            "nova-conductor" => vec![
                db_job(cx, "nova", "nova", DB_PASSWORD, self.databases()),
                api_db_sync(),
                // Does nothing when cell0 is mapped already.
                before(
                    "nova map_cell0",
                    "nova-conductor",
                    &["nova-manage", "cell_v2", "map_cell0"],
                ),
                // create_cell fails when the cell exists: look first.
                before(
                    "nova create_cell cell1",
                    "nova-conductor",
                    &[
                        "sh",
                        "-c",
                        "nova-manage cell_v2 list_cells | grep -q ' cell1 ' || nova-manage cell_v2 create_cell --name cell1",
                    ],
                ),
                db_sync(),
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
            "nova-conductor" => vec![api_db_sync(), db_sync()],
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
            enabled: false,
            scheduling_check: true,
            // Never the compute's: deleting it deletes its node and provider.
            retire_stale_records: component != "nova-compute",
            needs: GATE_NEEDS,
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
            reconnect: None,
        })
    }
    fn guest_effect(&self, component: &str, removing: bool) -> Option<GuestEffect> {
        (component == "nova-compute").then_some(if removing {
            GuestEffect {
                kept: false,
                why: "without nova-compute the guests keep running, but nova can no longer \
                      stop, start, reboot or delete them",
            }
        } else {
            GuestEffect {
                kept: true,
                why: "the guests run in nova-libvirt's QEMU, not in nova-compute; \
                      the new nova-compute finds them by UUID",
            }
        })
    }
    fn registration(&self, cx: &CloudContext) -> Option<Registration> {
        Some(registration(
            cx,
            "compute",
            "nova",
            8774,
            "/v2.1",
            SERVICE_PASSWORD,
        ))
    }
}

/// `nova-manage api_db sync` in the conductor's image, before it starts.
fn api_db_sync() -> Job {
    before(
        "nova api_db sync",
        "nova-conductor",
        &["nova-manage", "api_db", "sync"],
    )
}

/// `nova-manage db sync` in the conductor's image, before it starts.
fn db_sync() -> Job {
    before(
        "nova db sync",
        "nova-conductor",
        &["nova-manage", "db", "sync"],
    )
}

/// What nova's gates need running: the service list and a boot need the
/// API, a scheduler, a conductor and a compute (and the images and
/// placement APIs).
pub const GATE_NEEDS: &[&str] = &[
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-compute",
    "placement",
    "glance",
];

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
                match cx.compute_driver {
                    ComputeDriver::Libvirt => "libvirt.LibvirtDriver",
                    ComputeDriver::Fake => "fake.FakeDriverWithoutFakeNodes",
                },
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
    if component == "nova-compute" && cx.compute_driver == ComputeDriver::Libvirt {
        // This host's KVM cannot boot a normal guest: QEMU's TCG, with no
        // host CPU model to pass through.
        ini.set("libvirt", "virt_type", "qemu")
            .set("libvirt", "cpu_mode", "none")
            .set("libvirt", "connection_uri", "qemu:///system")
            // It notices a new libvirtd at its next libvirt call: the
            // resource update every 20 s (not 60) bounds that wait.
            .set("DEFAULT", "update_resources_interval", "20")
            // privsep runs as root in the container already: no sudo.
            .set(
                "nova_sys_admin",
                "helper_command",
                format!("{VENV}/bin/privsep-helper --config-file {CONF_DIR}/nova.conf"),
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
        .section(
            "api_database",
            &database(cx, "nova", DB_PASSWORD, "nova_api"),
        )
        .section("database", &database(cx, "nova", DB_PASSWORD, "nova"))
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
        .set("vnc", "enabled", "false")
        .set("oslo_concurrency", "lock_path", format!("{STATE_PATH}/tmp"));
    Some(conf_file(cx, CONF_DIR, "nova.conf", ini))
}

// Going back to an older nova: nova refuses to create or save a service
// record while the lowest version among the records of its binary (not
// deleted, not forced down) is above its own code's `SERVICE_VERSION`
// (`Service._check_minimum_version`, "due to a rollback"). A rollback must
// hand the records back first.

/// What a component's service records need before older code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandBack {
    /// Delete the newer records (through the API): the new instances create
    /// their own (conductor, scheduler).
    Delete,
    /// Lower the record's version in the database, never delete it: that
    /// would delete the compute node and its resource provider.
    Lower,
}

/// The binary of a nova component and how its records are handed back to
/// older code (None: no service record of its own to hand back).
pub fn hand_back(component: &str) -> Option<(&'static str, HandBack)> {
    match component {
        "nova-conductor" => Some(("nova-conductor", HandBack::Delete)),
        "nova-scheduler" => Some(("nova-scheduler", HandBack::Delete)),
        "nova-compute" => Some(("nova-compute", HandBack::Lower)),
        // The API's records (host: the container's) guard its WSGI app's start.
        "nova-api" => Some(("nova-osapi_compute", HandBack::Delete)),
        _ => None,
    }
}

/// Run in a nova image: prints its code's `SERVICE_VERSION`.
pub fn service_version_command() -> Vec<String> {
    vec![
        format!("{VENV}/bin/python3"),
        "-c".into(),
        "from nova.objects.service import SERVICE_VERSION; print(SERVICE_VERSION)".into(),
    ]
}

/// The `SERVICE_VERSION` in what [`service_version_command`] printed (its
/// last number line; warnings may come first).
pub fn parse_service_version(output: &str) -> Option<u32> {
    output.lines().rev().find_map(|l| l.trim().parse().ok())
}

/// One service record as nova's database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceVersion {
    /// Its UUID (the API's id at microversion 2.53).
    pub uuid: String,
    /// The host it belongs to.
    pub host: String,
    /// The `SERVICE_VERSION` of the code that last wrote it.
    pub version: u32,
}

/// The live records of `binary` (those nova's minimum counts) with their
/// versions; prints `uuid host version` lines.
pub fn service_versions_sql(binary: &str) -> String {
    format!(
        "SELECT uuid, host, version FROM nova.services WHERE `binary` = {} \
         AND deleted = 0 AND forced_down = 0",
        crate::openstack::sql_quote(binary)
    )
}

/// Reads what [`service_versions_sql`] printed (tab-separated rows).
pub fn parse_service_versions(output: &str) -> Vec<ServiceVersion> {
    output
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (uuid, host, version) = (f.next()?, f.next()?, f.next()?);
            Some(ServiceVersion {
                uuid: uuid.trim().to_string(),
                host: host.trim().to_string(),
                version: version.trim().parse().ok()?,
            })
        })
        .collect()
}

/// Lowers the version of `binary`'s record on `host` to `version` (never
/// raises it): the older code may then save it.
pub fn lower_version_sql(binary: &str, host: &str, version: u32) -> String {
    format!(
        "UPDATE nova.services SET version = LEAST(version, {version}) WHERE `binary` = {} \
         AND host = {} AND deleted = 0",
        crate::openstack::sql_quote(binary),
        crate::openstack::sql_quote(host)
    )
}

#[cfg(test)]
mod hand_back_tests {
    use super::*;

    #[test]
    fn only_the_compute_record_is_lowered_the_others_are_deleted() {
        assert_eq!(
            hand_back("nova-scheduler"),
            Some(("nova-scheduler", HandBack::Delete))
        );
        assert_eq!(
            hand_back("nova-conductor"),
            Some(("nova-conductor", HandBack::Delete))
        );
        assert_eq!(
            hand_back("nova-compute"),
            Some(("nova-compute", HandBack::Lower))
        );
        assert_eq!(
            hand_back("nova-api"),
            Some(("nova-osapi_compute", HandBack::Delete))
        );
        assert_eq!(hand_back("keystone"), None);
    }

    #[test]
    fn the_sql_reads_and_lowers_live_records_only() {
        assert_eq!(
            service_versions_sql("nova-scheduler"),
            "SELECT uuid, host, version FROM nova.services WHERE `binary` = 'nova-scheduler' \
             AND deleted = 0 AND forced_down = 0"
        );
        assert_eq!(
            lower_version_sql("nova-compute", "lab1-compute", 72),
            "UPDATE nova.services SET version = LEAST(version, 72) WHERE `binary` = 'nova-compute' \
             AND host = 'lab1-compute' AND deleted = 0"
        );
        assert!(lower_version_sql("nova-compute", "x' OR '1", 72).contains("host = 'x\\' OR \\'1'"));
    }

    #[test]
    fn versions_are_read_from_the_outputs() {
        let rows = "8e7a9c3c-6f7e\tlab1-nova-scheduler-1\t74\nbad line\n0b1c2d3e\tlab1-nova-scheduler-2\t72\n";
        assert_eq!(
            parse_service_versions(rows),
            [
                ServiceVersion {
                    uuid: "8e7a9c3c-6f7e".into(),
                    host: "lab1-nova-scheduler-1".into(),
                    version: 74
                },
                ServiceVersion {
                    uuid: "0b1c2d3e".into(),
                    host: "lab1-nova-scheduler-2".into(),
                    version: 72
                },
            ]
        );
        assert_eq!(parse_service_version("Warning: x\n72\n"), Some(72));
        assert_eq!(parse_service_version("Traceback ...\nImportError"), None);
        assert_eq!(service_version_command()[0], "/opt/openstack/bin/python3");
    }
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
