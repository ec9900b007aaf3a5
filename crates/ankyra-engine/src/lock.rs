//! The cloud's lock: who holds it, and taking over from a killed holder.

use std::time::Duration;

use ankyra_store::Store;

use crate::engine::Engine;
use crate::report::Event;
use crate::EngineError;

impl Engine {
    /// The cloud's lock. A lock held by a process of this host that no longer
    /// exists (killed mid-operation) is taken over, with a warning; any other
    /// holder is an error naming who and since when.
    pub(crate) fn take_lock(
        &self,
        store: &mut dyn Store,
        cloud: &str,
    ) -> Result<ankyra_store::LockInfo, EngineError> {
        match store.acquire_lock(cloud, &owner(), LOCK_TTL) {
            Err(ankyra_store::StoreError::Locked {
                owner: holder,
                since,
                ..
            }) if holder_is_dead(&holder) => {
                self.reporter.event(Event::Progress {
                    component: "lock".into(),
                    message: format!(
                        "taking over the lock of {holder} (since {since}): that process no longer runs"
                    ),
                });
                store.force_unlock(cloud)?;
                Ok(store.acquire_lock(cloud, &owner(), LOCK_TTL)?)
            }
            other => Ok(other?),
        }
    }

    /// Runs `run` holding the cloud's lock (`run` gets the lock's token) and
    /// releases it afterwards, whatever `run` returned.
    pub(crate) async fn with_lock<T>(
        &self,
        store: &mut dyn Store,
        cloud: &str,
        run: impl AsyncFnOnce(&mut dyn Store, u64) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let lock = self.take_lock(store, cloud)?;
        let result = run(&mut *store, lock.token).await;
        let _ = store.release_lock(cloud, lock.token);
        result
    }
}

/// How long a lock lasts without a heartbeat.
const LOCK_TTL: Duration = Duration::from_secs(3600);

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Who holds a lock: `user@host:pid`.
pub fn owner() -> String {
    format!(
        "{}@{}:{}",
        std::env::var("USER").unwrap_or_else(|_| "ankyra".into()),
        hostname(),
        std::process::id()
    )
}

/// Whether a lock holder (`user@host:pid`) is a process of this host that is gone.
pub fn holder_is_dead(holder: &str) -> bool {
    let Some((_, at)) = holder.rsplit_once('@') else {
        return false;
    };
    let Some((host, pid)) = at.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == hostname()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gone_process_of_this_host_loses_its_lock() {
        let host = hostname();
        assert!(holder_is_dead(&format!("rey@{host}:4000000000")));
        assert!(!holder_is_dead(&owner()), "this very process is alive");
        assert!(!holder_is_dead("rey@some-other-host:4000000000"));
        assert!(
            !holder_is_dead("rey@4000000000"),
            "old format: never taken over"
        );
        assert!(!holder_is_dead("garbage"));
    }
}
