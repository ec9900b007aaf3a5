//! Checks of revisions: numbering, deduplication, lookups, history, status.

use std::collections::BTreeSet;
use std::thread;

use super::{new_revision, put, Make};
use crate::{Store, StoreError};

/// Revisions of each cloud count 1, 2, 3 ... independently, and what was
/// stored reads back the same.
pub fn revisions_are_numbered_from_one_per_cloud<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    assert_eq!(put(&mut store, "numbering-a", "1"), (1, true));
    assert_eq!(put(&mut store, "numbering-a", "2"), (2, true));
    assert_eq!(put(&mut store, "numbering-b", "1"), (1, true));
    assert_eq!(put(&mut store, "numbering-a", "3"), (3, true));
    let second = store.revision("numbering-a", 2).expect("revision 2 exists");
    let wanted = new_revision("numbering-a", "2");
    assert_eq!(second.number, 2);
    assert_eq!(second.record_json, wanted.record_json);
    assert_eq!(second.content_hash, wanted.content_hash);
    assert_eq!(second.author, wanted.author);
    assert_eq!(second.message, wanted.message);
    time::OffsetDateTime::parse(
        &second.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .expect("created_at is RFC 3339");
    assert!(
        second.created_at.ends_with('Z'),
        "{} is UTC",
        second.created_at
    );
    let latest = store.latest("numbering-a").expect("latest reads");
    assert_eq!(latest.map(|r| r.number), Some(3));
    assert_eq!(store.latest("numbering-none").expect("latest reads"), None);
}

/// Putting the latest content again stores nothing and returns the latest;
/// only the latest is compared, so going back to older content is new.
pub fn identical_content_makes_no_new_revision<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let (first, created) = store
        .put_revision(new_revision("dedup", "a"))
        .expect("first put");
    assert!(created);
    let mut again = new_revision("dedup", "a");
    again.message = "a different message, same content".to_owned();
    let (same, created) = store.put_revision(again).expect("second put");
    assert!(!created);
    assert_eq!(same, first);
    assert_eq!(put(&mut store, "dedup", "b"), (2, true));
    assert_eq!(put(&mut store, "dedup", "a"), (3, true));
    assert_eq!(store.history("dedup").expect("history").len(), 3);
}

/// An unknown revision names the latest; a cloud without revisions is
/// unknown.
pub fn missing_revisions_are_reported_with_the_latest_number<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    put(&mut store, "missing", "1");
    put(&mut store, "missing", "2");
    for number in [0, 3, u64::MAX] {
        match store.revision("missing", number) {
            Err(StoreError::UnknownRevision {
                cloud,
                number: asked,
                latest,
            }) => assert_eq!((cloud.as_str(), asked, latest), ("missing", number, 2)),
            other => panic!("revision {number}: expected UnknownRevision, got {other:?}"),
        }
    }
    for result in [
        store.revision("missing-never", 1).map(|_| ()),
        store.history("missing-never").map(|_| ()),
        store
            .set_revision_status("missing-never", 1, "applied")
            .map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(StoreError::UnknownCloud { cloud }) if cloud == "missing-never"),
            "expected UnknownCloud, got {result:?}"
        );
    }
}

/// History lists a cloud's revisions oldest first; clouds come sorted.
pub fn history_is_oldest_first_and_clouds_are_sorted<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    for cloud in ["sorted-c", "sorted-a", "sorted-b"] {
        put(&mut store, cloud, "x");
    }
    put(&mut store, "sorted-a", "y");
    put(&mut store, "sorted-a", "z");
    let history = store.history("sorted-a").expect("history");
    let numbers: Vec<u64> = history.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let hashes: Vec<&str> = history.iter().map(|r| r.content_hash.as_str()).collect();
    assert_eq!(hashes, ["hash-of-x", "hash-of-y", "hash-of-z"]);
    assert!(history.iter().all(|r| r.status.is_none()));
    let clouds = store.clouds().expect("clouds");
    let mut sorted = clouds.clone();
    sorted.sort();
    assert_eq!(clouds, sorted, "clouds are sorted");
    let ours: Vec<&str> = clouds
        .iter()
        .map(String::as_str)
        .filter(|c| c.starts_with("sorted-"))
        .collect();
    assert_eq!(ours, ["sorted-a", "sorted-b", "sorted-c"]);
}

/// A revision's status is a mark on it, set and replaced without changing
/// the revision.
pub fn revision_status_can_be_set_and_replaced<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    put(&mut store, "status", "1");
    put(&mut store, "status", "2");
    let before = store.revision("status", 1).expect("revision 1");
    store
        .set_revision_status("status", 1, "applied")
        .expect("mark 1");
    store
        .set_revision_status("status", 2, "applied")
        .expect("mark 2");
    store
        .set_revision_status("status", 2, "failed")
        .expect("re-mark 2");
    let statuses: Vec<Option<String>> = store
        .history("status")
        .expect("history")
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [Some("applied".to_owned()), Some("failed".to_owned())]
    );
    assert_eq!(store.revision("status", 1).expect("revision 1"), before);
    let missing = store.set_revision_status("status", 3, "applied");
    assert!(
        matches!(missing, Err(StoreError::UnknownRevision { latest: 2, .. })),
        "{missing:?}"
    );
}

/// See [`put_sequence_is_numbered_without_gaps`].
pub fn a_fixed_put_sequence_is_numbered_without_gaps<S: Store>(make: &Make<'_, S>) {
    put_sequence_is_numbered_without_gaps(&mut make(), "sequence", &[0, 0, 1, 2, 2, 2, 0, 1, 1]);
}

/// The property behind revision numbering: putting `contents` in order to
/// `cloud` (which must have no revisions yet) yields numbers 1..=n, where n
/// counts the contents that differ from the one before. Backends drive it
/// with generated sequences.
pub fn put_sequence_is_numbered_without_gaps<S: Store>(
    store: &mut S,
    cloud: &str,
    contents: &[u8],
) {
    let mut stored: Vec<String> = Vec::new();
    for content in contents {
        let new = new_revision(cloud, &content.to_string());
        let hash = new.content_hash.clone();
        let is_new = stored.last() != Some(&hash);
        if is_new {
            stored.push(hash.clone());
        }
        let (revision, created) = store.put_revision(new).expect("put_revision succeeds");
        assert_eq!(created, is_new, "content {content}");
        assert_eq!(revision.number, stored.len() as u64, "content {content}");
        assert_eq!(revision.content_hash, hash);
    }
    match store.history(cloud) {
        Ok(history) => {
            let numbers: Vec<u64> = history.iter().map(|r| r.number).collect();
            let wanted: Vec<u64> = (1..=stored.len() as u64).collect();
            assert_eq!(numbers, wanted);
            let hashes: Vec<String> = history.into_iter().map(|r| r.content_hash).collect();
            assert_eq!(hashes, stored);
        }
        Err(StoreError::UnknownCloud { .. }) => assert!(contents.is_empty()),
        Err(e) => panic!("history failed: {e:?}"),
    }
}

/// Several handles putting revisions to one cloud at once all succeed and
/// get distinct numbers 1..=n.
pub fn concurrent_puts_get_distinct_numbers<S: Store>(make: &Make<'_, S>) {
    const WRITERS: usize = 4;
    const PUTS: usize = 15;
    let numbers: Vec<u64> = thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                scope.spawn(move || {
                    let mut store = make();
                    (0..PUTS)
                        .map(|i| put(&mut store, "concurrent", &format!("{writer}-{i}")))
                        .inspect(|(_, created)| assert!(created))
                        .map(|(number, _)| number)
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().expect("writer thread does not panic"))
            .collect()
    });
    let distinct: BTreeSet<u64> = numbers.iter().copied().collect();
    let wanted: BTreeSet<u64> = (1..=(WRITERS * PUTS) as u64).collect();
    assert_eq!(distinct, wanted);
    assert_eq!(numbers.len(), WRITERS * PUTS);
}
