//! Checks of locks: contention, expiry and takeover, heartbeats, tokens.

use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use super::{Make, LONG};
use crate::{LockInfo, Store, StoreError};

/// A live lock refuses another owner with an error naming the holder.
pub fn a_held_lock_refuses_another_owner_and_names_the_holder<S: Store>(make: &Make<'_, S>) {
    let mut alice = make();
    let mut bob = make();
    let lock = alice
        .acquire_lock("locked", "alice@host1", LONG)
        .expect("alice locks");
    assert_eq!(lock.cloud, "locked");
    assert_eq!(lock.owner, "alice@host1");
    assert_eq!(lock.acquired_at, lock.heartbeat_at);
    let error = bob
        .acquire_lock("locked", "bob@host2", LONG)
        .expect_err("alice holds the lock");
    let message = error.to_string();
    match error {
        StoreError::Locked {
            cloud,
            owner,
            since,
        } => {
            assert_eq!(
                (cloud.as_str(), owner.as_str(), &since),
                ("locked", "alice@host1", &lock.acquired_at)
            );
            assert!(
                message.contains("alice@host1") && message.contains(&since),
                "{message}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(bob.lock_info("locked").expect("lock info"), Some(lock));
    assert_eq!(bob.lock_info("unlocked").expect("lock info"), None);
}

/// A lock whose heartbeat is older than the ttl is taken over, with a bigger
/// token that fences the old one.
pub fn an_expired_lock_is_taken_over_with_a_bigger_token<S: Store>(make: &Make<'_, S>) {
    let mut alice = make();
    let mut bob = make();
    let old = alice
        .acquire_lock("expiring", "alice", LONG)
        .expect("alice locks");
    thread::sleep(Duration::from_millis(30));
    let new = bob
        .acquire_lock("expiring", "bob", Duration::from_millis(10))
        .expect("bob takes over");
    assert!(new.token > old.token, "{} > {}", new.token, old.token);
    assert_eq!(new.owner, "bob");
    let lost = alice.heartbeat("expiring", old.token);
    assert!(
        matches!(lost, Err(StoreError::LockLost { token, .. }) if token == old.token),
        "{lost:?}"
    );
    bob.heartbeat("expiring", new.token).expect("bob is alive");
}

/// Heartbeat and release work with the holder's token only.
pub fn heartbeat_and_release_need_the_current_token<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let lock = store
        .acquire_lock("heartbeat", "alice", LONG)
        .expect("lock");
    thread::sleep(Duration::from_millis(5));
    store.heartbeat("heartbeat", lock.token).expect("heartbeat");
    let info = store
        .lock_info("heartbeat")
        .expect("info")
        .expect("still locked");
    assert_ne!(info.heartbeat_at, lock.heartbeat_at);
    assert_eq!(info.acquired_at, lock.acquired_at);
    for wrong in [lock.token + 1, u64::MAX] {
        assert!(matches!(
            store.heartbeat("heartbeat", wrong),
            Err(StoreError::LockLost { .. })
        ));
    }
    let wrong = lock.token + 1;
    assert!(matches!(
        store.release_lock("heartbeat", wrong),
        Err(StoreError::LockLost { .. })
    ));
    store
        .release_lock("heartbeat", lock.token)
        .expect("release");
    assert_eq!(store.lock_info("heartbeat").expect("info"), None);
    assert!(matches!(
        store.release_lock("heartbeat", lock.token),
        Err(StoreError::LockLost { .. })
    ));
    let again = store
        .acquire_lock("heartbeat", "bob", LONG)
        .expect("free again");
    assert!(again.token > lock.token);
}

/// Forcing a lock open returns what was removed; tokens never repeat.
pub fn force_unlock_returns_the_lock_and_tokens_keep_growing<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    assert_eq!(
        store.force_unlock("forced").expect("nothing to force"),
        None
    );
    let lock = store.acquire_lock("forced", "alice", LONG).expect("lock");
    assert_eq!(
        store.force_unlock("forced").expect("force"),
        Some(lock.clone())
    );
    assert_eq!(store.lock_info("forced").expect("info"), None);
    let next = store.acquire_lock("forced", "bob", LONG).expect("relock");
    assert!(next.token > lock.token);
    let same_owner = store
        .acquire_lock("forced", "bob", LONG)
        .expect("bob again");
    assert!(same_owner.token > next.token);
    assert!(matches!(
        store.heartbeat("forced", next.token),
        Err(StoreError::LockLost { .. })
    ));
}

/// Owners asking for one free lock at the same moment, each through its own
/// handle: exactly one gets it, every other is refused with an error naming
/// that holder and since when (what a second concurrent `apply` is told).
pub fn of_concurrent_lock_requests_exactly_one_wins<S: Store>(make: &Make<'_, S>) {
    const OWNERS: usize = 8;
    let barrier = Barrier::new(OWNERS);
    let outcomes: Vec<(String, Result<LockInfo, StoreError>)> = thread::scope(|scope| {
        let owners: Vec<_> = (0..OWNERS)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut store = make();
                    let owner = format!("owner-{i}@host");
                    barrier.wait();
                    let result = store.acquire_lock("contended", &owner, LONG);
                    (owner, result)
                })
            })
            .collect();
        owners
            .into_iter()
            .map(|o| o.join().expect("owner thread does not panic"))
            .collect()
    });
    let winners: Vec<&LockInfo> = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one owner locks: {outcomes:?}");
    let lock = winners[0];
    for (owner, outcome) in &outcomes {
        if *owner == lock.owner {
            continue;
        }
        match outcome {
            Err(
                error @ StoreError::Locked {
                    cloud,
                    owner: holder,
                    since,
                },
            ) => {
                assert_eq!(
                    (cloud.as_str(), holder, since),
                    ("contended", &lock.owner, &lock.acquired_at),
                    "{owner}"
                );
                let message = error.to_string();
                assert!(
                    message.contains(&lock.owner) && message.contains(&lock.acquired_at),
                    "{message}"
                );
            }
            other => panic!("{owner}: expected Locked, got {other:?}"),
        }
    }
    assert_eq!(
        make().lock_info("contended").expect("lock info").as_ref(),
        Some(lock)
    );
}
