//! The behavioural suite every [`Store`] backend must pass.
//!
//! Each check takes `make`, which opens a new handle to one shared store
//! (so concurrency checks can use several handles). The store may already
//! hold other clouds: every check uses cloud names of its own, so the checks
//! can run one after another on one store, or each on a fresh one.
//!
//! ```ignore
//! ankyra_store::suite::store_suite(|| PgStore::connect(&url).expect("connect"));
//! ```

mod fleet;
mod journal;
mod locks;
mod migrations;
mod revisions;
mod secrets;
mod standby;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

pub use fleet::*;
pub use journal::*;
pub use locks::*;
pub use migrations::*;
pub use revisions::*;
pub use secrets::*;
pub use standby::*;

use crate::{NewRevision, Store};

/// A factory of handles to one store.
pub type Make<'a, S> = dyn Fn() -> S + Sync + 'a;

/// One named check of the suite.
pub struct Check<S> {
    /// The check's name, a sentence.
    pub name: &'static str,
    /// Runs it; panics on failure.
    pub run: fn(&Make<'_, S>),
}

/// Every check, in the order [`store_suite`] runs them.
pub fn checks<S: Store>() -> Vec<Check<S>> {
    macro_rules! checks {
        ($($name:ident),* $(,)?) => {
            vec![$(Check { name: stringify!($name), run: $name::<S> }),*]
        };
    }
    checks![
        revisions_are_numbered_from_one_per_cloud,
        identical_content_makes_no_new_revision,
        missing_revisions_are_reported_with_the_latest_number,
        history_is_oldest_first_and_clouds_are_sorted,
        revision_status_can_be_set_and_replaced,
        a_fixed_put_sequence_is_numbered_without_gaps,
        concurrent_puts_get_distinct_numbers,
        a_revision_is_stored_only_on_top_of_the_latest_its_writer_read,
        of_writers_who_read_one_latest_exactly_one_stores,
        a_secret_is_generated_once_and_reused,
        concurrent_secret_requests_agree_on_one_value,
        a_held_lock_refuses_another_owner_and_names_the_holder,
        an_expired_lock_is_taken_over_with_a_bigger_token,
        heartbeat_and_release_need_the_current_token,
        force_unlock_returns_the_lock_and_tokens_keep_growing,
        of_concurrent_lock_requests_exactly_one_wins,
        writes_with_a_stale_token_are_fenced,
        the_journal_keeps_steps_of_the_unfinished_operation,
        journal_steps_follow_their_transitions,
        a_new_holder_resumes_the_unfinished_operation,
        a_standby_set_is_put_replaced_listed_and_cleared,
        migrations_are_listed_newest_first_with_their_snapshots,
        finalizing_marks_only_that_components_unfinalized_migrations,
        the_snapshot_of_an_unknown_migration_is_an_error,
        the_fleet_index_shows_latest_applied_standby_and_unfinalized,
        a_fleet_op_is_created_read_and_updated,
        a_fleet_op_is_all_or_nothing,
        fleet_ops_are_listed_newest_first,
        only_unfinished_fleet_ops_are_listed_as_such,
        of_fleet_ops_racing_for_one_cloud_exactly_one_stores,
        a_fleet_op_lock_works_like_a_cloud_lock,
    ]
}

/// Runs every check against the store `make` opens; panics naming the first
/// check that fails.
pub fn store_suite<S: Store>(make: impl Fn() -> S + Sync) {
    for check in checks::<S>() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (check.run)(&make))) {
            eprintln!("store suite: check `{}` failed", check.name);
            resume_unwind(panic);
        }
    }
}

/// A revision of `cloud` whose content is `content`.
pub fn new_revision(cloud: &str, content: &str) -> NewRevision {
    NewRevision {
        cloud: cloud.to_owned(),
        record_json: format!("{{\"content\":\"{content}\"}}"),
        content_hash: format!("hash-of-{content}"),
        author: "tester".to_owned(),
        message: format!("set {content}"),
        labels: BTreeMap::new(),
        versions: BTreeMap::new(),
    }
}

const LONG: Duration = Duration::from_secs(3600);

fn put<S: Store>(store: &mut S, cloud: &str, content: &str) -> (u64, bool) {
    let (revision, created) = store
        .put_revision(new_revision(cloud, content))
        .expect("put_revision succeeds");
    (revision.number, created)
}
