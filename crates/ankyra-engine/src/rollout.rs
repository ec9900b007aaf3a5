//! Replacing an API component's instances without a failed request: start
//! the new instance beside the old, gate it (health, smoke check), add it to
//! HAProxy through its runtime API, drain the old one and park it in
//! maintenance. Old instances stay running, parked, for the bake window, so a
//! rollback inside it is a load-balancer switch. Any failed gate puts the
//! old instances back and removes the new ones.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ankyra_catalog::{Catalog, ResolvedComponent, Smoke};
use ankyra_runtime::ContainerInfo;

use crate::engine::{Engine, Prepared, ADMIN_SECRET};
use crate::identity::Identity;
use crate::instances::Component;
use crate::lb::{RuntimeApi, ServerState};
use crate::report::Event;
use crate::EngineError;

/// How long HAProxy may take to mark a gated instance UP.
const UP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may take to finish on a drained instance.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Smoke check attempts (a fresh instance may still be warming its caches).
const SMOKE_ATTEMPTS: u32 = 3;

/// The API port of a component (the same on the VIP and in its container).
fn api_port(component: &str) -> u16 {
    Catalog::get()
        .component(component)
        .ok()
        .and_then(|(d, _)| d.ports.first().map(|p| p.port))
        .unwrap_or(80)
}

/// What a finished rolling replacement leaves.
pub(crate) struct Rolled {
    /// The old instances, running, in maintenance in HAProxy.
    pub parked: Vec<ContainerInfo>,
}

impl Engine {
    /// Runs the component's smoke check against one instance, on its own address.
    pub(crate) async fn smoke(
        &self,
        p: &Prepared,
        spec: &ResolvedComponent,
        instance: &ContainerInfo,
    ) -> Result<(), String> {
        let Ok((_, svc)) = Catalog::get().component(&spec.name) else {
            return Ok(());
        };
        let Some(smoke) = svc.smoke(&spec.name) else {
            return Ok(());
        };
        let Some(address) = instance.addresses.get(&p.network.name) else {
            return Err(format!("{} has no address", instance.name));
        };
        let admin = p.secrets.get(ADMIN_SECRET).cloned().unwrap_or_default();
        let port = api_port(&spec.name);
        let mut last = String::new();
        for attempt in 0..SMOKE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let result = match &smoke {
                Smoke::Token => smoke_token(&p.network.vip, address, port, &admin).await,
                Smoke::Get { path, headers } => {
                    smoke_get(&p.network.vip, address, port, path, headers, &admin).await
                }
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Start-first replacement of `old` by `spec.replicas` new instances
    /// numbered from `next`. On a failed gate everything is put back as it was.
    pub(crate) async fn roll(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        old: &[ContainerInfo],
        next: u32,
    ) -> Result<Rolled, EngineError> {
        let spec = c.spec;
        let lb = RuntimeApi::new(&p.network.vip);
        let backend = spec.name.as_str();
        let port = api_port(backend);
        let surge = p.rollout.max_surge.max(1);
        // A run killed half-way left new instances behind: those HAProxy
        // serves are done, the others never served and go.
        let stats = lb.stats().await?;
        let serving = |c: &ContainerInfo| {
            stats
                .iter()
                .any(|s| s.backend == backend && s.server == c.name && s.is_up())
        };
        let (mut done, mut in_rotation): (Vec<ContainerInfo>, Vec<ContainerInfo>) = old
            .iter()
            .cloned()
            .partition(|o| self.is_wanted(c, o) && o.is_running());
        for d in std::mem::take(&mut done) {
            if serving(&d) && (done.len() as u32) < spec.replicas {
                c.say(format!(
                    "{} (left by an earlier run) already serves",
                    d.name
                ));
                done.push(d);
            } else {
                c.say(format!("removing {} (left by an earlier run)", d.name));
                let _ = lb.remove_server(backend, &d.name).await;
                c.remove(&d).await?;
            }
        }
        // A stopped old instance serves nothing: nothing to drain, nothing to keep.
        for o in in_rotation.iter().filter(|o| !o.is_running()) {
            let _ = lb.remove_server(backend, &o.name).await;
            c.remove(o).await?;
        }
        in_rotation.retain(ContainerInfo::is_running);
        let mut added: Vec<ContainerInfo> = Vec::new();
        let mut parked: Vec<ContainerInfo> = Vec::new();
        let mut n = next;
        let mut made = done.len() as u32;
        while made < spec.replicas {
            let batch = surge.min(spec.replicas - made);
            let mut fresh = Vec::new();
            for _ in 0..batch {
                match c.start_instance(n, None).await {
                    Ok(info) => {
                        crate::killpoint::hit("instance-started");
                        fresh.push(info)
                    }
                    Err(e) => {
                        // A half-started container is removed with the others.
                        let name = crate::naming::instance(c.cloud, backend, n);
                        let _ = self.docker.stop_container(&name, 5).await;
                        let _ = self.docker.remove_container(&name).await;
                        return Err(self
                            .revert(p, c, &lb, &added, &parked, "health gate", e.to_string())
                            .await);
                    }
                }
                n += 1;
            }
            added.extend(fresh.iter().cloned());
            for f in &fresh {
                c.say(format!("smoke check of {}", f.name));
                if let Err(reason) = self.smoke(p, spec, f).await {
                    return Err(self
                        .revert(p, c, &lb, &added, &parked, "smoke check", reason)
                        .await);
                }
            }
            for f in &fresh {
                let address = f
                    .addresses
                    .get(&p.network.name)
                    .cloned()
                    .unwrap_or_default();
                c.say(format!("adding {} to HAProxy", f.name));
                let res = async {
                    lb.add_server(backend, &f.name, &address, port).await?;
                    // In the file at once: an HAProxy restart from here on keeps it.
                    self.write_lb_file(p).await?;
                    lb.wait_up(backend, &f.name, UP_TIMEOUT).await
                }
                .await;
                if res.is_ok() {
                    crate::killpoint::hit("instance-added");
                }
                if let Err(e) = res {
                    return Err(self
                        .revert(p, c, &lb, &added, &parked, "load balancer", e.to_string())
                        .await);
                }
            }
            let take = (batch as usize).min(in_rotation.len());
            for o in in_rotation.drain(..take) {
                self.park(p, c, &lb, &o).await?;
                crate::killpoint::hit("old-parked");
                parked.push(o);
            }
            self.write_lb_file(p).await?;
            made += batch;
        }
        // More old instances than new ones (scaled down with the change).
        for o in std::mem::take(&mut in_rotation) {
            self.park(p, c, &lb, &o).await?;
            parked.push(o);
        }
        self.write_lb_file(p).await?;
        if let Err(reason) = self
            .observe(c, &lb, backend, &added, p.rollout.observe)
            .await
        {
            return Err(self
                .revert(p, c, &lb, &added, &parked, "error-rate watch", reason)
                .await);
        }
        crate::killpoint::hit("watched");
        Ok(Rolled { parked })
    }

    /// Whether an instance runs exactly what the component wants now.
    fn is_wanted(&self, c: &Component<'_>, o: &ContainerInfo) -> bool {
        use crate::naming::{LABEL_CONFIG, LABEL_IMAGE, LABEL_VERSION};
        o.labels.get(LABEL_VERSION) == Some(&c.spec.version.to_string())
            && o.labels.get(LABEL_IMAGE) == Some(&c.spec.image)
            && o.labels.get(LABEL_CONFIG).map(String::as_str) == Some(c.config_hash)
    }

    /// Drains an instance (in-flight requests finish) and parks it in maintenance.
    async fn park(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        lb: &RuntimeApi,
        o: &ContainerInfo,
    ) -> Result<(), EngineError> {
        let backend = c.spec.name.as_str();
        if lb.server(backend, &o.name).await?.is_none() {
            // Never added (a run killed before it was): it serves nothing.
            p.parked.lock().await.insert(o.name.clone());
            return Ok(());
        }
        c.say(format!("draining {}", o.name));
        lb.set_state(backend, &o.name, ServerState::Drain).await?;
        lb.wait_idle(backend, &o.name, DRAIN_TIMEOUT).await?;
        lb.set_state(backend, &o.name, ServerState::Maint).await?;
        p.parked.lock().await.insert(o.name.clone());
        Ok(())
    }

    /// Watches the new instances' 5xx count and errors in HAProxy's statistics for `window`.
    async fn observe(
        &self,
        c: &Component<'_>,
        lb: &RuntimeApi,
        backend: &str,
        added: &[ContainerInfo],
        window: Duration,
    ) -> Result<(), String> {
        if window.is_zero() {
            return Ok(());
        }
        c.say(format!(
            "watching the new instances for {} s",
            window.as_secs()
        ));
        let names: BTreeSet<&str> = added.iter().map(|a| a.name.as_str()).collect();
        let count = |stats: &[crate::lb::ServerStat]| -> u64 {
            stats
                .iter()
                .filter(|s| s.backend == backend && names.contains(s.server.as_str()))
                .map(|s| s.http_5xx + s.errors)
                .sum()
        };
        let base = count(&lb.stats().await.map_err(|e| e.to_string())?);
        let started = Instant::now();
        while started.elapsed() < window {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let stats = lb.stats().await.map_err(|e| e.to_string())?;
            let now = count(&stats);
            if now > base {
                return Err(format!(
                    "the new instances answered {} errors (5xx or failed connections) in {:.1} s",
                    now - base,
                    started.elapsed().as_secs_f64()
                ));
            }
            if let Some(down) = stats
                .iter()
                .find(|s| s.backend == backend && names.contains(s.server.as_str()) && !s.is_up())
            {
                return Err(format!("{} went {} in HAProxy", down.server, down.status));
            }
        }
        Ok(())
    }

    /// Puts the old instances back in rotation, removes the new ones, and
    /// returns the gate failure to report.
    #[allow(clippy::too_many_arguments)]
    async fn revert(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        lb: &RuntimeApi,
        added: &[ContainerInfo],
        parked: &[ContainerInfo],
        gate: &str,
        reason: String,
    ) -> EngineError {
        let backend = c.spec.name.as_str();
        c.say(format!(
            "{gate} failed, putting the old instances back: {reason}"
        ));
        for o in parked {
            if let Err(e) = lb.set_state(backend, &o.name, ServerState::Ready).await {
                tracing::warn!(server = %o.name, error = %e, "cannot put an old instance back");
            }
            p.parked.lock().await.remove(&o.name);
        }
        for a in added {
            let _ = lb.set_state(backend, &a.name, ServerState::Drain).await;
            let _ = lb.wait_idle(backend, &a.name, DRAIN_TIMEOUT).await;
            if let Err(e) = lb.remove_server(backend, &a.name).await {
                tracing::warn!(server = %a.name, error = %e, "cannot remove a new instance from HAProxy");
            }
            if let Err(e) = c.remove(a).await {
                tracing::warn!(container = %a.name, error = %e, "cannot remove a new instance");
            }
        }
        if let Err(e) = self.write_lb_file(p).await {
            tracing::warn!(error = %e, "cannot rewrite haproxy.cfg after a revert");
        }
        EngineError::GateFailed {
            component: backend.to_string(),
            gate: gate.to_string(),
            reason,
        }
    }

    /// A rollback inside the bake window: the parked instances (which run
    /// exactly what is wanted) go back into rotation and the current ones
    /// are drained, then removed. Returns the switch's duration in seconds.
    pub(crate) async fn switch_back(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        standby: &[ContainerInfo],
        current: &[ContainerInfo],
    ) -> Result<f64, EngineError> {
        let backend = c.spec.name.as_str();
        let lb = RuntimeApi::new(&p.network.vip);
        // Gate the parked instances before the switch: they must still serve.
        for s in standby {
            if !s.is_running() || s.health == "unhealthy" {
                return Err(EngineError::GateFailed {
                    component: backend.into(),
                    gate: "standby check".into(),
                    reason: format!("{} is {} ({})", s.name, s.state, s.health),
                });
            }
            if let Err(reason) = self.smoke(p, c.spec, s).await {
                return Err(EngineError::GateFailed {
                    component: backend.into(),
                    gate: "standby smoke check".into(),
                    reason,
                });
            }
        }
        let started = Instant::now();
        for s in standby {
            lb.set_state(backend, &s.name, ServerState::Ready).await?;
        }
        for e in current {
            lb.set_state(backend, &e.name, ServerState::Drain).await?;
        }
        for e in current {
            lb.wait_idle(backend, &e.name, DRAIN_TIMEOUT).await?;
            lb.set_state(backend, &e.name, ServerState::Maint).await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        {
            let mut parked = p.parked.lock().await;
            for s in standby {
                parked.remove(&s.name);
            }
            for e in current {
                parked.insert(e.name.clone());
            }
        }
        self.write_lb_file(p).await?;
        self.reporter.event(Event::Progress {
            component: backend.into(),
            message: format!("switched back to the parked instances in {seconds:.3} s"),
        });
        for e in current {
            lb.remove_server(backend, &e.name).await?;
            c.remove(e).await?;
            p.parked.lock().await.remove(&e.name);
        }
        self.write_lb_file(p).await?;
        Ok(seconds)
    }

    /// Removes parked instances for good (bake window over, finalize, or a newer change).
    pub(crate) async fn retire(
        &self,
        p: &Prepared,
        component: &str,
        names: &[String],
    ) -> Result<(), EngineError> {
        let lb = RuntimeApi::new(&p.network.vip);
        for name in names {
            if let Err(e) = lb.remove_server(component, name).await {
                // HAProxy may be restarting: its file is rewritten below all the same.
                tracing::warn!(server = %name, error = %e, "cannot remove a parked instance from HAProxy");
            }
            self.docker.stop_container(name, 30).await?;
            self.docker.remove_container(name).await?;
            p.parked.lock().await.remove(name);
        }
        self.write_lb_file(p).await
    }
}

/// Keystone: an admin token issued by the new instance validates there, and
/// so does one issued through HAProxy by the running version.
async fn smoke_token(vip: &str, address: &str, port: u16, admin: &str) -> Result<(), String> {
    let here = Identity::login_at(&format!("http://{address}:{port}/v3"), admin)
        .await
        .map_err(|e| format!("token issue on the new instance: {e}"))?;
    here.validate(here.token())
        .await
        .map_err(|e| format!("token validation on the new instance: {e}"))?;
    let through = Identity::login(vip, admin)
        .await
        .map_err(|e| format!("token issue through HAProxy: {e}"))?;
    here.validate(through.token())
        .await
        .map_err(|e| format!("the new instance rejects a token issued by the running version: {e}"))
}

/// Any other API: a read with an admin token on the new instance.
async fn smoke_get(
    vip: &str,
    address: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    admin: &str,
) -> Result<(), String> {
    let id = Identity::login(vip, admin)
        .await
        .map_err(|e| format!("admin token: {e}"))?;
    let url = format!("http://{address}:{port}{path}");
    let (status, body) = id.get(&url, headers).await.map_err(|e| e.to_string())?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("GET {path} answered {status}: {body}"))
    }
}
