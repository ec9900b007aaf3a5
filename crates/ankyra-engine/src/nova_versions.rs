//! Handing nova's service records back to older code on a rollback.
//!
//! nova refuses to create or save a service record while the lowest version
//! among its binary's live records is above its own code's `SERVICE_VERSION`
//! (`Service._check_minimum_version`). Replacement hosts are stable, so an
//! older instance inherits the record the newer one wrote and its first save
//! fails (ServiceTooOld): it never heartbeats. When a step's version goes
//! down, before the older code starts:
//! - conductor, scheduler (start-first): every record of the binary newer
//!   than the target code is deleted through the API; the old instances keep
//!   consuming RPC calls (they only log that their record is gone), the new
//!   ones create fresh records on the same hosts. An old instance started
//!   again after a failed gate saves its newer version over them: allowed.
//! - compute (stop-first, after the old one stopped): its record is never
//!   deleted (that deletes the node and its resource provider); its version
//!   is lowered in nova's database instead.
//!
//! What to run is the catalog's (`services::nova`); this module runs it.

use ankyra_catalog::services::mariadb;
use ankyra_catalog::services::nova::{self, HandBack, ServiceVersion};
use ankyra_model::Version;
use ankyra_runtime::{ContainerInfo, ContainerSpec};

use crate::engine::{Engine, Prepared, ADMIN_SECRET};
use crate::instances::Component;
use crate::nova_gate::NovaApi;
use crate::{naming, observe, workers, EngineError};

/// What a step must hand back, decided before any old instance stops.
pub(crate) struct Pending {
    binary: &'static str,
    how: HandBack,
    /// The target code's `SERVICE_VERSION`.
    target: u32,
    /// The hosts of the old instances (whose records the compute lowers).
    hosts: Vec<String>,
}

/// The newest version the old instances run, when it is above `to`: the
/// step goes down (None: it does not, or no old instance says its version).
pub(crate) fn going_down(existing: &[ContainerInfo], to: &Version) -> Option<Version> {
    existing
        .iter()
        .filter_map(|c| c.labels.get(naming::LABEL_VERSION))
        .filter_map(|v| v.parse::<Version>().ok())
        .max()
        .filter(|from| from > to)
}

/// The records newer code wrote: above the target code's version.
pub(crate) fn to_hand_back(records: &[ServiceVersion], target: u32) -> Vec<&ServiceVersion> {
    records.iter().filter(|r| r.version > target).collect()
}

/// The records of `hosts` among `records` that need lowering.
pub(crate) fn to_lower<'a>(
    records: &'a [ServiceVersion],
    target: u32,
    hosts: &[String],
) -> Vec<&'a ServiceVersion> {
    to_hand_back(records, target)
        .into_iter()
        .filter(|r| hosts.contains(&r.host))
        .collect()
}

fn failed(c: &Component<'_>, detail: String) -> EngineError {
    EngineError::ServiceGate {
        component: c.spec.name.clone(),
        host: String::new(),
        check: "handing service records back to the older version".into(),
        detail,
    }
}

impl Engine {
    /// Whether this step hands records back (a nova worker whose version
    /// goes down), and to which `SERVICE_VERSION`: read by running the
    /// target image once. Call before any old instance stops.
    pub(crate) async fn hand_back_pending(
        &self,
        c: &Component<'_>,
        existing: &[ContainerInfo],
    ) -> Result<Option<Pending>, EngineError> {
        let Some((binary, how)) = nova::hand_back(&c.spec.name) else {
            return Ok(None);
        };
        if going_down(existing, &c.spec.version).is_none() {
            return Ok(None);
        }
        let target = self.service_version(c).await?;
        Ok(Some(Pending {
            binary,
            how,
            target,
            hosts: existing.iter().map(|i| workers::host_of(c, i)).collect(),
        }))
    }

    /// Hands the records back: before the first new (older) instance
    /// starts; for the compute, after the old one stopped.
    pub(crate) async fn hand_back(
        &self,
        p: &Prepared,
        c: &Component<'_>,
        pending: Option<Pending>,
        api: Option<&NovaApi>,
    ) -> Result<(), EngineError> {
        let Some(pending) = pending else {
            return Ok(());
        };
        let db = self.mariadb(p).await.map_err(|d| failed(c, d))?;
        let (code, out) = self
            .docker
            .exec(
                &db,
                &mariadb::sql_command(&nova::service_versions_sql(pending.binary)),
            )
            .await?;
        if code != 0 {
            return Err(failed(
                c,
                format!(
                    "reading nova's service records: exit code {code}: {}",
                    out.trim()
                ),
            ));
        }
        let records = nova::parse_service_versions(&out);
        let target = pending.target;
        let chosen = match pending.how {
            HandBack::Delete => to_hand_back(&records, target),
            HandBack::Lower => to_lower(&records, target, &pending.hosts),
        };
        let Some(newest) = chosen.iter().map(|r| r.version).max() else {
            return Ok(());
        };
        c.say(format!(
            "handing {} service record{} back to {} (SERVICE_VERSION {target} < {newest})",
            chosen.len(),
            if chosen.len() == 1 { "" } else { "s" },
            c.spec.version
        ));
        match pending.how {
            HandBack::Delete => {
                let own;
                let api = match api {
                    Some(api) => api,
                    None => {
                        let admin = p.secrets.get(ADMIN_SECRET).cloned().unwrap_or_default();
                        own = NovaApi::login(&p.network.vip, &admin)
                            .await
                            .map_err(|d| failed(c, d))?;
                        &own
                    }
                };
                for r in chosen {
                    api.delete_service(&r.uuid)
                        .await
                        .map_err(|d| failed(c, format!("host {}: {d}", r.host)))?;
                    c.say(format!(
                        "deleted the {} service record of {} (version {})",
                        pending.binary, r.host, r.version
                    ));
                }
            }
            HandBack::Lower => {
                for r in chosen {
                    let sql = nova::lower_version_sql(pending.binary, &r.host, target);
                    let (code, out) = self.docker.exec(&db, &mariadb::sql_command(&sql)).await?;
                    if code != 0 {
                        return Err(failed(
                            c,
                            format!(
                                "lowering the record of {}: exit code {code}: {}",
                                r.host,
                                out.trim()
                            ),
                        ));
                    }
                    c.say(format!(
                        "lowered the {} service record of {} from version {} to {target}",
                        pending.binary, r.host, r.version
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `SERVICE_VERSION` of the component's (target) image, from a
    /// one-shot container without network.
    async fn service_version(&self, c: &Component<'_>) -> Result<u32, EngineError> {
        let name = format!("{}-service-version", naming::job(c.cloud, &c.spec.name, 0));
        self.docker.remove_container(&name).await?;
        let spec = ContainerSpec {
            name: name.clone(),
            image: c.spec.image.clone(),
            cmd: Some(nova::service_version_command()),
            labels: naming::cloud_labels(c.cloud),
            network_disabled: true,
            ..Default::default()
        };
        let outcome = self.docker.run_to_completion(&spec, 20).await;
        let _ = self.docker.remove_container(&name).await;
        let outcome = outcome?;
        match nova::parse_service_version(&outcome.output_tail) {
            Some(v) if outcome.exit_code == 0 => Ok(v),
            _ => Err(failed(
                c,
                format!(
                    "no SERVICE_VERSION from {} (exit code {}): {}",
                    c.spec.image,
                    outcome.exit_code,
                    outcome.output_tail.trim()
                ),
            )),
        }
    }

    /// The running mariadb container of the cloud.
    async fn mariadb(&self, p: &Prepared) -> Result<String, String> {
        let running = observe::containers(&self.docker, &p.cloud)
            .await
            .map_err(|e| e.to_string())?;
        running
            .get(mariadb::COMPONENT)
            .and_then(|l| l.iter().find(|c| c.is_running()))
            .map(|c| c.name.clone())
            .ok_or_else(|| "no running mariadb".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(host: &str, version: u32) -> ServiceVersion {
        ServiceVersion {
            uuid: format!("uuid-{host}"),
            host: host.into(),
            version,
        }
    }

    fn at(version: &str) -> ContainerInfo {
        ContainerInfo {
            id: String::new(),
            name: String::new(),
            image: String::new(),
            image_id: String::new(),
            labels: [(naming::LABEL_VERSION.to_string(), version.to_string())].into(),
            state: "running".into(),
            health: "none".into(),
            addresses: Default::default(),
            created: 0,
        }
    }

    fn v(s: &str) -> Version {
        s.parse().expect("version")
    }

    #[test]
    fn only_a_step_to_an_older_version_hands_records_back() {
        let old = [at("34.0.0"), at("34.0.0")];
        assert_eq!(going_down(&old, &v("33.0.2")), Some(v("34.0.0")));
        assert_eq!(going_down(&old, &v("34.0.0")), None, "same version");
        assert_eq!(going_down(&[at("33.0.2")], &v("34.0.0")), None, "upgrade");
        assert_eq!(going_down(&[], &v("33.0.2")), None, "nothing runs");
        // A half-done earlier rollback: one old instance is already older.
        assert_eq!(
            going_down(&[at("33.0.2"), at("34.0.0")], &v("33.0.2")),
            Some(v("34.0.0"))
        );
        assert_eq!(going_down(&[at("?")], &v("33.0.2")), None);
    }

    #[test]
    fn every_record_above_the_target_code_goes() {
        let records = [
            record("lab1-nova-scheduler-1", 74),
            record("lab1-nova-scheduler-2", 72),
            record("3f9e2c1d7a6b", 74),
            record("old", 70),
        ];
        let hosts = |v: Vec<&ServiceVersion>| v.iter().map(|r| r.host.clone()).collect::<Vec<_>>();
        assert_eq!(
            hosts(to_hand_back(&records, 72)),
            ["lab1-nova-scheduler-1", "3f9e2c1d7a6b"]
        );
        assert!(to_hand_back(&records, 74).is_empty());
        // The compute lowers only its own host's record.
        let computes = [record("lab1-compute", 74), record("other-compute", 74)];
        assert_eq!(
            hosts(to_lower(&computes, 72, &["lab1-compute".into()])),
            ["lab1-compute"]
        );
        assert!(to_lower(&computes, 74, &["lab1-compute".into()]).is_empty());
    }
}
