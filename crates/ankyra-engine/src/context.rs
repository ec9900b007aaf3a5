//! The cloud's network, its HAProxy address, and the context service
//! modules render their files from.

use std::collections::HashMap;

use ankyra_runtime::Docker;

use crate::naming::{self, LABEL_SUBNET};
use crate::EngineError;

/// Where a cloud lives on its network.
#[derive(Debug, Clone)]
pub struct Network {
    /// The network's name.
    pub name: String,
    /// HAProxy's fixed address, the address of every API endpoint.
    pub vip: String,
}

fn third_octet(subnet: &str) -> Option<u8> {
    let rest = subnet.strip_prefix("10.231.")?;
    rest.split('.').next()?.parse().ok()
}

fn network_of(name: String, subnet: String) -> Option<Network> {
    let n = third_octet(&subnet)?;
    Some(Network {
        name,
        vip: format!("10.231.{n}.10"),
    })
}

/// The cloud's network as it exists on the engine, if it does.
async fn existing(docker: &Docker, name: &str) -> Result<Option<Network>, EngineError> {
    Ok(docker.network(name).await?.and_then(|n| {
        let subnet = n
            .labels
            .get(LABEL_SUBNET)
            .cloned()
            .or_else(|| n.subnets.first().cloned())
            .unwrap_or_default();
        network_of(name.to_string(), subnet)
    }))
}

/// The cloud's network if it exists, else where it would be (nothing is created).
pub async fn find_network(docker: &Docker, cloud: &str) -> Result<Network, EngineError> {
    let name = naming::network(cloud);
    Ok(existing(docker, &name).await?.unwrap_or(Network {
        name,
        vip: "10.231.0.10".into(),
    }))
}

/// The cloud's network, created on first use with a free /24 of 10.231.0.0/16.
/// Fixed addresses (HAProxy's) sit below .128; the engine hands out the rest.
pub async fn ensure_network(docker: &Docker, cloud: &str) -> Result<Network, EngineError> {
    let name = naming::network(cloud);
    if let Some(net) = existing(docker, &name).await? {
        return Ok(net);
    }
    let used: Vec<u8> = docker
        .networks()
        .await?
        .iter()
        .flat_map(|n| n.subnets.iter().filter_map(|s| third_octet(s)))
        .collect();
    // Start from a number derived from the name so clouds made at the same time rarely race.
    let start = cloud
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 250;
    let n = (0..250u32)
        .map(|i| ((start + i) % 250 + 1) as u8)
        .find(|n| !used.contains(n))
        .ok_or(EngineError::NoSubnet)?;
    let subnet = format!("10.231.{n}.0/24");
    let mut labels: HashMap<String, String> = naming::cloud_labels(cloud);
    labels.insert(LABEL_SUBNET.into(), subnet.clone());
    docker
        .create_network(&name, &subnet, &format!("10.231.{n}.128/25"), labels)
        .await?;
    network_of(name, subnet).ok_or(EngineError::NoSubnet)
}
