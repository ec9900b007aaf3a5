//! The test guest a libvirt cloud offers, as devstack offers cirros: the
//! public image `ankyra-guest` (ankyra-images' tiny Debian guest) and the
//! flavor `ankyra.tiny`, so `openstack server create` works at once.

use ankyra_model::ComputeDriver;
use ankyra_runtime::Docker;
use serde_json::json;

use crate::engine::{Engine, Prepared, ADMIN_SECRET};
use crate::nova_gate::{NovaApi, OwnedImage};
use crate::report::Event;
use crate::EngineError;

/// The image's name in glance.
pub const GUEST_IMAGE: &str = "ankyra-guest";
/// The flavor's name and ID: 128 MiB (the guest's kernel does not boot in
/// 64), one vCPU, a 1 GiB disk.
pub const GUEST_FLAVOR: &str = "ankyra.tiny";
const FLAVOR_RAM_MB: u32 = 128;

/// What the image carries besides its bytes: the guest powers off on
/// ACPI's button, so a stop need not wait nova's default 60 s.
fn image() -> OwnedImage {
    OwnedImage {
        name: GUEST_IMAGE,
        disk_format: "qcow2",
        properties: json!({
            "os_shutdown_timeout": "15",
            "hw_disk_bus": "virtio",
            "hw_vif_model": "virtio",
            "ankyra_guest_version": ankyra_images::guest::VERSION,
        }),
    }
}

impl Engine {
    /// Offers the test guest on a libvirt cloud whose image and compute
    /// APIs run (idempotent: an image or flavor already there is kept).
    pub(crate) async fn offer_guest(
        &self,
        driver: ComputeDriver,
        p: &Prepared,
    ) -> Result<(), EngineError> {
        let needed = ["glance", "nova-api", "keystone"];
        if driver != ComputeDriver::Libvirt || !needed.iter().all(|c| p.processes.contains_key(*c))
        {
            return Ok(());
        }
        let fail = |detail: String| EngineError::GateFailed {
            component: "nova-compute".into(),
            gate: "offering the test guest".into(),
            reason: detail,
        };
        let admin = p.secrets.get(ADMIN_SECRET).cloned().unwrap_or_default();
        let api = NovaApi::login(&p.network.vip, &admin).await.map_err(fail)?;
        let say = |message: String| {
            self.reporter.event(Event::Progress {
                component: "nova-compute".into(),
                message,
            })
        };
        let id = api
            .ensure_image(&image(), async || {
                // Built on this machine (no registry), read out of its image.
                let local = if self.is_remote() {
                    Docker::connect().await.map_err(|e| e.to_string())?
                } else {
                    self.docker().clone()
                };
                let opts = ankyra_images::BuildOptions::default();
                let reporter = crate::engine::ImageProgress(self.reporter.clone());
                let built = ankyra_images::guest::ensure(&local, &opts, &reporter)
                    .await
                    .map_err(|e| e.to_string())?;
                say(format!(
                    "uploading the test guest {} ({} bytes) as image {GUEST_IMAGE}",
                    built.reference, built.size
                ));
                ankyra_images::guest::qcow2(&local, &built)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(fail)?;
        let flavor = api
            .ensure_flavor(GUEST_FLAVOR, FLAVOR_RAM_MB, 1)
            .await
            .map_err(fail)?;
        say(format!(
            "test guest: image {GUEST_IMAGE} ({id}), flavor {flavor}"
        ));
        Ok(())
    }
}
