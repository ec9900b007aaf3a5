//! Checks of component database migrations: listing, snapshots, finalizing.

use super::Make;
use crate::{Migration, Store, StoreError};

/// Every byte value, then some bytes that are not UTF-8 on their own.
fn binary_snapshot() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255).collect();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]);
    bytes
}

/// Records a migration of `component` in `cloud` at revision 1.
fn record<S: Store>(store: &mut S, cloud: &str, component: &str, snapshot: &[u8]) -> Migration {
    store
        .record_migration(cloud, component, "2024.2", "2025.1", 1, snapshot)
        .expect("record_migration succeeds")
}

/// Migrations are listed newest first, as recorded, without their
/// snapshots; each snapshot reads back byte for byte.
pub fn migrations_are_listed_newest_first_with_their_snapshots<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    assert!(store.migrations("migrations-a").expect("list").is_empty());
    let binary = binary_snapshot();
    assert!(std::str::from_utf8(&binary).is_err());
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let keystone = store
        .record_migration("migrations-a", "keystone", "25.0.0", "26.0.0", 7, &binary)
        .expect("record keystone");
    let other_cloud = record(&mut store, "migrations-b", "keystone", b"other");
    let nova = record(&mut store, "migrations-a", "nova", &large);
    let empty = record(&mut store, "migrations-a", "placement", b"");
    assert_eq!(
        (
            keystone.cloud.as_str(),
            keystone.component.as_str(),
            keystone.from_version.as_str(),
            keystone.to_version.as_str(),
            keystone.revision,
            keystone.finalized_at.as_deref(),
            keystone.snapshot_bytes,
        ),
        (
            "migrations-a",
            "keystone",
            "25.0.0",
            "26.0.0",
            7,
            None,
            binary.len() as u64
        )
    );
    time::OffsetDateTime::parse(
        &keystone.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .expect("created_at is RFC 3339");
    assert!(
        keystone.created_at.ends_with('Z'),
        "{} is UTC",
        keystone.created_at
    );
    assert!(keystone.id < other_cloud.id && other_cloud.id < nova.id && nova.id < empty.id);
    assert_eq!(
        (nova.snapshot_bytes, empty.snapshot_bytes),
        (large.len() as u64, 0)
    );
    assert_eq!(
        make().migrations("migrations-a").expect("list"),
        [empty.clone(), nova.clone(), keystone.clone()],
        "newest first, as recorded"
    );
    assert_eq!(
        store.migrations("migrations-b").expect("list"),
        std::slice::from_ref(&other_cloud)
    );
    let reader = make();
    assert_eq!(reader.snapshot(keystone.id).expect("snapshot"), binary);
    assert_eq!(reader.snapshot(nova.id).expect("snapshot"), large);
    assert_eq!(reader.snapshot(empty.id).expect("snapshot"), b"");
    assert_eq!(reader.snapshot(other_cloud.id).expect("snapshot"), b"other");
}

/// Finalizing marks the unfinalized migrations of one component of one
/// cloud and counts them; earlier marks and other components stay as they
/// were.
pub fn finalizing_marks_only_that_components_unfinalized_migrations<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let first = record(&mut store, "finalize-a", "keystone", b"1");
    let second = record(&mut store, "finalize-a", "keystone", b"2");
    let nova = record(&mut store, "finalize-a", "nova", b"3");
    let other_cloud = record(&mut store, "finalize-b", "keystone", b"4");
    assert_eq!(
        store
            .finalize_migrations("finalize-a", "keystone")
            .expect("finalize"),
        2
    );
    let listed = store.migrations("finalize-a").expect("list");
    let marks: Vec<(u64, bool)> = listed
        .iter()
        .map(|m| (m.id, m.finalized_at.is_some()))
        .collect();
    assert_eq!(
        marks,
        [(nova.id, false), (second.id, true), (first.id, true)]
    );
    let finalized_at = listed[1].finalized_at.clone().expect("finalized");
    time::OffsetDateTime::parse(
        &finalized_at,
        &time::format_description::well_known::Rfc3339,
    )
    .expect("finalized_at is RFC 3339");
    assert_eq!(listed[2].finalized_at.as_ref(), Some(&finalized_at));
    assert_eq!(
        store.migrations("finalize-b").expect("list"),
        [other_cloud],
        "other clouds are untouched"
    );
    assert_eq!(
        store
            .finalize_migrations("finalize-a", "keystone")
            .expect("finalize again"),
        0
    );
    assert_eq!(
        store
            .finalize_migrations("finalize-a", "glance")
            .expect("finalize a component without migrations"),
        0
    );
    // Later, so a replaced mark would show.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let third = record(&mut store, "finalize-a", "keystone", b"5");
    assert_eq!(
        make()
            .finalize_migrations("finalize-a", "keystone")
            .expect("finalize the new one"),
        1
    );
    let listed = store.migrations("finalize-a").expect("list");
    assert_eq!(listed[0].id, third.id);
    assert!(listed[0]
        .finalized_at
        .as_ref()
        .is_some_and(|at| *at != finalized_at));
    let earlier: Vec<Option<&str>> = listed[2..]
        .iter()
        .map(|m| m.finalized_at.as_deref())
        .collect();
    assert_eq!(
        earlier,
        [Some(finalized_at.as_str()); 2],
        "earlier marks are kept"
    );
    assert_eq!(listed[1].finalized_at, None, "nova is not finalized");
    assert_eq!(
        store
            .snapshot(first.id)
            .expect("finalizing keeps snapshots"),
        b"1"
    );
}

/// Asking for the snapshot of a migration that does not exist is an error
/// naming it.
pub fn the_snapshot_of_an_unknown_migration_is_an_error<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let known = record(&mut store, "unknown-snapshot", "keystone", b"known");
    for unknown in [0, known.id + 1000, u64::MAX] {
        let missing = store.snapshot(unknown);
        assert!(
            matches!(missing, Err(StoreError::UnknownMigration { id }) if id == unknown),
            "snapshot {unknown}: {missing:?}"
        );
    }
    assert_eq!(store.snapshot(known.id).expect("known"), b"known");
}
