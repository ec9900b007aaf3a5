//! `ankyra destroy`: remove a cloud.

use ankyra_catalog::services::libvirt;

use crate::engine::Engine;
use crate::{files, naming, EngineError};

impl Engine {
    /// Removes a cloud's containers and network; its volumes and files only with `purge`.
    pub async fn destroy(&self, cloud: &str, purge: bool) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        let containers = self
            .docker
            .containers_with_labels(&[format!("{}={cloud}", naming::LABEL_CLOUD)])
            .await?;
        // Guests first: their QEMU runs on the host and would outlive libvirt.
        for c in containers.iter().filter(|c| {
            c.is_running()
                && c.labels.get(naming::LABEL_COMPONENT).map(String::as_str)
                    == Some(libvirt::COMPONENT)
        }) {
            let (code, out) = self
                .docker
                .exec(&c.name, &libvirt::destroy_guests_command(purge))
                .await?;
            let left: u32 = out
                .trim()
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            if code != 0 || left > 0 {
                return Err(EngineError::GuestsLeft {
                    container: c.name.clone(),
                    detail: format!("exit {code}, {left} guest(s) still running: {}", out.trim()),
                });
            }
        }
        for c in containers {
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
