//! Reading a record file: parse, then check against the catalog.

use std::path::Path;

use ankyra_catalog::{resolve, ResolvedRecord};
use ankyra_model::{parse_record, Record};

use crate::OpsError;

/// A record read from a file and checked against the catalog.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The record as written.
    pub record: Record,
    /// With defaults resolved, components in dependency order.
    pub resolved: ResolvedRecord,
}

/// Reads, parses and validates a record file (`-` reads standard input).
pub fn load_record(path: &Path) -> Result<Loaded, OpsError> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|source| {
            OpsError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        buf
    } else {
        std::fs::read(path).map_err(|source| OpsError::Read {
            path: path.to_path_buf(),
            source,
        })?
    };
    let name = if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let record = parse_record(&name, &bytes)?;
    let resolved = resolve(&record)?;
    Ok(Loaded { record, resolved })
}

/// Validates a record file; the resolved record on success.
pub fn validate(path: &Path) -> Result<ResolvedRecord, OpsError> {
    load_record(path).map(|l| l.resolved)
}
