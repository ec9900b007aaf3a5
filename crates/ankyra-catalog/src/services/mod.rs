//! One module per service: everything Ankyra knows about it.

pub mod glance;
pub mod haproxy;
pub mod keystone;
pub mod mariadb;
pub mod memcached;
pub mod neutron;
pub mod nova;
pub mod placement;
pub mod rabbitmq;

