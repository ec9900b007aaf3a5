//! Worker replacements the service checks: instances in stable slots, each
//! gated on what the service itself says (nova's service list, placement),
//! start-first or stop-first as the catalog says, then one scheduling check
//! per step and the retirement of service records no instance has any more.

use std::time::Instant;

use ankyra_catalog::{Catalog, RpcQueue, ServiceGate};
use ankyra_runtime::ContainerInfo;

use crate::engine::{Engine, Prepared, ADMIN_SECRET};
use crate::instances::Component;
use crate::nova_gate::{self, NovaApi, GATE_TIMEOUT};
use crate::{naming, observe, EngineError};

/// The slot of an instance (None: started before slots existed).
pub(crate) fn slot_of(c: &ContainerInfo) -> Option<u32> {
    c.labels
        .get(naming::LABEL_SLOT)
        .and_then(|s| s.parse().ok())
}

/// The lowest slot (from 1) not in `taken`.
pub(crate) fn free_slot(taken: &[u32]) -> u32 {
    (1..).find(|s| !taken.contains(s)).unwrap_or(1)
}

/// A new instance: its container, the host the service knows it by, and
/// when it started (seconds since the Unix epoch).
pub(crate) struct Started {
    pub(crate) container: String,
    pub(crate) host: String,
    pub(crate) since: i64,
}

/// A failed check: which one, and what the service said.
pub(crate) struct Failed {
    pub(crate) check: &'static str,
    pub(crate) detail: String,
}

impl Failed {
    /// The error of this failed check, of `component`'s instance on `host`
    /// (empty: of the component as a whole).
    pub(crate) fn error(self, component: &str, host: &str) -> EngineError {
        EngineError::ServiceGate {
            component: component.to_string(),
            host: host.to_string(),
            check: self.check.into(),
            detail: self.detail,
        }
    }
}

/// The host a container runs as: its slot's, or Docker's default (the
/// first 12 digits of its ID).
pub(crate) fn host_of(c: &Component<'_>, info: &ContainerInfo) -> String {
    slot_of(info)
        .and_then(|s| c.slot_host(s))
        .unwrap_or_else(|| info.id.chars().take(12).collect())
}

/// The gate of a component and a session to ask it with: None when the
/// catalog has no gate or the components it needs do not run yet (a new
/// cloud's conductor starts before nova's API).
pub(crate) struct Gate {
    pub(crate) spec: ServiceGate,
    pub(crate) api: NovaApi,
}

impl Engine {
    /// The component's service gate, when it can be asked now.
    pub(crate) async fn service_gate(
        &self,
        p: &Prepared,
        c: &Component<'_>,
    ) -> Result<Option<Gate>, EngineError> {
        let Some(spec) = Catalog::get()
            .component(&c.spec.name)
            .ok()
            .and_then(|(_, svc)| svc.service_gate(&c.spec.name))
        else {
            return Ok(None);
        };
        let running = self.active(p).await?;
        let missing: Vec<&str> = spec
            .needs
            .iter()
            .copied()
            .filter(|n| *n != c.spec.name)
            .filter(|n| {
                !running
                    .get(*n)
                    .is_some_and(|l| l.iter().any(|x| x.is_running()))
            })
            .collect();
        if !missing.is_empty() {
            c.say(format!(
                "service checks skipped: {} not running yet",
                missing.join(", ")
            ));
            return Ok(None);
        }
        let admin = p.secrets.get(ADMIN_SECRET).cloned().unwrap_or_default();
        let api = NovaApi::login(&p.network.vip, &admin)
            .await
            .map_err(|detail| {
                let check = "login for the service checks";
                Failed { check, detail }.error(&c.spec.name, "")
            })?;
        Ok(Some(Gate { spec, api }))
    }

    /// Starts instance `n` in `slot` and notes its host and start time.
    pub(crate) async fn start_slot(
        &self,
        c: &Component<'_>,
        n: u32,
        fixed_ip: Option<&str>,
        slot: u32,
    ) -> Result<Started, EngineError> {
        let since = crate::engine::now_unix();
        let info = c.start_in_slot(n, fixed_ip, Some(slot)).await?;
        Ok(Started {
            host: host_of(c, &info),
            container: info.name,
            since,
        })
    }

    /// An instance that stopped running while it was being gated: no point
    /// waiting out the gate's timeout; its last log lines say why.
    async fn died(&self, started: &Started) -> Option<String> {
        let state = self.docker.container_state(&started.container).await.ok()?;
        if state == "running" {
            return None;
        }
        let log = self
            .docker
            .container_logs(&started.container, 30)
            .await
            .unwrap_or_default();
        Some(format!(
            "{} is {state}; its last lines:\n{log}",
            started.container
        ))
    }

    /// Waits until the service proves the instance: `up` in its service list
    /// with a heartbeat after `since`; for a compute, its resource tracker
    /// synced with placement and its provider there with inventory.
    pub(crate) async fn gate_instance(
        &self,
        c: &Component<'_>,
        gate: &Gate,
        started: &Started,
        since: i64,
    ) -> Result<(), Failed> {
        let host = &started.host;
        let begun = Instant::now();
        let mut last: String;
        if let Some(r) = &gate.spec.reconnect {
            self.wait_reconnect(c, r, started, since).await?;
        }
        loop {
            match gate.api.services(gate.spec.binary).await {
                Ok(records) => match records.iter().find(|r| &r.host == host) {
                    Some(r)
                        if nova_gate::is_fresh(r, since)
                            && (!gate.spec.enabled || r.status == "enabled") =>
                    {
                        break
                    }
                    Some(r) => {
                        last = format!(
                            "state {}, status {}, last heartbeat {}",
                            r.state,
                            r.status,
                            r.updated_at.as_deref().unwrap_or("never")
                        )
                    }
                    None => last = "no record for that host".into(),
                },
                Err(e) => last = e,
            }
            if let Some(detail) = self.died(started).await {
                return Err(Failed {
                    check: "nova's service list",
                    detail,
                });
            }
            if begun.elapsed() > GATE_TIMEOUT {
                return Err(Failed {
                    check: "nova's service list",
                    detail: format!(
                        "{} not up (and enabled, where asked) with a heartbeat since it started after {} s ({last})",
                        started.container,
                        GATE_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        c.say(format!(
            "{}: up in nova's service list (host {host})",
            started.container
        ));
        if gate.spec.enabled {
            // Enabled again, the compute drops the disabled trait from its
            // provider only at its next resource update: until then placement
            // offers no candidate on it (a smoke boot got NoValidHost).
            loop {
                match gate.api.provider_traits(host).await {
                    Ok(Some(traits)) if !traits.iter().any(|t| t == nova_gate::DISABLED_TRAIT) => {
                        c.say(format!(
                            "{}: provider {host} schedulable (no {})",
                            started.container,
                            nova_gate::DISABLED_TRAIT
                        ));
                        break;
                    }
                    Ok(Some(_)) => {
                        last = format!("its provider still has {}", nova_gate::DISABLED_TRAIT)
                    }
                    Ok(None) => last = "placement has no provider of that name".into(),
                    Err(e) => last = e,
                }
                if begun.elapsed() > GATE_TIMEOUT {
                    return Err(Failed {
                        check: "resource provider",
                        detail: format!("{last} after {} s", GATE_TIMEOUT.as_secs()),
                    });
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        if !gate.spec.resource_provider {
            return Ok(());
        }
        loop {
            // The resource tracker prints this after it synced the provider
            // with placement (placement keeps no timestamps to ask instead).
            let synced = self
                .docker
                .container_logs(&started.container, 5000)
                .await
                .map(|log| log.contains("Final resource view"))
                .unwrap_or(false);
            if synced {
                match gate.api.provider(host).await {
                    Ok(Some((uuid, classes))) if !classes.is_empty() => {
                        c.say(format!(
                            "{}: resource provider {host} ({uuid}) synced by it, inventory {}",
                            started.container,
                            classes.join(", ")
                        ));
                        return Ok(());
                    }
                    Ok(Some(_)) => last = "its provider has no inventory".into(),
                    Ok(None) => last = "placement has no provider of that name".into(),
                    Err(e) => last = e,
                }
            } else {
                last = "its resource tracker has not synced with placement yet".into();
            }
            if let Some(detail) = self.died(started).await {
                return Err(Failed {
                    check: "resource provider",
                    detail,
                });
            }
            if begun.elapsed() > GATE_TIMEOUT {
                return Err(Failed {
                    check: "resource provider",
                    detail: format!("{last} after {} s", GATE_TIMEOUT.as_secs()),
                });
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }

    /// Waits until the component's consumer says (in its log) it connected
    /// again since `since`: until then it may still hold, or have just lost,
    /// the old instance's connection.
    async fn wait_reconnect(
        &self,
        c: &Component<'_>,
        r: &ankyra_catalog::Reconnect,
        started: &Started,
        since: i64,
    ) -> Result<(), Failed> {
        let check = "reconnect";
        let begun = Instant::now();
        loop {
            let consumer = observe::containers(&self.docker, c.cloud)
                .await
                .ok()
                .and_then(|m| {
                    m.get(r.consumer)
                        .and_then(|l| l.iter().find(|x| x.is_running()).cloned())
                });
            let Some(consumer) = consumer else {
                // Nothing holds a connection: nothing to wait for.
                return Ok(());
            };
            let log = self
                .docker
                .container_logs(&consumer.name, 2000)
                .await
                .unwrap_or_default();
            if nova_gate::reconnected_since(&log, r, since) {
                c.say(format!(
                    "{}: {} connected to it again",
                    started.container, consumer.name
                ));
                return Ok(());
            }
            if let Some(detail) = self.died(started).await {
                return Err(Failed { check, detail });
            }
            if begun.elapsed() > GATE_TIMEOUT {
                return Err(Failed {
                    check,
                    detail: format!(
                        "{} logged no `{}` since {} started, after {} s",
                        consumer.name,
                        r.up,
                        started.container,
                        GATE_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }

    /// Replaces the component's instances one by one, start-first without a
    /// load balancer: the new one starts in the old one's slot (same host),
    /// passes its readiness probe and consumes from the RPC queue beside
    /// the old one (a failure here removes it; the old one never stopped);
    /// then the old one stops (kept) and the new one must show its own
    /// heartbeat in the service list (the host is shared, so only then is a
    /// heartbeat surely the new one's); then the old one goes. A failed
    /// heartbeat check removes the new one and starts the old one again.
    /// Returns the hosts of instances removed.
    pub(crate) async fn replace_start_first(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        existing: &[ContainerInfo],
        next: u32,
        gate: Option<&Gate>,
    ) -> Result<Vec<String>, EngineError> {
        let replicas = c.spec.replicas as usize;
        let mut taken: Vec<u32> = existing.iter().filter_map(slot_of).collect();
        let mut removed = Vec::new();
        for i in 0..replicas {
            let old = existing.get(i);
            let slot = match old.and_then(slot_of) {
                Some(s) => s,
                None => {
                    let s = free_slot(&taken);
                    taken.push(s);
                    s
                }
            };
            let queue = gate.and_then(|g| g.spec.rpc_queue.as_ref());
            let before = match queue {
                Some(q) => self.rpc_consumers(p, q).await,
                None => None,
            };
            let started = match self.start_slot(c, next + i as u32, None, slot).await {
                Ok(s) => s,
                Err(e) => {
                    // Never ready: the old one never stopped.
                    let name = naming::instance(c.cloud, &c.spec.name, next + i as u32);
                    let _ = self.docker.remove_container(&name).await;
                    return Err(e);
                }
            };
            if let (Some(q), Some(before)) = (queue, before) {
                // Beside the old one: the new one must take calls first.
                if let Err(detail) = self.wait_consumer(p, c, q, before, &started).await {
                    c.say(format!(
                        "{} never consumed from `{}`: removing it, the old instance keeps serving",
                        started.container, q.queue
                    ));
                    let _ = self.docker.stop_container(&started.container, 10).await;
                    let _ = self.docker.remove_container(&started.container).await;
                    return Err(EngineError::GateFailed {
                        component: c.spec.name.clone(),
                        gate: "RPC consumer check".into(),
                        reason: format!("host {}: {detail}", started.host),
                    });
                }
            }
            if let Some(old) = old {
                c.say(format!(
                    "stopping {} (kept until {} passes)",
                    old.name, started.container
                ));
                self.docker
                    .stop_container(&old.name, i64::from(c.process.stop_timeout_secs))
                    .await?;
            }
            // The old instance (same host) is silent from here on: a later
            // heartbeat is the new one's.
            let since = crate::engine::now_unix();
            if let Some(gate) = gate {
                if let Err(f) = self.gate_instance(c, gate, &started, since).await {
                    c.say(format!(
                        "{} failed {}: removing it, starting the old instance again",
                        started.container, f.check
                    ));
                    let _ = self.docker.stop_container(&started.container, 10).await;
                    let _ = self.docker.remove_container(&started.container).await;
                    if let Some(old) = old {
                        self.docker.start_container(&old.name).await?;
                    }
                    return Err(EngineError::GateFailed {
                        component: c.spec.name.clone(),
                        gate: f.check.into(),
                        reason: format!("host {}: {}", started.host, f.detail),
                    });
                }
            }
            if let Some(old) = old {
                let host = host_of(c, old);
                // Stopped already: only its container goes.
                self.docker.remove_container(&old.name).await?;
                if host != started.host {
                    removed.push(host);
                }
            }
        }
        for extra in existing.iter().skip(replicas) {
            removed.push(host_of(c, extra));
            c.remove(extra).await?;
        }
        Ok(removed)
    }

    /// The consumers of an RPC queue now (None: the broker could not say;
    /// the check is then skipped, the heartbeat check still runs).
    async fn rpc_consumers(&self, p: &Prepared, q: &RpcQueue) -> Option<u32> {
        let running = observe::containers(&self.docker, &p.cloud).await.ok()?;
        let broker = running.get(q.broker)?.iter().find(|b| b.is_running())?;
        let cmd: Vec<String> = q.list_command.iter().map(|s| s.to_string()).collect();
        match self.docker.exec(&broker.name, &cmd).await {
            Ok((0, out)) => nova_gate::consumers(&out, q.queue),
            Ok((code, out)) => {
                tracing::debug!(code, output = %out, "listing RPC queues failed");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "listing RPC queues failed");
                None
            }
        }
    }

    /// Waits until the queue has more consumers than `before`: the new
    /// instance takes calls.
    async fn wait_consumer(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        q: &RpcQueue,
        before: u32,
        started: &Started,
    ) -> Result<(), String> {
        let begun = Instant::now();
        loop {
            let now = self.rpc_consumers(p, q).await;
            if now.is_some_and(|n| n > before) {
                c.say(format!(
                    "{}: consuming from `{}` ({} consumers, {before} before it)",
                    started.container,
                    q.queue,
                    now.unwrap_or(0)
                ));
                return Ok(());
            }
            if let Some(detail) = self.died(started).await {
                return Err(detail);
            }
            if begun.elapsed() > GATE_TIMEOUT {
                return Err(format!(
                    "{} consumers on `{}` after {} s, {before} before it started",
                    now.map_or("no count of".to_string(), |n| n.to_string()),
                    q.queue,
                    GATE_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }

    /// After a gated step: one scheduling check, then the service records
    /// of hosts no instance has any more (down, or whose container this
    /// step removed) are deleted.
    pub(crate) async fn finish_gate(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        gate: &Gate,
        removed_hosts: &[String],
        started_any: bool,
    ) -> Result<(), EngineError> {
        if gate.spec.scheduling_check && started_any {
            let say = |m: String| c.say(m);
            gate.api.scheduling_check(&say).await.map_err(|detail| {
                let check = "scheduling check";
                Failed { check, detail }.error(&c.spec.name, "")
            })?;
        }
        if !gate.spec.retire_stale_records {
            return Ok(());
        }
        let now = observe::containers(&self.docker, &p.cloud).await?;
        let current: Vec<String> = now
            .get(&c.spec.name)
            .into_iter()
            .flatten()
            .map(|i| host_of(c, i))
            .collect();
        let records = match gate.api.services(gate.spec.binary).await {
            Ok(r) => r,
            Err(e) => {
                // Leftover records are untidy, not harmful: say it, go on.
                c.say(format!("cannot list service records to retire: {e}"));
                return Ok(());
            }
        };
        for r in nova_gate::stale(&records, &current, removed_hosts) {
            match gate.api.delete_service(&r.id).await {
                Ok(()) => c.say(format!(
                    "deleted the {} service record of retired host {} ({})",
                    r.binary, r.host, r.state
                )),
                Err(e) => c.say(format!("cannot delete the record of {}: {e}", r.host)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_instance_takes_the_lowest_free_slot() {
        assert_eq!(free_slot(&[]), 1);
        assert_eq!(free_slot(&[1, 2]), 3);
        assert_eq!(free_slot(&[2, 3]), 1);
    }
}
