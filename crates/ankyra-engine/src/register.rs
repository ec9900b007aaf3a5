//! A service's registration in keystone (user, service, endpoints), through its API.

use std::time::{Duration, Instant};

use ankyra_catalog::{Catalog, ResolvedRecord};

use crate::engine::{Engine, Prepared, ADMIN_SECRET};
use crate::identity::Identity;
use crate::report::Event;
use crate::EngineError;

impl Engine {
    pub(crate) async fn register(
        &self,
        r: &ResolvedRecord,
        p: &Prepared,
        component: &str,
    ) -> Result<(), EngineError> {
        let catalog = Catalog::get();
        let Ok((_, svc)) = catalog.component(component) else {
            return Ok(());
        };
        let cx = self.context(r, &p.network, &p.secrets);
        let Some(reg) = svc.registration(&cx) else {
            return Ok(());
        };
        let admin = p.secrets.get(ADMIN_SECRET).cloned().unwrap_or_default();
        let password = reg
            .user
            .as_ref()
            .and_then(|(_, secret)| p.secrets.get(secret))
            .map(String::as_str);
        self.reporter.event(Event::Progress {
            component: component.into(),
            message: format!("registering {} in keystone", reg.service_type),
        });
        // HAProxy marks a new keystone up after its checks pass (rise 2 x 2 s): wait for it.
        let started = Instant::now();
        let id = loop {
            match Identity::login(&p.network.vip, &admin).await {
                Ok(id) => break id,
                Err(e) if started.elapsed() < Duration::from_secs(120) => {
                    tracing::debug!(error = %e, "keystone not reachable through HAProxy yet");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e),
            }
        };
        id.register(&reg, password).await
    }
}
