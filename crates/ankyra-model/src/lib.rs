//! The cloud record: what an operator writes to describe a cloud.
//!
//! Start at [`parse_record`], which turns a YAML file into a [`Record`] or
//! [`RecordErrors`] that name file, line, column and field. Values checked
//! later against the catalog ([`Version`], [`ImageRef`]) keep their position
//! in [`Spanned`]. No I/O here.

mod duration;
mod emit;
mod error;
mod image;
mod names;
mod parse;
mod record;
mod span;
mod version;
pub mod yaml;

pub use duration::{DurationError, Seconds};
pub use emit::{scalar as yaml_scalar, to_yaml};
pub use error::{named_source, suggest, RecordError, RecordErrors, SourceFile};
pub use image::{ImageRef, ImageRefError};
pub use names::{ipv4_slash16, is_label, CloudName, NameError};
pub use parse::{parse_record, MAX_RECORD_BYTES};
pub use record::{
    ComponentSpec, ComputeDriver, ComputeSpec, ConfigOverrides, HostSpec, Metadata, Record,
    RolloutSpec, Spec, TlsSpec, API_VERSION, KIND, LOCAL_HOST,
};
pub use span::{Span, Spanned};
pub use version::{Op, PreRelease, Version, VersionError};

/// The JSON Schema of a record, for editors.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Record);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
