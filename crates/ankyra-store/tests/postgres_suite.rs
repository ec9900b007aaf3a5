//! The behavioural suite on PostgreSQL, and what only the PostgreSQL store
//! has: refusing foreign or newer databases, redacting passwords, working
//! when called from async code.
//!
//! Needs a server: `ANKYRA_TEST_POSTGRES_URL` names a database on it whose
//! role may create databases (`scripts/ensure-postgres.sh` sets one up and
//! prints its URL). Each test creates a database of its own there and drops
//! it at the end, so reruns start clean. Without the URL each test prints
//! `SKIPPED` and passes, unless `ANKYRA_REQUIRE_POSTGRES=1` (CI), when it
//! fails.

use std::sync::Barrier;
use std::time::{SystemTime, UNIX_EPOCH};

use ankyra_store::{describe_location, suite, PgStore, Store, StoreError};
use postgres::{Client, NoTls};

const URL_VAR: &str = "ANKYRA_TEST_POSTGRES_URL";
const REQUIRE_VAR: &str = "ANKYRA_REQUIRE_POSTGRES";

/// The server's URL, or `None` (after saying so loudly) when the tests are
/// to be skipped.
fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(with_password_file(url.trim())),
        _ => {
            assert!(
                std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
                "{REQUIRE_VAR}=1 but {URL_VAR} is not set: run scripts/ensure-postgres.sh and \
                 set {URL_VAR} to the URL it prints"
            );
            eprintln!(
                "SKIPPED: set {URL_VAR} to run the PostgreSQL store tests \
                 (scripts/ensure-postgres.sh prints a URL)"
            );
            None
        }
    }
}

/// The URL with the password from `ANKYRA_STORE_PASSWORD_FILE` put in (CI
/// keeps passwords out of environment variables and arguments).
fn with_password_file(url: &str) -> String {
    let Ok(file) = std::env::var("ANKYRA_STORE_PASSWORD_FILE") else {
        return url.to_owned();
    };
    let password = std::fs::read_to_string(&file).expect("the password file reads");
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (user, host) = rest.split_once('@').expect("a URL with a user");
    if user.contains(':') {
        return url.to_owned();
    }
    format!("{scheme}://{user}:{}@{host}", password.trim())
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    format!("{scheme}://{authority}/{name}{query}")
}

/// Runs `f` on a thread of its own: the plain `postgres` client these
/// helpers use panics when called from a thread running an async runtime
/// (what [`PgStore`] is built to avoid), and some tests run on one.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A database made for one test, dropped when the test ends (pass or fail).
struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    fn create(server: &str, label: &str) -> TestDatabase {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .subsec_nanos();
        let name = format!("ankyra_test_{label}_{}_{nanos}", std::process::id());
        off_runtime(|| {
            let mut admin = Client::connect(server, NoTls)
                .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", describe_location(server)));
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        });
        TestDatabase {
            server: server.to_owned(),
            url: with_database(server, &name),
            name,
        }
    }

    /// A plain client on the test database, for what the store must not do.
    fn raw(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("a raw connection")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = off_runtime(|| {
            Client::connect(&self.server, NoTls).and_then(|mut admin| {
                admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
            })
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

#[test]
fn the_store_suite_passes_on_postgresql() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "suite");
    let names: Vec<&str> = suite::checks::<PgStore>().iter().map(|c| c.name).collect();
    eprintln!("running {} store suite checks on PostgreSQL", names.len());
    suite::store_suite(|| PgStore::connect(&db.url).expect("the store connects"));
}

#[test]
fn any_put_sequence_is_numbered_one_to_n_on_postgresql() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "sequence");
    let mut store = PgStore::connect(&db.url).expect("connect");
    for (i, contents) in [
        vec![],
        vec![0, 0, 0],
        vec![1, 2, 1, 2, 2, 3, 0, 0, 1],
        (0..40).map(|i| (i * 7 % 3) as u8).collect(),
    ]
    .iter()
    .enumerate()
    {
        suite::put_sequence_is_numbered_without_gaps(&mut store, &format!("seq-{i}"), contents);
    }
}

/// Ankyra calls the store from async code; the `postgres` crate alone would
/// panic there ("Cannot start a runtime from within a runtime").
#[tokio::test]
async fn the_store_works_when_called_from_async_code() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "async");
    let mut store = PgStore::connect(&db.url).expect("connect from async code");
    let (revision, created) = store
        .put_revision(suite::new_revision("async", "1"))
        .expect("put from async code");
    assert!(created);
    tokio::task::yield_now().await;
    assert_eq!(
        store.latest("async").expect("latest").map(|r| r.number),
        Some(revision.number)
    );
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_from_many_tasks_of_a_multi_threaded_runtime() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "tasks");
    let url = db.url.clone();
    let mut tasks = Vec::new();
    for task in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut store: Box<dyn Store> = ankyra_store::open(&url).expect("open by URL");
            for i in 0..5 {
                store
                    .put_revision(suite::new_revision("tasks", &format!("{task}-{i}")))
                    .expect("put");
            }
        }));
    }
    for task in tasks {
        task.await.expect("a task does not panic");
    }
    let store = PgStore::connect(&url).expect("connect");
    assert_eq!(store.history("tasks").expect("history").len(), 20);
}

/// Table names of the test database's schema, and its meta rows.
fn contents(client: &mut Client) -> (Vec<String>, Vec<(String, String)>) {
    let tables = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
            &[],
        )
        .expect("tables")
        .iter()
        .map(|row| row.get(0))
        .collect::<Vec<String>>();
    let meta = if tables.iter().any(|t| t == "ankyra_meta") {
        client
            .query("SELECT key, value FROM ankyra_meta ORDER BY key", &[])
            .expect("meta")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    } else {
        Vec::new()
    };
    (tables, meta)
}

#[test]
fn a_database_from_a_newer_ankyra_is_refused_and_left_unchanged() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "newer");
    let mut store = PgStore::connect(&db.url).expect("create");
    store
        .put_revision(suite::new_revision("future", "1"))
        .expect("put");
    drop(store);
    let mut raw = db.raw();
    let newer = PgStore::SCHEMA_VERSION + 1;
    raw.execute(
        "UPDATE ankyra_meta SET value = $1 WHERE key = 'schema_version'",
        &[&newer.to_string()],
    )
    .expect("pretend to be newer");
    let before = contents(&mut raw);
    for _ in 0..2 {
        match PgStore::connect(&db.url) {
            Err(StoreError::DatabaseTooNew {
                location,
                found,
                supported,
            }) => {
                assert_eq!((found, supported), (newer, PgStore::SCHEMA_VERSION));
                assert_eq!(location, describe_location(&db.url));
            }
            other => panic!("expected DatabaseTooNew, got {other:?}"),
        }
    }
    assert_eq!(contents(&mut raw), before, "nothing changed");
}

#[test]
fn a_database_of_another_program_is_refused_and_left_unchanged() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "foreign");
    let mut raw = db.raw();
    raw.batch_execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY); INSERT INTO customers VALUES (1);
         CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '1');",
    )
    .expect("another program's tables");
    let before = contents(&mut raw);
    for _ in 0..2 {
        let error = PgStore::connect(&db.url).expect_err("refused");
        assert!(
            matches!(&error, StoreError::NotAStoreDatabase { location } if *location == describe_location(&db.url)),
            "{error:?}"
        );
        assert!(error.to_string().contains("left untouched"), "{error}");
    }
    assert_eq!(contents(&mut raw), before, "nothing changed");
}

#[test]
fn revisions_cannot_be_rewritten_or_deleted_in_postgresql() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "immutable");
    let mut store = PgStore::connect(&db.url).expect("connect");
    store
        .put_revision(suite::new_revision("kept", "1"))
        .expect("put");
    store
        .set_revision_status("kept", 1, "applied")
        .expect("status is a mark, not content");
    let mut raw = db.raw();
    assert!(raw
        .execute("UPDATE revisions SET record_json = '{}'", &[])
        .is_err());
    assert!(raw
        .execute("UPDATE revisions SET labels_json = '{}'", &[])
        .is_err());
    assert!(raw.execute("DELETE FROM revisions", &[]).is_err());
}

#[test]
fn many_handles_creating_one_new_store_at_once_all_succeed() {
    let Some(server) = server_url() else { return };
    let db = TestDatabase::create(&server, "race");
    let barrier = Barrier::new(6);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                barrier.wait();
                let mut store = PgStore::connect(&db.url).expect("every opener succeeds");
                store
                    .put_revision(suite::new_revision("race", "same"))
                    .expect("put");
            });
        }
    });
    let store = PgStore::connect(&db.url).expect("reconnect");
    assert_eq!(store.history("race").expect("history").len(), 1);
}

#[test]
fn connection_errors_never_show_the_password() {
    let Some(server) = server_url() else { return };
    let secret = "not-the-password-7f3a";
    let (scheme, rest) = server.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let wrong = format!("{scheme}://ankyra:{secret}@{host}");
    let error = PgStore::connect(&wrong).expect_err("a wrong password is refused");
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    let mut chain = format!("{error} {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    assert!(!chain.contains(secret), "{chain}");
    assert!(chain.contains("ankyra:***@"), "{chain}");

    let unreachable = format!("postgres://ankyra:{secret}@127.0.0.1:1/ankyra");
    let Err(error) = ankyra_store::open(&unreachable) else {
        panic!("nothing listens on port 1");
    };
    let text = format!("{error} {error:?}");
    assert!(!text.contains(secret), "{text}");
}
