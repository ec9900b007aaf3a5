//! Checks of the fleet index and fleet operations.

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use super::{Make, LONG};
use crate::{
    fleet_op_lock_name, CloudIndex, FleetMemberState, FleetOp, FleetOpState, NewFleetMember,
    NewFleetOp, NewRevision, Store, StoreError,
};

/// A map from `pairs`.
pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A revision of `cloud` whose content is `content`, with these labels and
/// component versions.
pub fn revision_with(
    cloud: &str,
    content: &str,
    labels: &[(&str, &str)],
    versions: &[(&str, &str)],
) -> NewRevision {
    NewRevision {
        labels: map(labels),
        versions: map(versions),
        ..super::new_revision(cloud, content)
    }
}

fn put_with<S: Store>(store: &mut S, cloud: &str, content: &str, versions: &[(&str, &str)]) -> u64 {
    let (revision, created) = store
        .put_revision(revision_with(cloud, content, &[("tier", "prod")], versions))
        .expect("put_revision succeeds");
    assert!(created, "{cloud} {content} is new");
    revision.number
}

/// The index rows of clouds whose names start with `prefix`.
fn index_of<S: Store>(store: &S, prefix: &str) -> Vec<CloudIndex> {
    store
        .fleet_index()
        .expect("fleet_index")
        .into_iter()
        .filter(|row| row.cloud.starts_with(prefix))
        .collect()
}

/// The index has one row per cloud, by name, with its latest revision and
/// newest applied one (labels and versions of each), and the components
/// with a standby set or an unfinalized migration.
pub fn the_fleet_index_shows_latest_applied_standby_and_unfinalized<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    put_with(&mut store, "index-c", "1", &[("keystone", "27.0.2")]);
    put_with(&mut store, "index-c", "2", &[("keystone", "27.1.0")]);
    put_with(&mut store, "index-c", "3", &[("keystone", "29.1.0")]);
    for (number, status) in [(1, "applied"), (2, "applied"), (3, "failed")] {
        store
            .set_revision_status("index-c", number, status)
            .expect("status");
    }
    put_with(&mut store, "index-b", "1", &[]);
    let (_, created) = store
        .put_revision(revision_with(
            "index-a",
            "1",
            &[("region", "west")],
            &[("keystone", "27.0.2"), ("mariadb", "10.11")],
        ))
        .expect("put");
    assert!(created);
    store
        .set_revision_status("index-a", 1, "applied")
        .expect("status");
    store
        .put_revision(revision_with(
            "index-a",
            "2",
            &[("region", "east"), ("tier", "prod")],
            &[("keystone", "29.1.0"), ("mariadb", "10.11")],
        ))
        .expect("put");
    for component in ["nova-api", "keystone"] {
        store
            .put_standby(&crate::Standby {
                cloud: "index-a".to_owned(),
                component: component.to_owned(),
                containers: vec![format!("{component}-1")],
                version: "27.0.2".to_owned(),
                from_revision: 1,
                to_revision: 2,
                until_unix: 1_767_225_600,
            })
            .expect("standby");
    }
    for (component, snapshot) in [("keystone", b"1"), ("keystone", b"2"), ("nova", b"3")] {
        store
            .record_migration("index-a", component, "a", "b", 2, snapshot)
            .expect("migration");
    }
    store
        .record_migration("index-c", "glance", "a", "b", 2, b"4")
        .expect("migration");
    store
        .finalize_migrations("index-c", "glance")
        .expect("finalize");
    // Not a row: the cloud has no revision.
    store
        .record_migration("index-none", "keystone", "a", "b", 1, b"5")
        .expect("migration");

    let rows = index_of(&make(), "index-");
    let a = CloudIndex {
        cloud: "index-a".to_owned(),
        latest: 2,
        latest_status: None,
        labels: Some(map(&[("region", "east"), ("tier", "prod")])),
        versions: Some(map(&[("keystone", "29.1.0"), ("mariadb", "10.11")])),
        applied: Some(1),
        applied_versions: Some(map(&[("keystone", "27.0.2"), ("mariadb", "10.11")])),
        standby_components: vec!["keystone".to_owned(), "nova-api".to_owned()],
        unfinalized_components: vec!["keystone".to_owned(), "nova".to_owned()],
    };
    let b = CloudIndex {
        cloud: "index-b".to_owned(),
        latest: 1,
        latest_status: None,
        labels: Some(map(&[("tier", "prod")])),
        versions: Some(BTreeMap::new()),
        applied: None,
        applied_versions: None,
        standby_components: vec![],
        unfinalized_components: vec![],
    };
    let c = CloudIndex {
        cloud: "index-c".to_owned(),
        latest: 3,
        latest_status: Some("failed".to_owned()),
        labels: Some(map(&[("tier", "prod")])),
        versions: Some(map(&[("keystone", "29.1.0")])),
        applied: Some(2),
        applied_versions: Some(map(&[("keystone", "27.1.0")])),
        standby_components: vec![],
        unfinalized_components: vec![],
    };
    assert_eq!(rows, [a, b, c]);
    let all = store.fleet_index().expect("fleet_index");
    let names: Vec<&str> = all.iter().map(|row| row.cloud.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "one row per cloud, by name");
}

/// A fleet operation of `selector` changing `clouds` (name, wave, from
/// revision) to content `content`.
pub fn fleet_op_of(selector: &str, content: &str, clouds: &[(&str, u32, u64)]) -> NewFleetOp {
    NewFleetOp {
        kind: "set".to_owned(),
        selector: selector.to_owned(),
        change: format!("keystone.version={content}"),
        waves: "1,rest".to_owned(),
        max_parallel: 2,
        author: "fleet-tester".to_owned(),
        message: format!("roll out {content}"),
        members: clouds
            .iter()
            .map(|(cloud, wave, from_revision)| NewFleetMember {
                cloud: (*cloud).to_owned(),
                wave: *wave,
                from_revision: *from_revision,
                from_version: "27.0.2".to_owned(),
                revision: revision_with(
                    cloud,
                    content,
                    &[("tier", "prod")],
                    &[("keystone", content)],
                ),
            })
            .collect(),
    }
}

/// Creating a fleet operation stores each member's next revision and the
/// operation, running, with its members pending by wave then cloud; members
/// and the operation then change state, and unknown ones are errors.
pub fn a_fleet_op_is_created_read_and_updated<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    for cloud in ["fleet-a", "fleet-b", "fleet-c"] {
        put_with(&mut store, cloud, "27.0.2", &[("keystone", "27.0.2")]);
    }
    put_with(&mut store, "fleet-c", "27.1.0", &[("keystone", "27.1.0")]);
    let new = fleet_op_of(
        "tier=prod",
        "29.1.0",
        &[("fleet-c", 0, 2), ("fleet-a", 1, 1), ("fleet-b", 0, 1)],
    );
    let op = store.create_fleet_op(new.clone()).expect("create");
    assert_eq!(
        (
            op.kind.as_str(),
            op.selector.as_str(),
            op.change.as_str(),
            op.waves.as_str(),
            op.max_parallel,
            op.author.as_str(),
            op.message.as_str(),
            op.state
        ),
        (
            "set",
            "tier=prod",
            "keystone.version=29.1.0",
            "1,rest",
            2,
            "fleet-tester",
            "roll out 29.1.0",
            FleetOpState::Running
        )
    );
    assert!(op.created_at.ends_with('Z'), "{} is UTC", op.created_at);
    let order: Vec<(&str, u32, u64, u64)> = op
        .members
        .iter()
        .map(|m| (m.cloud.as_str(), m.wave, m.from_revision, m.to_revision))
        .collect();
    assert_eq!(
        order,
        [
            ("fleet-b", 0, 1, 2),
            ("fleet-c", 0, 2, 3),
            ("fleet-a", 1, 1, 2)
        ]
    );
    for member in &op.members {
        assert_eq!(member.state, FleetMemberState::Pending);
        assert_eq!(member.reason, None);
        assert_eq!(member.from_version, "27.0.2");
        let stored = store
            .revision(&member.cloud, member.to_revision)
            .expect("the member's revision is stored");
        let wanted = &new
            .members
            .iter()
            .find(|m| m.cloud == member.cloud)
            .expect("a member asked for")
            .revision;
        assert_eq!(stored.content_hash, wanted.content_hash);
        assert_eq!(stored.record_json, wanted.record_json);
    }
    let index = index_of(&store, "fleet-");
    assert!(index
        .iter()
        .all(|row| row.versions == Some(map(&[("keystone", "29.1.0")]))));
    assert_eq!(make().fleet_op(op.id).expect("read back"), op);

    store
        .set_fleet_member(op.id, "fleet-b", FleetMemberState::InProgress, None)
        .expect("in progress");
    thread::sleep(Duration::from_millis(5));
    store
        .set_fleet_member(
            op.id,
            "fleet-b",
            FleetMemberState::Failed,
            Some("health gate timed out"),
        )
        .expect("failed");
    store
        .set_fleet_op_state(op.id, FleetOpState::Halted)
        .expect("halted");
    let read = make().fleet_op(op.id).expect("read back");
    assert_eq!(read.state, FleetOpState::Halted);
    let b = &read.members[0];
    assert_eq!(
        (b.cloud.as_str(), b.state, b.reason.as_deref()),
        (
            "fleet-b",
            FleetMemberState::Failed,
            Some("health gate timed out")
        )
    );
    assert_ne!(b.updated_at, op.members[0].updated_at, "updated_at moves");
    assert_eq!(
        read.members[1..],
        op.members[1..],
        "other members unchanged"
    );
    store
        .set_fleet_member(op.id, "fleet-b", FleetMemberState::RolledBack, None)
        .expect("rolled back");
    assert_eq!(
        store.fleet_op(op.id).expect("read").members[0].reason,
        None,
        "the reason is replaced"
    );

    for unknown in [op.id + 1000, u64::MAX] {
        assert!(
            matches!(store.fleet_op(unknown), Err(StoreError::UnknownFleetOp { id }) if id == unknown)
        );
        assert!(matches!(
            store.set_fleet_op_state(unknown, FleetOpState::Done),
            Err(StoreError::UnknownFleetOp { .. })
        ));
        assert!(matches!(
            store.set_fleet_member(unknown, "fleet-a", FleetMemberState::Done, None),
            Err(StoreError::UnknownFleetOp { .. })
        ));
    }
    let not_member = store.set_fleet_member(op.id, "fleet-z", FleetMemberState::Done, None);
    assert!(
        matches!(&not_member, Err(StoreError::UnknownFleetMember { id, cloud }) if *id == op.id && cloud == "fleet-z"),
        "{not_member:?}"
    );
}

/// The fleet operations whose selector starts with `prefix`.
fn ops_of<S: Store>(store: &S, prefix: &str) -> Vec<FleetOp> {
    store
        .fleet_ops()
        .expect("fleet_ops")
        .into_iter()
        .filter(|op| op.selector.starts_with(prefix))
        .collect()
}

/// The latest revision number of each cloud.
fn latest_numbers<S: Store>(store: &S, clouds: &[&str]) -> Vec<Option<u64>> {
    clouds
        .iter()
        .map(|cloud| {
            store
                .latest(cloud)
                .expect("latest")
                .map(|revision| revision.number)
        })
        .collect()
}

/// A fleet operation is stored whole or not at all: a member whose cloud
/// moved on, already has the change, is listed twice, carries another
/// cloud's revision or has no revision leaves nothing written.
pub fn a_fleet_op_is_all_or_nothing<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let clouds = ["allornone-a", "allornone-b", "allornone-c"];
    for cloud in clouds {
        put_with(&mut store, cloud, "27.0.2", &[("keystone", "27.0.2")]);
    }
    let moved = put_with(&mut store, "allornone-c", "27.1.0", &[]);
    let before = latest_numbers(&store, &clouds);
    let members = [("allornone-a", 0, 1), ("allornone-b", 0, 1)];

    let mut stale = members.to_vec();
    stale.push(("allornone-c", 1, 1));
    let conflict = store.create_fleet_op(fleet_op_of("allornone", "29.1.0", &stale));
    assert!(
        matches!(&conflict, Err(StoreError::Conflict { cloud, expected: Some(1), found, .. })
            if cloud == "allornone-c" && *found == moved),
        "{conflict:?}"
    );

    let mut unknown = members.to_vec();
    unknown.push(("allornone-never", 1, 1));
    let missing = store.create_fleet_op(fleet_op_of("allornone", "29.1.0", &unknown));
    assert!(
        matches!(&missing, Err(StoreError::UnknownCloud { cloud }) if cloud == "allornone-never"),
        "{missing:?}"
    );

    let mut unchanged = fleet_op_of("allornone", "29.1.0", &members);
    unchanged.members.push(NewFleetMember {
        cloud: "allornone-c".to_owned(),
        wave: 1,
        from_revision: moved,
        from_version: "27.1.0".to_owned(),
        revision: revision_with("allornone-c", "27.1.0", &[], &[]),
    });
    let same = store.create_fleet_op(unchanged);
    assert!(
        matches!(&same, Err(StoreError::FleetMemberUnchanged { cloud, revision })
            if cloud == "allornone-c" && *revision == moved),
        "{same:?}"
    );

    let mut twice = members.to_vec();
    twice.push(("allornone-a", 1, 1));
    let duplicate = store.create_fleet_op(fleet_op_of("allornone", "29.1.0", &twice));
    assert!(
        matches!(&duplicate, Err(StoreError::DuplicateFleetMember { cloud }) if cloud == "allornone-a"),
        "{duplicate:?}"
    );

    let mut crossed = fleet_op_of("allornone", "29.1.0", &members);
    crossed.members[1].revision.cloud = "allornone-a".to_owned();
    let mismatch = store.create_fleet_op(crossed);
    assert!(
        matches!(&mismatch, Err(StoreError::FleetMemberMismatch { cloud, revision_cloud })
            if cloud == "allornone-b" && revision_cloud == "allornone-a"),
        "{mismatch:?}"
    );

    assert_eq!(
        latest_numbers(&make(), &clouds),
        before,
        "no refused operation stored a revision"
    );
    assert!(
        ops_of(&store, "allornone").is_empty(),
        "no refused operation was stored"
    );
    let op = store
        .create_fleet_op(fleet_op_of("allornone", "29.1.0", &members))
        .expect("a valid operation is stored");
    assert_eq!(op.members.len(), 2);
    assert_eq!(
        latest_numbers(&store, &clouds),
        [Some(2), Some(2), Some(moved)]
    );
}

/// Fleet operations are listed newest first, each with its members.
pub fn fleet_ops_are_listed_newest_first<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let mut created = Vec::new();
    for (i, cloud) in ["newest-1", "newest-2", "newest-3"].iter().enumerate() {
        put_with(&mut store, cloud, "27.0.2", &[]);
        let selector = format!("newest {i}");
        let op = store
            .create_fleet_op(fleet_op_of(&selector, "29.1.0", &[(cloud, 0, 1)]))
            .expect("create");
        created.push(op);
    }
    assert!(created[0].id < created[1].id && created[1].id < created[2].id);
    created.reverse();
    assert_eq!(ops_of(&make(), "newest "), created);
}

/// Only the operations still holding their clouds (running, halted, rolling
/// back) are unfinished; done and rolled-back ones are left out, members and all.
pub fn only_unfinished_fleet_ops_are_listed_as_such<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    let mut by_state = BTreeMap::new();
    for state in FleetOpState::ALL {
        let cloud = format!("unfinished-{state}");
        put_with(&mut store, &cloud, "27.0.2", &[]);
        let selector = format!("unfinished {state}");
        let op = store
            .create_fleet_op(fleet_op_of(&selector, "29.1.0", &[(&cloud, 1, 1)]))
            .expect("create");
        store.set_fleet_op_state(op.id, *state).expect("set state");
        by_state.insert(op.id, (*state, cloud));
    }
    let listed: Vec<FleetOp> = make()
        .unfinished_fleet_ops()
        .expect("unfinished_fleet_ops")
        .into_iter()
        .filter(|op| op.selector.starts_with("unfinished "))
        .collect();
    let mut expected: Vec<u64> = by_state
        .iter()
        .filter(|(_, (state, _))| state.is_unfinished())
        .map(|(id, _)| *id)
        .collect();
    expected.reverse();
    assert_eq!(listed.iter().map(|op| op.id).collect::<Vec<_>>(), expected);
    for op in &listed {
        let (state, cloud) = &by_state[&op.id];
        assert_eq!(op.state, *state);
        assert_eq!(op.members.len(), 1, "{state}: its member comes with it");
        assert_eq!(&op.members[0].cloud, cloud);
    }
}

/// Fleet operations racing for one cloud, each on top of the revision all of
/// them read: exactly one is stored, every other is refused whole.
pub fn of_fleet_ops_racing_for_one_cloud_exactly_one_stores<S: Store>(make: &Make<'_, S>) {
    const RUNNERS: usize = 4;
    let clouds = ["fleetrace-a", "fleetrace-b"];
    {
        let mut store = make();
        for cloud in clouds {
            put_with(&mut store, cloud, "27.0.2", &[]);
        }
    }
    let barrier = Barrier::new(RUNNERS);
    let outcomes: Vec<Result<FleetOp, StoreError>> = thread::scope(|scope| {
        let runners: Vec<_> = (0..RUNNERS)
            .map(|runner| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut store = make();
                    // Opposite orders, so a backend locking clouds in the
                    // order given would deadlock.
                    let members = if runner % 2 == 0 {
                        [("fleetrace-a", 0, 1), ("fleetrace-b", 0, 1)]
                    } else {
                        [("fleetrace-b", 0, 1), ("fleetrace-a", 0, 1)]
                    };
                    let op = fleet_op_of("fleetrace", &format!("v{runner}"), &members);
                    barrier.wait();
                    store.create_fleet_op(op)
                })
            })
            .collect();
        runners
            .into_iter()
            .map(|r| r.join().expect("runner thread does not panic"))
            .collect()
    });
    let stored: Vec<&FleetOp> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(stored.len(), 1, "exactly one stores: {outcomes:?}");
    for outcome in &outcomes {
        if let Err(error) = outcome {
            assert!(
                matches!(
                    error,
                    StoreError::Conflict {
                        expected: Some(1),
                        found: 2,
                        ..
                    }
                ),
                "{error:?}"
            );
        }
    }
    let store = make();
    assert_eq!(latest_numbers(&store, &clouds), [Some(2), Some(2)]);
    assert_eq!(ops_of(&store, "fleetrace").len(), 1);
}

/// A fleet operation's runner locks `fleet-op/<id>` like a cloud: one owner
/// at a time, with tokens, heartbeats and release.
pub fn a_fleet_op_lock_works_like_a_cloud_lock<S: Store>(make: &Make<'_, S>) {
    let mut alice = make();
    let mut bob = make();
    put_with(&mut alice, "oplock-a", "27.0.2", &[]);
    let op = alice
        .create_fleet_op(fleet_op_of("oplock", "29.1.0", &[("oplock-a", 0, 1)]))
        .expect("create");
    let name = fleet_op_lock_name(op.id);
    assert_eq!(name, format!("fleet-op/{}", op.id));
    let lock = alice.acquire_lock(&name, "runner-1", LONG).expect("lock");
    assert_eq!(
        (lock.cloud.as_str(), lock.owner.as_str()),
        (name.as_str(), "runner-1")
    );
    let refused = bob.acquire_lock(&name, "runner-2", LONG);
    assert!(
        matches!(&refused, Err(StoreError::Locked { cloud, owner, .. }) if *cloud == name && owner == "runner-1"),
        "{refused:?}"
    );
    assert_eq!(bob.lock_info(&name).expect("info"), Some(lock.clone()));
    assert_eq!(
        bob.lock_info("oplock-a").expect("info"),
        None,
        "the cloud is not locked"
    );
    alice.heartbeat(&name, lock.token).expect("heartbeat");
    alice.release_lock(&name, lock.token).expect("release");
    let next = bob
        .acquire_lock(&name, "runner-2", LONG)
        .expect("free again");
    assert!(next.token > lock.token);
    assert_eq!(
        bob.force_unlock(&name).expect("force").map(|l| l.token),
        Some(next.token)
    );
}
