//! Networks and volumes: one network per cloud, named volumes for state.

use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig};
use bollard::network::{CreateNetworkOptions, InspectNetworkOptions, ListNetworksOptions};
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use tracing::debug;

use super::{is_not_found, Docker, DockerError};

/// A network as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Its name.
    pub name: String,
    /// Its IPv4 subnets, e.g. `10.231.7.0/24`.
    pub subnets: Vec<String>,
    /// Its labels.
    pub labels: HashMap<String, String>,
}

impl From<bollard::models::Network> for NetworkInfo {
    fn from(n: bollard::models::Network) -> Self {
        NetworkInfo {
            name: n.name.unwrap_or_default(),
            subnets: n
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.subnet)
                .collect(),
            labels: n.labels.unwrap_or_default(),
        }
    }
}

impl Docker {
    /// Every network's name, subnets and labels.
    pub async fn networks(&self) -> Result<Vec<NetworkInfo>, DockerError> {
        let list = self
            .retrying("list networks", "engine", || {
                self.inner
                    .list_networks(None::<ListNetworksOptions<String>>)
            })
            .await
            .map_err(self.api_error("list networks", "engine"))?;
        Ok(list.into_iter().map(NetworkInfo::from).collect())
    }

    /// A network by name, if it exists.
    pub async fn network(&self, name: &str) -> Result<Option<NetworkInfo>, DockerError> {
        match self
            .retrying("inspect network", name, || {
                self.inner
                    .inspect_network(name, None::<InspectNetworkOptions<String>>)
            })
            .await
        {
            Ok(n) => Ok(Some(NetworkInfo::from(n))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.api_error("inspect network", name)(e)),
        }
    }

    /// Creates a bridge network with a subnet; dynamic addresses come from
    /// `ip_range` so fixed addresses below it never clash.
    pub async fn create_network(
        &self,
        name: &str,
        subnet: &str,
        ip_range: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        debug!(name, subnet, "creating network");
        self.inner
            .create_network(CreateNetworkOptions {
                name: name.to_string(),
                driver: "bridge".to_string(),
                check_duplicate: true,
                ipam: Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.to_string()),
                        ip_range: Some(ip_range.to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                labels,
                ..Default::default()
            })
            .await
            .map_err(self.api_error("create network", name))?;
        Ok(())
    }

    /// Removes a network; a missing one is fine.
    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self
            .retrying("remove network", name, || self.inner.remove_network(name))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.api_error("remove network", name)(e)),
        }
    }

    /// Creates a named volume if it does not exist (creating is idempotent in the engine).
    pub async fn ensure_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        self.retrying("create volume", name, || {
            self.inner.create_volume(CreateVolumeOptions {
                name: name.to_string(),
                labels: labels.clone(),
                ..Default::default()
            })
        })
        .await
        .map_err(self.api_error("create volume", name))?;
        Ok(())
    }

    /// Names of volumes carrying `label=value`.
    pub async fn volumes_with_label(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<String>, DockerError> {
        let filter = format!("{label}={value}");
        let list = self
            .retrying("list volumes", &filter, || {
                self.inner.list_volumes(Some(ListVolumesOptions {
                    filters: HashMap::from([("label", vec![filter.as_str()])]),
                }))
            })
            .await
            .map_err(self.api_error("list volumes", filter.clone()))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    /// Removes a volume; a missing one is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        match self
            .retrying("remove volume", name, || {
                self.inner
                    .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            })
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.api_error("remove volume", name)(e)),
        }
    }
}
