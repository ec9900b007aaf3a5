//! Checks of secrets: generated once, reused, agreed on under contention.

use std::collections::BTreeSet;
use std::thread;

use super::Make;
use crate::Store;

/// A secret is generated on first use only; names are listed, per cloud.
pub fn a_secret_is_generated_once_and_reused<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let mut calls = 0;
    let mut generate = || {
        calls += 1;
        format!("generated-{calls}")
    };
    let first = store
        .secret("secrets-a", "keystone-db", &mut generate)
        .expect("first secret");
    let again = make()
        .secret("secrets-a", "keystone-db", &mut generate)
        .expect("same secret");
    let other = store
        .secret("secrets-a", "admin", &mut generate)
        .expect("other secret");
    let other_cloud = store
        .secret("secrets-b", "keystone-db", &mut generate)
        .expect("other cloud");
    assert_eq!(first, "generated-1");
    assert_eq!(again, first);
    assert_eq!(other, "generated-2");
    assert_eq!(other_cloud, "generated-3");
    assert_eq!(calls, 3);
    assert_eq!(
        store.secrets("secrets-a").expect("names"),
        ["admin", "keystone-db"]
    );
    assert!(store.secrets("secrets-none").expect("names").is_empty());
}

/// Handles asking for a missing secret at once all get the one stored value.
pub fn concurrent_secret_requests_agree_on_one_value<S: Store>(make: &Make<'_, S>) {
    let values: BTreeSet<String> = thread::scope(|scope| {
        let askers: Vec<_> = (0..4)
            .map(|asker| {
                scope.spawn(move || {
                    make()
                        .secret("secrets-race", "password", &mut || format!("from-{asker}"))
                        .expect("secret")
                })
            })
            .collect();
        askers
            .into_iter()
            .map(|a| a.join().expect("asker thread does not panic"))
            .collect()
    });
    assert_eq!(values.len(), 1, "{values:?}");
}
