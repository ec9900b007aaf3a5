//! The behavioural suite on SQLite, and what only a file-backed store has:
//! permissions, schema versions, refusing foreign files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Barrier, Mutex};

use proptest::prelude::*;
use rusqlite::Connection;

use super::schema::{MIGRATIONS, SCHEMA_VERSION};
use super::SqliteStore;
use crate::suite;
use crate::{Store, StoreError};

/// Runs `check` with a factory of handles to one fresh store file.
fn with_store(check: impl FnOnce(&suite::Make<'_, SqliteStore>)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    check(&|| SqliteStore::open(&path).expect("the store opens"));
}

macro_rules! suite_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                with_store(|make| suite::$name(make));
            }
        )*

        #[test]
        fn every_suite_check_runs_as_a_test() {
            let names: Vec<&str> = suite::checks::<SqliteStore>().iter().map(|c| c.name).collect();
            assert_eq!(names, [$(stringify!($name)),*]);
        }
    };
}

suite_tests!(
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
);

#[test]
fn the_whole_suite_passes_on_one_shared_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    suite::store_suite(|| SqliteStore::open(&path).expect("the store opens"));
}

#[test]
fn single_handle_checks_pass_in_memory() {
    // An in-memory store has exactly one handle, so each check gets one.
    for check in [
        suite::revisions_are_numbered_from_one_per_cloud::<SqliteStore>,
        suite::identical_content_makes_no_new_revision,
        suite::journal_steps_follow_their_transitions,
    ] {
        let store = Mutex::new(Some(SqliteStore::open_in_memory().expect("in memory")));
        check(&|| {
            let mut slot = store.lock().expect("not poisoned");
            slot.take().expect("one handle per in-memory check")
        });
    }
}

/// Set when the test binary runs as one of the writer processes of
/// [`two_processes_put_revisions_to_one_file`].
const CHILD_STORE: &str = "ANKYRA_STORE_TEST_CHILD_STORE";
const CHILD_PUTS: u64 = 25;

/// The writer side: puts `CHILD_PUTS` revisions into the shared file.
fn put_revisions_as_a_child(path: &Path) {
    let mut store = SqliteStore::open(path).expect("open");
    for i in 0..CHILD_PUTS {
        let content = format!("{}-{i}", std::process::id());
        let (_, created) = store
            .put_revision(suite::new_revision("processes", &content))
            .expect("put");
        assert!(created);
    }
}

/// Runs itself twice as child processes (the same test, with `CHILD_STORE`
/// set) that write to one store file at once: every revision gets its own number.
#[test]
fn two_processes_put_revisions_to_one_file() {
    if let Some(path) = std::env::var_os(CHILD_STORE) {
        put_revisions_as_a_child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).expect("create"));
    let test_binary = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&test_binary)
                .args(["--exact", "--quiet"])
                .arg("sqlite::tests::two_processes_put_revisions_to_one_file")
                .env(CHILD_STORE, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a child")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("child runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran the writer: {stdout}"
        );
    }
    let store = SqliteStore::open(&path).expect("reopen");
    let numbers: Vec<u64> = store
        .history("processes")
        .expect("history")
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, (1..=2 * CHILD_PUTS).collect::<Vec<_>>());
}

/// Set when the test binary runs as one of the lockers of
/// [`processes_racing_for_one_lock_exactly_one_wins`]: the store file.
const CHILD_LOCK_STORE: &str = "ANKYRA_STORE_TEST_CHILD_LOCK_STORE";
/// When the lockers ask (Unix time in milliseconds), so they ask at once.
const CHILD_LOCK_AT: &str = "ANKYRA_STORE_TEST_CHILD_LOCK_AT_MS";
const LOCKERS: usize = 4;

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis()
}

/// The locker side: waits for the agreed moment, asks for the lock on
/// `processes` and writes what it got to `outcome-PID` beside the store.
fn lock_as_a_child(path: &Path) {
    let at: u128 = std::env::var(CHILD_LOCK_AT)
        .expect("the parent says when")
        .parse()
        .expect("milliseconds");
    let mut store = SqliteStore::open(path).expect("open");
    let owner = format!("process-{}", std::process::id());
    let now = unix_ms();
    if now < at {
        let wait = u64::try_from(at - now).expect("a short wait");
        std::thread::sleep(std::time::Duration::from_millis(wait));
    }
    let outcome =
        match store.acquire_lock("processes", &owner, std::time::Duration::from_secs(3600)) {
            Ok(lock) => format!("acquired\n{owner}\n{}", lock.acquired_at),
            Err(StoreError::Locked {
                owner: holder,
                since,
                ..
            }) => format!("locked\n{holder}\n{since}"),
            Err(other) => panic!("expected the lock or Locked, got {other:?}"),
        };
    fs::write(
        path.with_file_name(format!("outcome-{}", std::process::id())),
        outcome,
    )
    .expect("write the outcome");
}

/// What a second `apply` on a cloud meets, across processes: lockers started
/// as separate processes (this test binary, with `CHILD_LOCK_STORE` set) ask
/// for one cloud's lock at the same moment; exactly one gets it and every
/// other is refused with the holder's name and since when.
#[test]
fn processes_racing_for_one_lock_exactly_one_wins() {
    if let Some(path) = std::env::var_os(CHILD_LOCK_STORE) {
        lock_as_a_child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).expect("create"));
    let test_binary = std::env::current_exe().expect("test binary");
    let at = unix_ms() + 1500;
    let children: Vec<_> = (0..LOCKERS)
        .map(|_| {
            Command::new(&test_binary)
                .args(["--exact", "--quiet"])
                .arg("sqlite::tests::processes_racing_for_one_lock_exactly_one_wins")
                .env(CHILD_LOCK_STORE, &path)
                .env(CHILD_LOCK_AT, at.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a child")
        })
        .collect();
    let mut outcomes = Vec::new();
    for child in children {
        let pid = child.id();
        let output = child.wait_with_output().expect("child runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran the locker: {stdout}"
        );
        let text = fs::read_to_string(dir.path().join(format!("outcome-{pid}")))
            .expect("the child wrote its outcome");
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 3, "{text}");
        outcomes.push((format!("process-{pid}"), lines));
    }
    let winners: Vec<&(String, Vec<String>)> = outcomes
        .iter()
        .filter(|(_, lines)| lines[0] == "acquired")
        .collect();
    assert_eq!(winners.len(), 1, "exactly one process locks: {outcomes:?}");
    let (winner, won) = winners[0];
    assert_eq!(&won[1], winner);
    for (owner, lines) in &outcomes {
        if owner != winner {
            assert_eq!(
                lines,
                &["locked".to_owned(), winner.clone(), won[2].clone()],
                "{owner} is told who holds the lock since when"
            );
        }
    }
    let lock = SqliteStore::open(&path)
        .expect("reopen")
        .lock_info("processes")
        .expect("lock info")
        .expect("locked");
    assert_eq!((&lock.owner, &lock.acquired_at), (winner, &won[2]));
}

proptest! {
    #[test]
    fn any_put_sequence_is_numbered_one_to_n(contents in prop::collection::vec(0u8..4, 0..24)) {
        let mut store = SqliteStore::open_in_memory().expect("in memory");
        suite::put_sequence_is_numbered_without_gaps(&mut store, "property", &contents);
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut side = path.as_os_str().to_owned();
    side.push(suffix);
    PathBuf::from(side)
}

#[test]
fn a_new_store_is_owner_only_in_owner_only_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state/ankyra/store.db");
    let mut store = SqliteStore::open(&path).expect("open");
    store
        .put_revision(suite::new_revision("perm", "1"))
        .expect("put");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/ankyra")), 0o700);
    for suffix in ["-wal", "-shm"] {
        let side = side_file(&path, suffix);
        assert!(side.exists(), "{} exists while open", side.display());
        assert_eq!(mode(&side), 0o600, "{}", side.display());
    }
    assert_eq!(store.path(), path);
}

#[test]
fn a_store_readable_by_others_is_made_owner_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).expect("create"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("loosen");
    let loose_wal = side_file(&path, "-wal");
    fs::write(&loose_wal, b"").expect("an empty wal file");
    fs::set_permissions(&loose_wal, fs::Permissions::from_mode(0o666)).expect("loosen");
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&loose_wal), 0o600);
    drop(store);
}

#[test]
fn a_store_uses_wal_foreign_keys_and_the_current_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).expect("open");
    let conn = &store.conn;
    let journal_mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(journal_mode, "wal");
    let foreign_keys: bool = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .expect("foreign_keys");
    assert!(foreign_keys);
    let version: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("schema_version");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SqliteStore::SCHEMA_VERSION, SCHEMA_VERSION);
}

#[test]
fn revisions_survive_reopening_and_cannot_be_rewritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let mut store = SqliteStore::open(&path).expect("open");
    let (first, _) = store
        .put_revision(suite::new_revision("kept", "1"))
        .expect("put");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.revision("kept", 1).expect("read"), first);
    let rewrite = store
        .conn
        .execute("UPDATE revisions SET record_json = '{}'", []);
    assert!(rewrite.is_err(), "the trigger refuses rewrites");
    assert!(store.conn.execute("DELETE FROM revisions", []).is_err());
}

/// Writes a store at schema `version`, built by the first `version`
/// migrations only, holding one revision of cloud `old`; returns the raw
/// connection to add what that version has.
fn write_old_store(path: &Path, version: usize) -> Connection {
    let conn = Connection::open(path).expect("raw open");
    for (done, sql) in MIGRATIONS[..version].iter().enumerate() {
        conn.execute_batch(sql)
            .unwrap_or_else(|e| panic!("migration {}: {e}", done + 1));
    }
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
        [i64::try_from(version).expect("a small version")],
    )
    .expect("schema version");
    conn.execute_batch(
        "INSERT INTO revisions (cloud, number, record_json, content_hash, created_at, author, message)
         VALUES ('old', 1, '{}', 'h1', '2025-01-01T00:00:00Z', 'a', 'm');",
    )
    .expect("a revision");
    conn
}

/// The schema version the file at `path` records.
fn schema_version_of(path: &Path) -> i64 {
    Connection::open(path)
        .expect("raw open")
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("schema_version")
}

/// What version 3 added works in a store migrated from an older version.
fn assert_version_3_tables_work(store: &mut SqliteStore) {
    let standby = crate::Standby {
        cloud: "old".to_owned(),
        component: "keystone".to_owned(),
        containers: vec!["keystone-1".to_owned()],
        version: "25.0.0".to_owned(),
        from_revision: 1,
        to_revision: 2,
        until_unix: 1_767_225_600,
    };
    store
        .put_standby(&standby)
        .expect("standbys, new in version 3");
    assert_eq!(store.standbys("old").expect("standbys"), [standby]);
    let migration = store
        .record_migration("old", "keystone", "25.0.0", "26.0.0", 1, b"\xff\x00dump")
        .expect("migrations, new in version 3");
    assert_eq!(store.migrations("old").expect("migrations"), [migration]);
}

#[test]
fn an_older_store_is_migrated_and_keeps_its_revisions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    drop(write_old_store(&path, 1));
    let mut store = SqliteStore::open(&path).expect("migrating open");
    let history = store.history("old").expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, None);
    store
        .set_revision_status("old", 1, "applied")
        .expect("status, new in version 2");
    let lock = store
        .acquire_lock("old", "me", std::time::Duration::from_secs(60))
        .expect("locks, new in version 2");
    assert_eq!(lock.token, 1);
    assert_version_3_tables_work(&mut store);
    drop(store);
    assert_eq!(schema_version_of(&path), SCHEMA_VERSION);
    SqliteStore::open(&path).expect("opens again once migrated");
}

#[test]
fn a_version_2_store_is_migrated_to_version_3_and_keeps_what_it_held() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let conn = write_old_store(&path, 2);
    conn.execute_batch(
        "UPDATE revisions SET status = 'applied' WHERE cloud = 'old' AND number = 1;
         INSERT INTO revisions (cloud, number, record_json, content_hash, created_at, author, message)
         VALUES ('old', 2, '{\"a\":1}', 'h2', '2025-01-02T00:00:00Z', 'b', 'n');
         INSERT INTO secrets VALUES ('old', 'admin', 's3cret', '2025-01-01T00:00:00Z');
         INSERT INTO lock_tokens VALUES ('old', 4);",
    )
    .expect("v2 contents");
    drop(conn);
    let mut store = SqliteStore::open(&path).expect("migrating open");
    let history = store.history("old").expect("history");
    let kept: Vec<(u64, &str, Option<&str>)> = history
        .iter()
        .map(|r| (r.number, r.content_hash.as_str(), r.status.as_deref()))
        .collect();
    assert_eq!(kept, [(1, "h1", Some("applied")), (2, "h2", None)]);
    assert_eq!(
        store.revision("old", 2).expect("revision 2").record_json,
        r#"{"a":1}"#
    );
    let secret = store
        .secret("old", "admin", &mut || panic!("the secret is kept"))
        .expect("secret");
    assert_eq!(secret, "s3cret");
    let lock = store
        .acquire_lock("old", "me", std::time::Duration::from_secs(60))
        .expect("lock");
    assert_eq!(lock.token, 5, "tokens go on from the kept last one");
    assert_version_3_tables_work(&mut store);
    drop(store);
    assert_eq!(schema_version_of(&path), SCHEMA_VERSION);
    let store = SqliteStore::open(&path).expect("opens again once migrated");
    assert_eq!(store.history("old").expect("history").len(), 2);
    assert_eq!(store.standbys("old").expect("standbys").len(), 1);
}

fn assert_refused_untouched(path: &Path, check: impl Fn(StoreError)) {
    let before = fs::read(path).expect("read before");
    for _ in 0..2 {
        check(SqliteStore::open(path).map(|_| ()).expect_err("refused"));
    }
    assert_eq!(
        fs::read(path).expect("read after"),
        before,
        "file unchanged"
    );
}

#[test]
fn a_store_from_a_newer_ankyra_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let mut store = SqliteStore::open(&path).expect("create");
    store
        .put_revision(suite::new_revision("future", "1"))
        .expect("put");
    drop(store);
    let conn = Connection::open(&path).expect("raw open");
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [SCHEMA_VERSION + 1],
    )
    .expect("pretend to be newer");
    drop(conn);
    assert_refused_untouched(&path, |e| match e {
        StoreError::TooNew {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(
                (p.as_path(), found, supported),
                (path.as_path(), SCHEMA_VERSION + 1, SCHEMA_VERSION)
            );
        }
        other => panic!("expected TooNew, got {other:?}"),
    });
}

fn expect_not_a_store(path: &Path) -> impl Fn(StoreError) + '_ {
    move |e| match e {
        StoreError::NotAStore { path: p } => assert_eq!(p, path),
        other => panic!("expected NotAStore, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in [
        ("short.txt", b"not a database".to_vec()),
        ("long.txt", b"0123456789abcdef".repeat(512)),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, &bytes).expect("write");
        assert_refused_untouched(&path, expect_not_a_store(&path));
    }
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("other.db");
    let conn = Connection::open(&path).expect("raw open");
    conn.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY); INSERT INTO customers VALUES (1);",
    )
    .expect("other program's data");
    drop(conn);
    assert_refused_untouched(&path, expect_not_a_store(&path));

    // Even with a table called meta, without our application id.
    let path = dir.path().join("meta.db");
    let conn = Connection::open(&path).expect("raw open");
    conn.execute_batch(
        "CREATE TABLE meta (key TEXT, value); INSERT INTO meta VALUES ('schema_version', 1);",
    )
    .expect("other program's meta");
    drop(conn);
    assert_refused_untouched(&path, expect_not_a_store(&path));
}

#[test]
fn an_empty_file_becomes_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("empty.db");
    fs::write(&path, b"").expect("touch");
    let mut store = SqliteStore::open(&path).expect("initialised");
    store
        .put_revision(suite::new_revision("empty", "1"))
        .expect("usable");
}

#[test]
fn errors_name_the_file_and_keep_their_cause() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("a-file");
    fs::write(&blocker, b"").expect("write");
    let error = SqliteStore::open(&blocker.join("store.db")).expect_err("parent is a file");
    assert!(matches!(error, StoreError::CreateDir { .. }), "{error:?}");
    assert!(error.to_string().contains("a-file"), "{error}");
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn many_handles_creating_one_new_store_at_once_all_succeed() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("new/store.db");
        let barrier = Barrier::new(6);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    barrier.wait();
                    let mut store = SqliteStore::open(&path).expect("every opener succeeds");
                    store
                        .put_revision(suite::new_revision("race", "same"))
                        .expect("put");
                });
            }
        });
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(store.history("race").expect("history").len(), 1);
    }
}

#[test]
fn revisions_stored_before_version_4_have_no_labels_or_versions_in_the_fleet_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let conn = write_old_store(&path, 3);
    conn.execute_batch(
        "UPDATE revisions SET status = 'applied' WHERE cloud = 'old' AND number = 1;
         INSERT INTO standbys VALUES ('old', 'keystone', '[\"keystone-1\"]', '25.0.0', 1, 2, 0);",
    )
    .expect("v3 contents");
    drop(conn);
    let mut store = SqliteStore::open(&path).expect("migrating open");
    let old = crate::CloudIndex {
        cloud: "old".to_owned(),
        latest: 1,
        latest_status: Some("applied".to_owned()),
        labels: None,
        versions: None,
        applied: Some(1),
        applied_versions: None,
        standby_components: vec!["keystone".to_owned()],
        unfinalized_components: vec![],
    };
    assert_eq!(store.fleet_index().expect("index"), [old]);
    store
        .put_revision(suite::revision_with(
            "old",
            "2",
            &[("region", "east")],
            &[("keystone", "29.1.0")],
        ))
        .expect("a revision after the upgrade");
    let row = store.fleet_index().expect("index").remove(0);
    assert_eq!(
        (
            row.latest,
            row.labels,
            row.versions,
            row.applied,
            row.applied_versions
        ),
        (
            2,
            Some(suite::map(&[("region", "east")])),
            Some(suite::map(&[("keystone", "29.1.0")])),
            Some(1),
            None
        )
    );
    let rewrite = store.conn.execute(
        "UPDATE revisions SET labels_json = '{}' WHERE number = 2",
        [],
    );
    assert!(rewrite.is_err(), "labels are as immutable as the record");
    drop(store);
    assert_eq!(schema_version_of(&path), SCHEMA_VERSION);
}

#[test]
fn the_fleet_index_reads_revisions_through_its_covering_index_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open");
    let plan: Vec<String> = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", super::fleet::INDEX_SQL))
        .expect("explain")
        .query_map([], |row| row.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("plan rows");
    let reads: Vec<&String> = plan
        .iter()
        .filter(|step| step.contains("revisions") || step.contains(" lr ") || step.contains(" ar "))
        .collect();
    assert!(!reads.is_empty(), "{plan:?}");
    for step in reads {
        assert!(
            step.contains("COVERING INDEX revisions_for_the_fleet_index"),
            "{step} in {plan:?}"
        );
    }
}

/// The fleet index of many clouds is a few queries, not one per cloud: a
/// generous bound that one query per cloud would still meet on a fast
/// machine is not the point; the bench (examples/fleet_index_bench.rs)
/// measures. This guards against a big regression in debug builds.
#[test]
fn the_fleet_index_of_two_thousand_clouds_is_quick() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open(&dir.path().join("store.db")).expect("open");
    {
        let tx = store.write().expect("one transaction for the fill");
        for cloud in 0..2000 {
            for content in 0..3 {
                super::revisions::insert_next(
                    &tx,
                    suite::revision_with(
                        &format!("many-{cloud:05}"),
                        &content.to_string(),
                        &[("region", "east")],
                        &[("keystone", "29.1.0")],
                    ),
                    crate::rules::Expect::Any,
                )
                .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    let started = std::time::Instant::now();
    let rows = store.fleet_index().expect("index");
    let took = started.elapsed();
    assert_eq!(rows.len(), 2000);
    assert!(rows.iter().all(|row| row.latest == 3));
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}
