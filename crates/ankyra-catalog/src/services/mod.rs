//! One module per service: everything Ankyra knows about it.
//!
//! What every module shares is here: [`component`] (the component of a
//! single-component service), [`jobs_of`], [`debian_image`] and the
//! `service_tables!` macro; the OpenStack pieces (secrets, registration,
//! config files, jobs, schema policies) are in [`crate::openstack`], the
//! WSGI process in [`crate::wsgi`].

/// The three lookups every `impl Service` starts with, read from the
/// module's statics: `service_tables!("glance", COMPONENTS, VERSIONS);`
/// inside the impl gives `name`, `components` and `versions`.
macro_rules! service_tables {
    ($name:literal, $components:ident, $versions:ident) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn components(&self) -> &'static [$crate::ComponentDef] {
            $components
        }
        fn versions(&self) -> &'static $crate::VersionRules {
            &$versions
        }
    };
}

pub mod glance;
pub mod haproxy;
pub mod keystone;
pub mod libvirt;
pub mod mariadb;
pub mod memcached;
pub mod neutron;
pub mod nova;
pub mod placement;
pub mod rabbitmq;

use ankyra_model::Version;

use crate::types::{ComponentDef, ComponentKind, ImageRecipe, ImageSource, Port};
use crate::Job;

/// The component of a service that has only one, one instance unless the
/// record says more. Its ports are written inline, so they are static:
/// `static COMPONENTS: &[ComponentDef] = &[component("glance", "glance", ..)];`
pub(crate) const fn component(
    service: &'static str,
    name: &'static str,
    kind: ComponentKind,
    ports: &'static [Port],
    after: &'static [&'static str],
) -> ComponentDef {
    ComponentDef {
        name,
        service,
        kind,
        ports,
        after,
        default_replicas: 1,
    }
}

/// `jobs()` for the component `own`, nothing for any other: the jobs of a
/// single-component service.
pub(crate) fn jobs_of(component: &str, own: &str, jobs: impl FnOnce() -> Vec<Job>) -> Vec<Job> {
    if component == own {
        jobs()
    } else {
        Vec::new()
    }
}

/// The recipe of an infrastructure image, `ankyra/<service>:<version>`, made
/// of Debian packages on the base image.
pub(crate) fn debian_image(
    service: &'static str,
    version: &Version,
    packages: Vec<&'static str>,
    healthcheck: Vec<String>,
) -> ImageRecipe {
    ImageRecipe::ankyra(
        service,
        version,
        ImageSource::Debian { packages },
        healthcheck,
    )
}

/// A fixed cloud for tests: every declared secret is a unique marker.
#[cfg(test)]
pub(crate) fn fixture() -> crate::CloudContext {
    use crate::{Backend, CloudContext};
    let mut cx = CloudContext {
        cloud: "demo".into(),
        release: "2026.1".into(),
        vip: "10.89.0.2".into(),
        ..CloudContext::default()
    };
    for svc in crate::ALL {
        for c in svc.components() {
            cx.components.push(c.name.into());
            if c.kind == crate::ComponentKind::Api {
                let port = c.ports.first().map_or(0, |p| p.port);
                cx.backends.insert(
                    c.name.into(),
                    vec![Backend {
                        name: format!("demo-{}-1", c.name),
                        address: "10.89.0.10".into(),
                        port,
                        enabled: true,
                    }],
                );
            }
        }
        for s in svc.secrets() {
            // e.g. "s3cret-keystone-db-password"
            cx.secrets
                .insert(s.name.into(), format!("s3cret-{}", s.name));
        }
    }
    cx
}

#[cfg(test)]
mod tests {
    use super::fixture;
    use crate::{JobWhen, ALL};

    fn every_component() -> Vec<(&'static dyn crate::Service, &'static str)> {
        ALL.iter()
            .flat_map(|s| s.components().iter().map(move |c| (*s, c.name)))
            .collect()
    }

    #[test]
    fn every_component_has_a_process_with_a_readiness_probe() {
        let cx = fixture();
        for (svc, c) in every_component() {
            let p = svc.process(c, &cx);
            assert!(p.is_some(), "{c} has no process");
            if let Some(p) = p {
                assert!(!p.command.is_empty(), "{c} has no command");
                assert!(p.stop_timeout_secs > 0, "{c}");
            }
        }
    }

    #[test]
    fn no_secret_in_any_command_or_env() {
        let cx = fixture();
        assert!(cx.secrets.len() >= 11, "{:?}", cx.secrets.keys());
        for (svc, c) in every_component() {
            let mut argv: Vec<String> = Vec::new();
            let mut secret_files: Vec<String> = Vec::new();
            if let Some(p) = svc.process(c, &cx) {
                argv.extend(p.command.iter().cloned());
                argv.extend(p.env.iter().flat_map(|(k, v)| [k.clone(), v.clone()]));
                if let Some(w) = &p.workdir {
                    argv.push(w.clone());
                }
                if let crate::Probe::Exec { command } = &p.probe {
                    argv.extend(command.iter().cloned());
                }
                argv.extend(p.files.iter().map(|f| f.path.clone()));
                secret_files.extend(
                    p.files
                        .iter()
                        .filter(|f| !f.secret)
                        .map(|f| f.content.clone()),
                );
            }
            for j in svc.bootstrap(c, &cx) {
                argv.extend(j.command.iter().cloned());
                argv.push(j.name.clone());
                secret_files.extend(
                    j.files
                        .iter()
                        .filter(|f| !f.secret)
                        .map(|f| f.content.clone()),
                );
            }
            for value in cx.secrets.values() {
                for a in &argv {
                    assert!(!a.contains(value.as_str()), "{c}: secret in argv/env: {a}");
                }
                for f in &secret_files {
                    assert!(
                        !f.contains(value.as_str()),
                        "{c}: secret in a non-secret file"
                    );
                }
            }
        }
    }

    #[test]
    fn every_declared_secret_is_used_somewhere() {
        let cx = fixture();
        let mut text = String::new();
        for (svc, c) in every_component() {
            if let Some(p) = svc.process(c, &cx) {
                text.extend(p.files.iter().map(|f| f.content.clone()));
            }
            for j in svc.bootstrap(c, &cx) {
                text.extend(j.files.iter().map(|f| f.content.clone()));
            }
        }
        for (name, value) in &cx.secrets {
            assert!(text.contains(value.as_str()), "{name} is never written");
        }
    }

    #[test]
    fn jobs_of_a_component_come_in_a_stable_order() {
        let cx = fixture();
        let names = |c: &str| -> Vec<String> {
            let (_, svc) = crate::Catalog::get().component(c).expect("known");
            svc.bootstrap(c, &cx).into_iter().map(|j| j.name).collect()
        };
        assert_eq!(
            names("keystone"),
            [
                "keystone create databases",
                "keystone db_sync",
                "keystone fernet_setup",
                "keystone credential_setup",
                "keystone bootstrap"
            ]
        );
        assert_eq!(
            names("nova-conductor"),
            [
                "nova create databases",
                "nova api_db sync",
                "nova map_cell0",
                "nova create_cell cell1",
                "nova db sync"
            ]
        );
        assert_eq!(
            names("nova-compute"),
            ["nova discover_hosts", "nova online_data_migrations"]
        );
        assert_eq!(
            names("glance"),
            [
                "glance create databases",
                "glance db_sync",
                "glance db_load_metadefs"
            ]
        );
        for (svc, c) in every_component() {
            let a = svc.bootstrap(c, &cx);
            assert_eq!(a, svc.bootstrap(c, &cx), "{c}");
            // Database jobs come first and run before the instances.
            for (i, j) in a.iter().enumerate() {
                if j.component == "mariadb" {
                    assert_eq!(i, 0, "{c}");
                    assert_eq!(j.when, JobWhen::Before);
                }
            }
        }
    }

    #[test]
    fn overrides_are_merged_over_defaults() {
        let mut cx = fixture();
        let file = cx.overrides.entry("keystone.conf".into()).or_default();
        file.entry("token".into())
            .or_default()
            .insert("expiration".into(), "7200".into());
        file.entry("DEFAULT".into())
            .or_default()
            .insert("debug".into(), "true".into());
        cx.overrides
            .entry("nova.conf".into())
            .or_default()
            .entry("conductor".into())
            .or_default()
            .insert("workers".into(), "2".into());
        let conf = |c: &str, path: &str| -> String {
            let (_, svc) = crate::Catalog::get().component(c).expect("known");
            let p = svc.process(c, &cx).expect("runs");
            p.files
                .into_iter()
                .find(|f| f.path == path)
                .map(|f| f.content)
                .unwrap_or_default()
        };
        let ks = conf("keystone", "/etc/keystone/keystone.conf");
        assert!(ks.contains("expiration = 7200\n"), "{ks}");
        assert!(!ks.contains("expiration = 3600"));
        assert!(
            ks.contains("[DEFAULT]\nuse_stderr = true\ndebug = true\n"),
            "{ks}"
        );
        let nova = conf("nova-scheduler", "/etc/nova/nova.conf");
        assert!(nova.contains("[conductor]\nworkers = 2\n"), "{nova}");
        // Another service's file is untouched.
        assert!(!conf("glance", "/etc/glance/glance-api.conf").contains("7200"));
    }

    #[test]
    fn api_services_register_with_a_user_and_secret() {
        let cx = fixture();
        let reg: Vec<_> = ALL.iter().filter_map(|s| s.registration(&cx)).collect();
        let types: Vec<&str> = reg.iter().map(|r| r.service_type.as_str()).collect();
        assert_eq!(types, ["image", "placement", "network", "compute"]);
        for r in &reg {
            assert!(r.url.starts_with("http://10.89.0.2:"), "{}", r.url);
            let (_, secret) = r.user.as_ref().expect("a service user");
            assert!(cx.secrets.contains_key(secret), "{secret}");
        }
    }
}
