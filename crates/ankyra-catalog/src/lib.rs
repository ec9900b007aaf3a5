//! What Ankyra knows about each OpenStack service, one module per service
//! under `services/`, listed once in [`ALL`].
//!
//! Start at [`Service`] (the trait each service implements) and [`Catalog`]
//! (lookups by component, release tables, record validation). Pure data and
//! functions: no I/O.

mod catalog;
mod deploy;
pub mod ini;
pub mod openstack;
mod release;
pub mod services;
mod types;
mod validate;
pub mod wsgi;

pub use catalog::{Catalog, CatalogError, Jump};
pub use release::{release_index, Release, DEFAULT_RELEASE, RELEASES};
pub use types::{
    ComponentDef, ComponentKind, GuestEffect, ImageRecipe, ImageSource, Port, Reconnect, Replace,
    RpcQueue, Service, ServiceGate, VersionRules,
};
pub use validate::{
    resolve, validate_record, EngineTarget, ResolvedComponent, ResolvedRecord, Rollout, TlsFiles,
    DEFAULT_SUBNET_POOL, LIBVIRT_COMPONENT,
};

/// Every service Ankyra knows, one line each.
pub static ALL: &[&dyn Service] = &[
    &services::mariadb::MariaDb,
    &services::memcached::Memcached,
    &services::rabbitmq::RabbitMq,
    &services::haproxy::HaProxy,
    &services::keystone::Keystone,
    &services::glance::Glance,
    &services::placement::Placement,
    &services::neutron::Neutron,
    &services::libvirt::Libvirt,
    &services::nova::Nova,
];
pub use deploy::{
    Backend, CloudContext, ConfigFile, HostAccess, Job, JobWhen, Probe, ProcessSpec, Registration,
    SecretSpec, Smoke, VolumeMount,
};
