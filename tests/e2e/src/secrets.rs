//! The secrets Ankyra generated for a cloud, read from its store file (read-only,
//! straight from SQLite: the `Store` trait has no getter that cannot create one), and
//! where they must not show up. A [`Secret`] never prints its value, and what a search
//! reports is where and which secret (by name), never the value.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rusqlite::{Connection, OpenFlags};

/// Shorter values could turn up by chance; Ankyra generates 16 characters or more.
const MIN_LEN: usize = 16;

/// One generated secret: its name, and its value (never printed).
pub struct Secret {
    pub name: String,
    value: String,
}

impl Secret {
    /// A secret with this name and value (for tests of the search).
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Secret {
        Secret {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}, {} chars)", self.name, self.value.len())
    }
}

/// Every secret of `cloud` in the store at `store`, by name. The file is opened
/// read-only, so nothing is created or migrated. Fails if a value is shorter than
/// 16 characters (it could match by chance, and Ankyra never generates one).
pub fn read(store: &Path, cloud: &str) -> Result<Vec<Secret>> {
    let conn = Connection::open_with_flags(
        store,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening the store {} read-only", store.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mut statement =
        conn.prepare("SELECT name, value FROM secrets WHERE cloud = ?1 ORDER BY name")?;
    let secrets = statement
        .query_map([cloud], |row| {
            Ok(Secret {
                name: row.get(0)?,
                value: row.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .with_context(|| format!("reading the secrets of {cloud} from {}", store.display()))?;
    for s in &secrets {
        ensure!(
            s.value.len() >= MIN_LEN,
            "secret {} of {cloud} has {} characters, expected at least {MIN_LEN}",
            s.name,
            s.value.len()
        );
    }
    Ok(secrets)
}

/// The names of the secrets whose value occurs in `text`.
pub fn found_in<'a>(secrets: &'a [Secret], text: &str) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|s| text.contains(&s.value))
        .map(|s| s.name.as_str())
        .collect()
}

/// `text` with every secret's value replaced by `[secret NAME]`: safe to print.
pub fn redact(secrets: &[Secret], text: &str) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(&s.value) {
            out = out.replace(&s.value, &format!("[secret {}]", s.name));
        }
    }
    out
}

/// Places searched and where a secret turned up, for one report.
#[derive(Debug, Default)]
pub struct Search {
    /// How many texts were searched.
    pub searched: usize,
    /// `WHERE: secret names` for every text that holds a secret.
    pub leaks: Vec<String>,
}

impl Search {
    /// Searches `text`, recording `place` (a container name, "ps", a command) if it
    /// holds any secret.
    pub fn check(&mut self, secrets: &[Secret], place: &str, text: &str) {
        self.searched += 1;
        let found = found_in(secrets, text);
        if !found.is_empty() {
            self.leaks
                .push(format!("{place}: holds secret(s) {}", found.join(", ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_names_the_place_and_the_secret_never_the_value() {
        let secrets = vec![
            Secret::new("keystone-db", "Kd7s9QpLm2Xv4Rt8Yw"),
            Secret::new("admin", "Ad3Fg6Hj9Kl2Zx5Cv8"),
        ];
        let mut search = Search::default();
        search.check(&secrets, "clean", "nothing here");
        search.check(
            &secrets,
            "env of c1",
            "PASS=Kd7s9QpLm2Xv4Rt8Yw and Ad3Fg6Hj9Kl2Zx5Cv8",
        );
        assert_eq!(search.searched, 2);
        assert_eq!(
            search.leaks,
            ["env of c1: holds secret(s) keystone-db, admin"]
        );
        assert_eq!(
            redact(&secrets, "PASS=Kd7s9QpLm2Xv4Rt8Yw;"),
            "PASS=[secret keystone-db];"
        );
        let shown = format!("{:?} {:?}", secrets, search);
        assert!(!shown.contains("Kd7s9QpLm2Xv4Rt8Yw") && !shown.contains("Ad3Fg6"));
    }

    #[test]
    fn secrets_are_read_without_writing_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.db");
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(
            "CREATE TABLE secrets (cloud TEXT, name TEXT, value TEXT, created_at TEXT);
             INSERT INTO secrets VALUES ('a', 'y', 'aaaaaaaaaaaaaaaaaaaa', 't');
             INSERT INTO secrets VALUES ('a', 'x', 'bbbbbbbbbbbbbbbbbbbb', 't');
             INSERT INTO secrets VALUES ('b', 'x', 'cccccccccccccccccccc', 't');",
        )
        .expect("fill");
        drop(conn);
        let before = std::fs::read(&path).expect("read");
        let names: Vec<String> = read(&path, "a")
            .expect("read secrets")
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(std::fs::read(&path).expect("read"), before);
        let short = Connection::open(&path).expect("open");
        short
            .execute("INSERT INTO secrets VALUES ('c', 'z', 'short', 't')", [])
            .expect("insert");
        drop(short);
        assert!(read(&path, "c").is_err());
    }
}
