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

/// The /16 a cloud's network is carved from: its first two octets.
pub type Pool = (u8, u8);

/// `n` when `subnet` is `a.b.n.0/24` of `pool`.
fn third_octet(pool: Pool, subnet: &str) -> Option<u8> {
    let rest = subnet.strip_prefix(&format!("{}.{}.", pool.0, pool.1))?;
    let (n, tail) = rest.split_once('.')?;
    (tail == "0/24").then_some(())?;
    n.parse().ok()
}

/// A network of any pool: `a.b.n.0/24` gives its VIP `a.b.n.10`.
fn network_of(name: String, subnet: String) -> Option<Network> {
    let net = subnet.strip_suffix(".0/24")?;
    let octets: Vec<u8> = net
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<Vec<u8>>>()?;
    let [a, b, n] = octets.as_slice() else {
        return None;
    };
    Some(Network {
        name,
        vip: format!("{a}.{b}.{n}.10"),
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
pub async fn find_network(
    docker: &Docker,
    cloud: &str,
    pool: Pool,
) -> Result<Network, EngineError> {
    let name = naming::network(cloud);
    Ok(existing(docker, &name).await?.unwrap_or(Network {
        name,
        vip: format!("{}.{}.0.10", pool.0, pool.1),
    }))
}

/// The cloud's network, created on first use with a free /24 of the engine's
/// pool (10.231.0.0/16 unless the record's host says). Fixed addresses
/// (HAProxy's) sit below .128; the engine hands out the rest.
pub async fn ensure_network(
    docker: &Docker,
    cloud: &str,
    pool: Pool,
) -> Result<Network, EngineError> {
    let name = naming::network(cloud);
    if let Some(net) = existing(docker, &name).await? {
        return Ok(net);
    }
    let used: Vec<u8> = docker
        .networks()
        .await?
        .iter()
        .flat_map(|n| n.subnets.iter().filter_map(|s| third_octet(pool, s)))
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
    let (a, b) = pool;
    let subnet = format!("{a}.{b}.{n}.0/24");
    let mut labels: HashMap<String, String> = naming::cloud_labels(cloud);
    labels.insert(LABEL_SUBNET.into(), subnet.clone());
    docker
        .create_network(&name, &subnet, &format!("{a}.{b}.{n}.128/25"), labels)
        .await?;
    network_of(name, subnet).ok_or(EngineError::NoSubnet)
}
