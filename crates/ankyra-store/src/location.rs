//! Where a store lives, as the user names it: a path (or `sqlite://` URL)
//! for the embedded store, a `postgres://` URL for a shared one.

use std::path::Path;

use crate::{SqliteStore, Store, StoreError};

/// The URL schemes that name a PostgreSQL store.
const POSTGRES_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Whether `location` names a PostgreSQL store.
fn is_postgres(location: &str) -> bool {
    POSTGRES_SCHEMES
        .iter()
        .any(|scheme| starts_with_ignore_case(location, scheme))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Opens the store at `location`: a `postgres://` or `postgresql://` URL
/// opens a `PgStore` (needs the `postgres` feature); anything else is a
/// path to a SQLite store file, optionally written `sqlite:///path`, opened
/// with [`SqliteStore::open`].
pub fn open(location: &str) -> Result<Box<dyn Store>, StoreError> {
    if is_postgres(location) {
        return open_postgres(location);
    }
    let path = if starts_with_ignore_case(location, "sqlite://") {
        &location["sqlite://".len()..]
    } else {
        location
    };
    Ok(Box::new(SqliteStore::open(Path::new(path))?))
}

#[cfg(feature = "postgres")]
fn open_postgres(location: &str) -> Result<Box<dyn Store>, StoreError> {
    Ok(Box::new(crate::PgStore::connect(location)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(location: &str) -> Result<Box<dyn Store>, StoreError> {
    Err(StoreError::PostgresNotBuilt {
        location: describe_location(location),
    })
}

/// `location` as it may be shown to people and written to logs: a URL's
/// password (in its user part or as a `password=` parameter) is replaced by
/// `***`. Paths are returned as they are.
pub fn describe_location(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{}", redact_query(tail))
}

/// Replaces the value of every `password` parameter of a URL's query.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => parameter.to_owned(),
        })
        .collect();
    format!("{path}?{}", parameters.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        for (url, shown) in [
            (
                "postgres://ankyra:s3cr3t@127.0.0.1:5432/ankyra",
                "postgres://ankyra:***@127.0.0.1:5432/ankyra",
            ),
            (
                "postgresql://ankyra:p@ss:w@db.example/x?sslmode=disable&password=again",
                "postgresql://ankyra:***@db.example/x?sslmode=disable&password=***",
            ),
            ("postgres://ankyra@db/x", "postgres://ankyra@db/x"),
            ("postgres://db", "postgres://db"),
            ("/var/lib/ankyra/store.db", "/var/lib/ankyra/store.db"),
        ] {
            assert_eq!(describe_location(url), shown, "{url}");
            assert!(!describe_location(url).contains("s3cr3t"));
        }
    }

    #[test]
    fn urls_choose_the_backend() {
        assert!(is_postgres("postgres://a@b/c"));
        assert!(is_postgres("PostgreSQL://a@b/c"));
        assert!(!is_postgres("/tmp/postgres://x"));
        assert!(!is_postgres("sqlite:///tmp/store.db"));
    }

    #[test]
    fn a_path_or_sqlite_url_opens_a_sqlite_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.db");
        let mut store = open(&format!("sqlite://{}", path.display())).expect("opens");
        store
            .put_revision(crate::suite::new_revision("located", "1"))
            .expect("put");
        drop(store);
        let store = open(path.to_str().expect("a UTF-8 temp path")).expect("reopens");
        assert_eq!(store.clouds().expect("clouds"), ["located"]);
    }
}
