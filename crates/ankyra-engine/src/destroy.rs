//! `ankyra destroy`: remove a cloud.

use crate::engine::Engine;
use crate::{files, naming, EngineError};

impl Engine {
    /// Removes a cloud's containers and network; its volumes and files only with `purge`.
    pub async fn destroy(&self, cloud: &str, purge: bool) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for c in self
            .docker
            .containers_with_labels(&[format!("{}={cloud}", naming::LABEL_CLOUD)])
            .await?
        {
            self.docker.stop_container(&c.name, 20).await?;
            self.docker.remove_container(&c.name).await?;
            removed.push(c.name);
        }
        self.docker.remove_network(&naming::network(cloud)).await?;
        if purge {
            for v in self
                .docker
                .volumes_with_label(naming::LABEL_CLOUD, cloud)
                .await?
            {
                self.docker.remove_volume(&v).await?;
                removed.push(v);
            }
            files::remove_all(&self.cloud_dir(cloud));
        }
        Ok(removed)
    }
}
