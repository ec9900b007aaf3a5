//! `ankyra init`: a complete, commented record with working defaults for one machine.

use std::fmt::Write as _;

use ankyra_catalog::{Catalog, DEFAULT_RELEASE, LIBVIRT_COMPONENT, RELEASES};
use ankyra_model::{yaml_scalar, CloudName};

use crate::OpsError;

/// One line on what each component is, for the comments of a new record.
fn describe(component: &str) -> &'static str {
    match component {
        "mariadb" => "the database of every service",
        "memcached" => "token and API cache",
        "rabbitmq" => "message queue for nova",
        "haproxy" => "load balancer in front of every API",
        "keystone" => "identity: tokens, users, projects, the service catalog",
        "glance" => "images, kept in a file store on a volume",
        "placement" => "inventory of compute resources",
        "neutron-server" => {
            "network API (ML2, no agents); nova needs it to show and delete servers"
        }
        "nova-conductor" => "nova's database proxy; upgraded first",
        "nova-scheduler" => "picks a compute node for each server",
        "nova-api" => "compute API",
        "nova-compute" => "runs servers (spec.compute.driver); upgraded last",
        "nova-libvirt" => {
            "libvirtd and QEMU (TCG) that run the servers; guests outlive its replacement"
        }
        _ => "",
    }
}

/// Whether this machine can run nova-libvirt: QEMU's x86-64 TCG in a Linux
/// container, with cgroups to place guests in.
fn libvirt_works() -> bool {
    cfg!(all(target_arch = "x86_64", target_os = "linux"))
        && std::path::Path::new("/sys/fs/cgroup").is_dir()
}

/// A complete, commented record for a cloud named `name`.
pub fn init(name: &str) -> Result<String, OpsError> {
    let cloud: CloudName =
        name.parse()
            .map_err(|e: ankyra_model::NameError| OpsError::BadAssignment {
                text: name.to_string(),
                reason: e.to_string(),
                help: Some("for example: ankyra init --name lab1".into()),
            })?;
    let catalog = Catalog::get();
    let releases: Vec<&str> = RELEASES.iter().map(|r| r.name).collect();
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# Ankyra record of cloud `{cloud}`: every component and the version it runs."
    );
    let _ = writeln!(out, "# Check it:   ankyra validate -f {cloud}.yaml");
    let _ = writeln!(out, "# See changes: ankyra plan -f {cloud}.yaml");
    let _ = writeln!(
        out,
        "# Record it:  ankyra commit -f {cloud}.yaml -m \"first revision\""
    );
    let _ = writeln!(out, "apiVersion: ankyra/v1");
    let _ = writeln!(out, "kind: Cloud");
    let _ = writeln!(out, "metadata:");
    let _ = writeln!(out, "  name: {cloud}");
    let _ = writeln!(
        out,
        "  # Labels select clouds in a fleet, e.g. `ankyra fleet ls --where site=local`."
    );
    let _ = writeln!(out, "  labels:");
    let _ = writeln!(out, "    site: local");
    let _ = writeln!(out, "spec:");
    let _ = writeln!(
        out,
        "  # OpenStack release whose versions are the defaults ({}).",
        releases.join(", ")
    );
    let _ = writeln!(out, "  release: {}", yaml_scalar(DEFAULT_RELEASE));
    let _ = writeln!(
        out,
        "  # Container engines the components may run on. `local`, this machine's"
    );
    let _ = writeln!(
        out,
        "  # Docker Engine, always exists; add others like this:"
    );
    let _ = writeln!(out, "  # hosts:");
    let _ = writeln!(out, "  #   site-b:");
    let _ = writeln!(out, "  #     engine: tcp://192.0.2.10:2376");
    let _ = writeln!(out, "  # How upgrades replace instances (defaults shown):");
    let _ = writeln!(out, "  # rollout:");
    let _ = writeln!(
        out,
        "  #   maxSurge: 1       # new instances started beside the old ones at a time (1-16)"
    );
    let _ = writeln!(
        out,
        "  #   bakeWindow: 15m   # old instances kept out of rotation for an instant rollback (0s-7d)"
    );
    let _ = writeln!(
        out,
        "  #   observe: 10s      # new instances watched before the old ones go (0s-1h)"
    );
    let libvirt = libvirt_works();
    let _ = writeln!(
        out,
        "  # How servers run: libvirt (real QEMU guests, with the nova-libvirt component) or fake."
    );
    let _ = writeln!(out, "  compute:");
    let _ = writeln!(
        out,
        "    driver: {}",
        if libvirt { "libvirt" } else { "fake" }
    );
    let _ = writeln!(out, "  components:");
    for name in catalog.component_names() {
        if *name == LIBVIRT_COMPONENT && !libvirt {
            continue;
        }
        let Ok((def, svc)) = catalog.component(name) else {
            continue;
        };
        let Some(version) = svc.default_version(DEFAULT_RELEASE) else {
            continue;
        };
        let known = svc.known_versions();
        let range = match (known.first(), known.last()) {
            (Some(a), Some(b)) if a != b => format!("known versions {a} … {b}"),
            (Some(a), _) => format!("version {a}"),
            _ => String::new(),
        };
        let _ = writeln!(out, "    # {}; {range}.", describe(name));
        let _ = writeln!(out, "    {name}:");
        let _ = writeln!(out, "      version: {}", yaml_scalar(version.as_str()));
        let _ = writeln!(out, "      replicas: {}", def.default_replicas);
        if name == &"keystone" {
            let _ = writeln!(
                out,
                "      # Overrides merged over Ankyra's generated config: file → section → key."
            );
            let _ = writeln!(out, "      # config:");
            let _ = writeln!(out, "      #   keystone.conf:");
            let _ = writeln!(out, "      #     token:");
            let _ = writeln!(out, "      #       expiration: \"3600\"");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_output_is_a_valid_record_with_every_component() {
        let text = init("lab1").expect("valid name");
        let record = ankyra_model::parse_record("lab1.yaml", text.as_bytes()).expect("parses");
        let resolved = ankyra_catalog::resolve(&record).expect("validates");
        assert_eq!(
            resolved.components.len(),
            Catalog::get().component_names().len()
        );
        assert!(init("Bad Name").is_err());
    }
}
