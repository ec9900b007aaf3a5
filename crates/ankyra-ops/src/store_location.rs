//! Where the store lives and how it is opened: a SQLite file (the embedded
//! default) or a PostgreSQL URL (a store shared by a team), and the folder
//! the clouds' files live in.

use std::path::{Path, PathBuf};

use ankyra_store::Store;

use crate::OpsError;

/// Where the store lives when neither `--store` nor `ANKYRA_STORE` says.
pub fn default_store_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("ankyra")
        .join("store.db")
}

/// Opens the store at `location`: a SQLite file path (the embedded
/// default), or a `postgres://` URL for a store shared by a team.
///
/// A PostgreSQL password never goes in the URL on a command line (other
/// users see process arguments): `ANKYRA_STORE_PASSWORD_FILE` names a file
/// holding it, read here and added to the URL in memory only.
pub fn open_store(location: &str) -> Result<Box<dyn Store>, OpsError> {
    if is_postgres(location) {
        if let Ok(file) = std::env::var(PASSWORD_FILE_ENV) {
            let password = std::fs::read_to_string(&file).map_err(|source| OpsError::Read {
                path: PathBuf::from(&file),
                source,
            })?;
            let url = with_password(location, password.trim_end_matches(['\n', '\r']));
            return Ok(ankyra_store::open(&url)?);
        }
    }
    Ok(ankyra_store::open(location)?)
}

/// The variable naming the file that holds the PostgreSQL store's password.
pub const PASSWORD_FILE_ENV: &str = "ANKYRA_STORE_PASSWORD_FILE";

/// `postgres://user@host/db` with `password` put after the user (percent-encoded).
fn with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    if userinfo.contains(':') {
        return url.to_string();
    }
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{scheme}://{userinfo}:{encoded}@{host}")
}

/// Whether `location` names a PostgreSQL store.
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Where a store's clouds keep their files (configs, clouds.yaml): beside the store.
pub fn state_dir(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
