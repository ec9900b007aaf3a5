//! nova-libvirt: libvirtd and QEMU (Debian's 9.0 and 7.2) for nova's
//! libvirt driver, under TCG (this host's KVM cannot boot a normal guest).
//!
//! Its guests must outlive its container, so it shares the host's PID,
//! network and cgroup namespaces, keeps its state on volumes, and hides the
//! unified cgroup hierarchy: libvirt would otherwise leave QEMU in the
//! container's devices cgroup, and runc kills every process there when the
//! container goes (compute-notes.md, measured).

use ankyra_model::Version;

use crate::deploy::{CloudContext, ConfigFile, HostAccess, Probe, ProcessSpec, VolumeMount};
use crate::services::{component, debian_image};
use crate::types::{
    ComponentDef, ComponentKind, GuestEffect, ImageRecipe, Reconnect, Service, ServiceGate,
    VersionRules,
};

/// The libvirt service.
pub struct Libvirt;

/// The component's name in records.
pub const COMPONENT: &str = crate::validate::LIBVIRT_COMPONENT;

// Infrastructure: versioned by Debian, kept by a whole-cloud upgrade, and
// replaced stop-first (one libvirtd per host); its guests live on.
static COMPONENTS: &[ComponentDef] = &[component(
    "libvirt",
    COMPONENT,
    ComponentKind::Infra,
    &[],
    &[],
)];

static VERSIONS: VersionRules = VersionRules {
    by_release: &[("debian-12", &["9.0.0"])],
};

/// Where libvirt's client socket is, shared with nova-compute.
pub const RUN_DIR: &str = "/run/libvirt";
/// The volume holding [`RUN_DIR`].
pub const RUN_VOLUME: &str = "libvirt-run";
/// nova's state (its instances' disks and console logs): the same path in
/// nova-compute and here, because nova hands libvirt these paths.
pub const NOVA_STATE_VOLUME: &str = "nova-compute-state";
/// nova's state path.
pub const NOVA_STATE_PATH: &str = "/var/lib/nova";

/// virsh against this libvirt, quiet.
const VIRSH: &str = "virsh -q -c qemu:///system";

/// `virsh` against this libvirt, then `args`.
pub fn virsh(args: &[&str]) -> Vec<String> {
    VIRSH
        .split(' ')
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect()
}

/// The command that lists running guests: `virsh list --uuid`.
pub fn list_guests_command() -> Vec<String> {
    virsh(&["list", "--uuid"])
}

/// The UUIDs in what [`list_guests_command`] printed.
pub fn parse_guests(output: &str) -> Vec<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 36 && l.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .map(str::to_string)
        .collect()
}

/// A shell command that powers off every guest (and with `forget`, undefines
/// it): QEMU runs in the host's PID namespace, so removing the container
/// would leave them running. Prints how many are left running.
pub fn destroy_guests_command(forget: bool) -> Vec<String> {
    let v = VIRSH;
    let undefine = if forget {
        format!("{v} undefine $d >/dev/null 2>&1;")
    } else {
        String::new()
    };
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "for d in $({v} list --all --uuid); do {v} destroy $d >/dev/null 2>&1; {undefine} done; \
             {v} list --uuid | grep -c . || true"
        ),
    ]
}

impl Service for Libvirt {
    service_tables!("libvirt", COMPONENTS, VERSIONS);
    fn image(&self, version: &Version, _release: &str) -> ImageRecipe {
        debian_image(
            "libvirt",
            version,
            vec![
                "libvirt-daemon-system",
                "libvirt-daemon-driver-qemu",
                "libvirt-clients",
                "qemu-system-x86",
                "qemu-utils",
            ],
            {
                let mut c = vec!["CMD".to_string()];
                c.extend(virsh(&["list"]));
                c
            },
        )
    }
    fn process(&self, component: &str, _cx: &CloudContext) -> Option<ProcessSpec> {
        if component != COMPONENT {
            return None;
        }
        let volume = |volume: &str, target: &str| VolumeMount {
            volume: volume.into(),
            target: target.into(),
        };
        let script = format!(
            "set -e; mkdir -p {NOVA_STATE_PATH}/instances {RUN_DIR} /var/log/libvirt/qemu \
             /var/lib/libvirt/qemu; rm -f /run/libvirtd.pid; \
             rm -f /etc/libvirt/qemu/networks/autostart/*.xml; exec libvirtd"
        );
        Some(ProcessSpec {
            command: vec!["sh".into(), "-c".into(), script],
            env: Vec::new(),
            workdir: None,
            volumes: vec![
                volume(RUN_VOLUME, RUN_DIR),
                volume("libvirt-lib", "/var/lib/libvirt"),
                // The domains nova defined, so a new libvirtd knows them.
                volume("libvirt-qemu-etc", "/etc/libvirt/qemu"),
                volume("libvirt-log", "/var/log/libvirt"),
                volume(NOVA_STATE_VOLUME, NOVA_STATE_PATH),
            ],
            files: vec![
                conf("/etc/libvirt/libvirtd.conf", LIBVIRTD_CONF),
                conf("/etc/libvirt/qemu.conf", QEMU_CONF),
            ],
            probe: Probe::Exec {
                command: virsh(&["list"]),
            },
            stop_timeout_secs: 15,
            host: host_access(),
        })
    }
    fn guest_effect(&self, component: &str, removing: bool) -> Option<GuestEffect> {
        (component == COMPONENT).then_some(if removing {
            GuestEffect {
                kept: false,
                why: "removing nova-libvirt powers off every guest on the compute",
            }
        } else {
            GuestEffect {
                kept: true,
                why: "QEMU runs in the host's PID namespace and outlives libvirtd's container; \
                      the new libvirtd re-attaches to the running guests",
            }
        })
    }
    fn instance_host(&self, component: &str, cx: &CloudContext, _slot: u32) -> Option<String> {
        // nova names its node and resource provider after libvirt's host name.
        (component == COMPONENT).then(|| crate::services::nova::compute_host(cx))
    }
    fn service_gate(&self, component: &str) -> Option<ServiceGate> {
        // A new libvirtd counts once nova-compute uses it again: its service
        // is up and enabled (it disables itself while libvirt is gone), and a
        // server boots.
        (component == COMPONENT).then_some(ServiceGate {
            binary: "nova-compute",
            resource_provider: false,
            enabled: true,
            scheduling_check: true,
            retire_stale_records: false,
            needs: crate::services::nova::GATE_NEEDS,
            rpc_queue: None,
            // nova-compute logs each change of its connection to libvirt
            // (nova/virt/libvirt/driver.py, `_handle_conn_event`); it is
            // disabled from the drop until the reconnect.
            reconnect: Some(Reconnect {
                consumer: "nova-compute",
                up: "Connection event '1'",
                down: "Connection event '0'",
            }),
        })
    }
}

fn conf(path: &str, content: &str) -> ConfigFile {
    ConfigFile {
        path: path.into(),
        content: content.into(),
        secret: false,
    }
}

/// What of the host libvirt needs so that its guests outlive it.
pub fn host_access() -> HostAccess {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    HostAccess {
        pid: true,
        network: true,
        cgroupns: true,
        // dockerd's bounding set lacks SYS_RESOURCE here: asking for it fails.
        cap_add: s(&["ALL"]),
        cap_drop: s(&["SYS_RESOURCE"]),
        security_opt: s(&["seccomp=unconfined", "apparmor=unconfined"]),
        device_cgroup_rules: s(&["a *:* rwm"]),
        paths: s(&["/dev", "/sys/fs/cgroup"]),
        // Without it libvirt claims the devices controller on cgroup v2 and
        // QEMU stays in the container's v1 cgroup: a stop kills every guest.
        tmpfs: s(&["/sys/fs/cgroup/unified"]),
    }
}

/// Local clients only, over the socket on the shared volume.
const LIBVIRTD_CONF: &str = "\
listen_tls = 0
listen_tcp = 0
unix_sock_group = \"root\"
unix_sock_rw_perms = \"0770\"
auth_unix_ro = \"none\"
auth_unix_rw = \"none\"
log_outputs = \"3:stderr\"
";

/// QEMU as root with no per-guest namespaces or security driver (there is
/// none in the container); the console goes straight to its file, so it
/// keeps being written when libvirt's container is replaced (virtlogd, the
/// default, holds the pipes and takes them along).
const QEMU_CONF: &str = "\
stdio_handler = \"file\"
user = \"root\"
group = \"root\"
dynamic_ownership = 0
remember_owner = 0
security_driver = \"none\"
namespaces = [ ]
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_survive_the_container_settings() {
        let cx = crate::services::fixture();
        let p = Libvirt.process(COMPONENT, &cx).expect("runs");
        assert!(p.host.pid && p.host.network && p.host.cgroupns);
        assert_eq!(p.host.tmpfs, ["/sys/fs/cgroup/unified"]);
        assert!(p.host.cap_drop.contains(&"SYS_RESOURCE".to_string()));
        assert!(p
            .files
            .iter()
            .any(|f| f.content.contains("stdio_handler = \"file\"")));
        // nova's paths are libvirt's paths: the same volume at the same place.
        assert!(p
            .volumes
            .iter()
            .any(|v| v.volume == NOVA_STATE_VOLUME && v.target == NOVA_STATE_PATH));
        assert_eq!(
            Libvirt.instance_host(COMPONENT, &cx, 1),
            Some(crate::services::nova::compute_host(&cx))
        );
        assert!(Libvirt.process("nova-compute", &cx).is_none());
    }

    #[test]
    fn libvirt_never_starts_a_network_on_the_host() {
        // It shares the host's network namespace: its `default` network
        // (virbr0, 192.168.122.1) would land on the host's own networks.
        let cx = crate::services::fixture();
        let p = Libvirt.process(COMPONENT, &cx).expect("runs");
        let script = p.command.last().expect("a script");
        let rm = script
            .find("networks/autostart/*.xml")
            .expect("autostart links removed");
        assert!(rm < script.find("exec libvirtd").expect("libvirtd"));
    }

    #[test]
    fn running_guests_are_read_from_virsh() {
        let out = "\n6f1c2d9e-3b4a-4c5d-8e9f-0a1b2c3d4e5f\nerror: x\n\n";
        assert_eq!(parse_guests(out), ["6f1c2d9e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"]);
        assert!(parse_guests("").is_empty());
        assert_eq!(
            list_guests_command()[..4],
            ["virsh", "-q", "-c", "qemu:///system"]
        );
    }
}
