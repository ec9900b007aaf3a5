//! Checks of the journal: steps, transitions, fencing, resuming.

use std::thread;
use std::time::Duration;

use super::{put, Make, LONG};
use crate::{StepState, Store, StoreError};

/// Journal writes under a token that no longer holds the lock are refused.
pub fn writes_with_a_stale_token_are_fenced<S: Store>(make: &Make<'_, S>) {
    let mut alice = make();
    let mut bob = make();
    put(&mut alice, "fenced", "1");
    let old = alice.acquire_lock("fenced", "alice", LONG).expect("lock");
    let op = alice
        .journal_begin("fenced", 1, "apply", old.token)
        .expect("begin");
    alice
        .journal_step(op, 0, "pull images", StepState::Started, "")
        .expect("step");
    bob.force_unlock("fenced").expect("force");
    let fenced = alice.journal_step(op, 0, "pull images", StepState::Done, "");
    assert!(
        matches!(&fenced, Err(StoreError::Fenced { token, holder: None, .. }) if *token == old.token),
        "{fenced:?}"
    );
    let new = bob.acquire_lock("fenced", "bob", LONG).expect("bob locks");
    for result in [
        alice.journal_step(op, 0, "pull images", StepState::Done, ""),
        alice.journal_end(op, "done"),
        alice
            .journal_begin("fenced", 1, "rollback", old.token)
            .map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(StoreError::Fenced { token, holder: Some(h), .. })
                if *token == old.token && *h == new.token),
            "{result:?}"
        );
    }
    let op_now = bob
        .unfinished_operation("fenced")
        .expect("read")
        .expect("still unfinished");
    assert_eq!(op_now.steps.len(), 1, "the fenced step was not written");
    assert!(matches!(
        bob.journal_begin("fenced", 1, "apply", old.token + 1000),
        Err(StoreError::Fenced { .. })
    ));
}

/// The journal keeps an operation's steps in order until it ends; an ended
/// operation takes no more writes.
pub fn the_journal_keeps_steps_of_the_unfinished_operation<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    put(&mut store, "journal", "1");
    put(&mut store, "journal", "2");
    let lock = store.acquire_lock("journal", "alice", LONG).expect("lock");
    let missing = store.journal_begin("journal", 3, "apply", lock.token);
    assert!(
        matches!(missing, Err(StoreError::UnknownRevision { latest: 2, .. })),
        "{missing:?}"
    );
    assert_eq!(store.unfinished_operation("journal").expect("read"), None);
    let op = store
        .journal_begin("journal", 2, "apply", lock.token)
        .expect("begin");
    let second = store.journal_begin("journal", 2, "apply", lock.token);
    assert!(
        matches!(second, Err(StoreError::UnfinishedOperation { id, .. }) if id == op),
        "{second:?}"
    );
    let steps = [
        (0, "pull", StepState::Started, ""),
        (0, "pull", StepState::Done, "3 images"),
        (1, "start keystone", StepState::Started, ""),
        (1, "start keystone", StepState::Failed, "gate timed out"),
        (1, "start keystone", StepState::Started, "retry"),
    ];
    for (index, name, state, detail) in steps {
        store
            .journal_step(op, index, name, state, detail)
            .expect("step");
    }
    let unfinished = make()
        .unfinished_operation("journal")
        .expect("read")
        .expect("unfinished");
    assert_eq!(
        (
            unfinished.id,
            unfinished.cloud.as_str(),
            unfinished.revision,
            unfinished.kind.as_str(),
            unfinished.token
        ),
        (op, "journal", 2, "apply", lock.token)
    );
    let journaled: Vec<(u32, &str, StepState, &str)> = unfinished
        .steps
        .iter()
        .map(|s| (s.step_index, s.name.as_str(), s.state, s.detail.as_str()))
        .collect();
    assert_eq!(journaled, steps);
    assert_eq!(unfinished.resume_index(), 1);
    store.journal_end(op, "done").expect("end");
    assert_eq!(store.unfinished_operation("journal").expect("read"), None);
    let after_end = store.journal_step(op, 2, "late", StepState::Started, "");
    assert!(
        matches!(&after_end, Err(StoreError::OperationEnded { id, outcome }) if *id == op && outcome == "done"),
        "{after_end:?}"
    );
    assert!(matches!(
        store.journal_end(op, "done"),
        Err(StoreError::OperationEnded { .. })
    ));
    for unknown in [op + 1000, u64::MAX] {
        assert!(matches!(
            store.journal_end(unknown, "done"),
            Err(StoreError::UnknownOperation { .. })
        ));
    }
    let next = store
        .journal_begin("journal", 1, "rollback", lock.token)
        .expect("a new operation after the end");
    assert!(next > op);
}

/// `Done` and `Failed` need a `Started` step; a `Done` step is final.
pub fn journal_steps_follow_their_transitions<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    put(&mut store, "transitions", "1");
    let lock = store
        .acquire_lock("transitions", "alice", LONG)
        .expect("lock");
    let op = store
        .journal_begin("transitions", 1, "apply", lock.token)
        .expect("begin");
    let refused = store.journal_step(op, 0, "pull", StepState::Done, "");
    assert!(
        matches!(
            refused,
            Err(StoreError::StepOutOfOrder {
                from: None,
                to: StepState::Done,
                ..
            })
        ),
        "{refused:?}"
    );
    store
        .journal_step(op, 0, "pull", StepState::Started, "")
        .expect("start");
    store
        .journal_step(op, 0, "pull", StepState::Done, "")
        .expect("done");
    for state in StepState::ALL {
        let refused = store.journal_step(op, 0, "pull", state, "");
        assert!(
            matches!(
                refused,
                Err(StoreError::StepOutOfOrder {
                    from: Some(StepState::Done),
                    ..
                })
            ),
            "{state}: {refused:?}"
        );
    }
}

/// After a takeover, the new holder adopts the unfinished operation and its
/// journal goes on; the old holder is fenced from it.
pub fn a_new_holder_resumes_the_unfinished_operation<S: Store>(make: &Make<'_, S>) {
    let mut alice = make();
    let mut bob = make();
    put(&mut alice, "resume", "1");
    let old = alice.acquire_lock("resume", "alice", LONG).expect("lock");
    let op = alice
        .journal_begin("resume", 1, "apply", old.token)
        .expect("begin");
    for state in [StepState::Started, StepState::Done] {
        alice
            .journal_step(op, 0, "pull", state, "")
            .expect("step 0");
    }
    alice
        .journal_step(op, 1, "start", StepState::Started, "")
        .expect("step 1");
    thread::sleep(Duration::from_millis(30));
    let new = bob
        .acquire_lock("resume", "bob", Duration::from_millis(10))
        .expect("takeover");
    assert!(matches!(
        bob.journal_resume(op, old.token),
        Err(StoreError::Fenced { .. })
    ));
    let not_held = bob.journal_step(op, 1, "start", StepState::Started, "");
    assert!(
        matches!(not_held, Err(StoreError::OperationNotHeld { id }) if id == op),
        "a handle writes only to operations it began or resumed: {not_held:?}"
    );
    let resumed = bob.journal_resume(op, new.token).expect("resume");
    assert_eq!((resumed.id, resumed.token), (op, new.token));
    assert_eq!(resumed.resume_index(), 1);
    assert_eq!(resumed.steps.len(), 3);
    bob.journal_step(op, 1, "start", StepState::Started, "after a crash")
        .expect("re-run step 1");
    assert!(matches!(
        alice.journal_step(op, 1, "start", StepState::Done, ""),
        Err(StoreError::Fenced { .. })
    ));
    bob.journal_step(op, 1, "start", StepState::Done, "")
        .expect("step 1 done");
    bob.journal_end(op, "done").expect("end");
    assert!(matches!(
        bob.journal_resume(op, new.token),
        Err(StoreError::OperationEnded { .. })
    ));
    assert!(matches!(
        bob.journal_resume(op + 1000, new.token),
        Err(StoreError::UnknownOperation { .. })
    ));
}
