//! Names and labels of everything a cloud owns on the engine.

use std::collections::HashMap;

/// Label: the cloud a container, volume or network belongs to.
pub const LABEL_CLOUD: &str = "io.ankyra.cloud";
/// Label: the component of a container.
pub const LABEL_COMPONENT: &str = "io.ankyra.component";
/// Label: the version a container runs.
pub const LABEL_VERSION: &str = "io.ankyra.version";
/// Label: the revision that created a container.
pub const LABEL_REVISION: &str = "io.ankyra.revision";
/// Label: the image reference a container was asked to run.
pub const LABEL_IMAGE: &str = "io.ankyra.image";
/// Label: the hash of the files a container was started with.
pub const LABEL_CONFIG: &str = "io.ankyra.config-hash";
/// Label: the instance number of a container.
pub const LABEL_INSTANCE: &str = "io.ankyra.instance";
/// Label: the slot of an instance (1..=replicas): a replacement takes its
/// slot, and with it the host name the service knows it by.
pub const LABEL_SLOT: &str = "io.ankyra.slot";
/// Label: a cloud network's subnet.
pub const LABEL_SUBNET: &str = "io.ankyra.subnet";

/// The cloud's network.
pub fn network(cloud: &str) -> String {
    format!("ankyra-{cloud}")
}

/// A cloud's volume.
pub fn volume(cloud: &str, volume: &str) -> String {
    format!("ankyra-{cloud}-{volume}")
}

/// An instance container.
pub fn instance(cloud: &str, component: &str, n: u32) -> String {
    format!("{cloud}-{component}-{n}")
}

/// A bootstrap job container.
pub fn job(cloud: &str, component: &str, index: usize) -> String {
    format!("{cloud}-job-{component}-{index}")
}

/// Labels every object of a cloud carries.
pub fn cloud_labels(cloud: &str) -> HashMap<String, String> {
    HashMap::from([(LABEL_CLOUD.to_string(), cloud.to_string())])
}
