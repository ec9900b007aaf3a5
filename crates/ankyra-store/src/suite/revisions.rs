//! Checks of revisions: numbering, deduplication, lookups, history, status.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::thread;

use super::{new_revision, put, Make};
use crate::{Revision, Store, StoreError};

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

/// A conditional put stores only on top of the revision its writer read;
/// otherwise it stores nothing and names the revision that got in first.
pub fn a_revision_is_stored_only_on_top_of_the_latest_its_writer_read<S: Store>(
    make: &Make<'_, S>,
) {
    let mut store = make();
    let unknown = store.put_revision_if_latest(new_revision("expect", "x"), Some(1));
    assert!(
        matches!(&unknown, Err(StoreError::UnknownCloud { cloud }) if cloud == "expect"),
        "{unknown:?}"
    );
    let (first, created) = store
        .put_revision_if_latest(new_revision("expect", "1"), None)
        .expect("the first revision, on top of none");
    assert_eq!((first.number, created), (1, true));
    let (second, created) = store
        .put_revision_if_latest(new_revision("expect", "2"), Some(1))
        .expect("on top of 1");
    assert_eq!((second.number, created), (2, true));
    // Stale writers: one read nothing, one read 1, one names a revision to come.
    for stale in [None, Some(1), Some(3), Some(u64::MAX)] {
        let mut from_elsewhere = new_revision("expect", "3");
        from_elsewhere.author = "someone-else".to_owned();
        let error = store
            .put_revision_if_latest(from_elsewhere, stale)
            .expect_err("the latest is 2");
        let message = error.to_string();
        match error {
            StoreError::Conflict {
                cloud,
                expected,
                found,
                author,
                created_at,
            } => {
                assert_eq!(
                    (cloud.as_str(), expected, found, author.as_str()),
                    ("expect", stale, 2, "tester")
                );
                assert_eq!(created_at, second.created_at);
                for part in ["`expect`", "revision 2", "`tester`", created_at.as_str()] {
                    assert!(message.contains(part), "{part} not in: {message}");
                }
                assert!(message.contains("re-run"), "{message}");
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    // Even content equal to the latest is refused to a stale writer ...
    let same = store.put_revision_if_latest(new_revision("expect", "2"), Some(1));
    assert!(
        matches!(same, Err(StoreError::Conflict { found: 2, .. })),
        "{same:?}"
    );
    // ... and is no new revision to an up-to-date one.
    let (unchanged, created) = store
        .put_revision_if_latest(new_revision("expect", "2"), Some(2))
        .expect("same content on top of 2");
    assert_eq!((unchanged, created), (second, false));
    let numbers: Vec<u64> = store
        .history("expect")
        .expect("history")
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, [1, 2], "no refused put stored anything");
}

/// A writer's name and what its put got.
type PutOutcome = (String, Result<(Revision, bool), StoreError>);

/// Writers that all read the same latest revision and put on top of it at
/// the same moment: exactly one stores, every other is told who got in first.
pub fn of_writers_who_read_one_latest_exactly_one_stores<S: Store>(make: &Make<'_, S>) {
    const WRITERS: usize = 8;
    let (base, _) = make()
        .put_revision_if_latest(new_revision("race-set", "base"), None)
        .expect("the base revision");
    let barrier = Barrier::new(WRITERS);
    let outcomes: Vec<PutOutcome> = thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut store = make();
                    let mut new = new_revision("race-set", &format!("from-{writer}"));
                    new.author = format!("writer-{writer}");
                    barrier.wait();
                    let author = new.author.clone();
                    (author, store.put_revision_if_latest(new, Some(base.number)))
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().expect("writer thread does not panic"))
            .collect()
    });
    let winners: Vec<&PutOutcome> = outcomes.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one writer stores: {outcomes:?}");
    let (winner, stored) = winners[0];
    let stored = stored.as_ref().expect("the winner's revision");
    assert_eq!((stored.0.number, stored.1), (2, true));
    assert_eq!(&stored.0.author, winner);
    for (author, outcome) in &outcomes {
        if author == winner {
            continue;
        }
        match outcome {
            Err(StoreError::Conflict {
                expected,
                found,
                author: first,
                created_at,
                ..
            }) => {
                assert_eq!((*expected, *found), (Some(1), 2), "{author}");
                assert_eq!(first, winner, "{author} is told who got in first");
                assert_eq!(created_at, &stored.0.created_at);
            }
            other => panic!("{author}: expected Conflict, got {other:?}"),
        }
    }
    let history = make().history("race-set").expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1].author, *winner);
}
