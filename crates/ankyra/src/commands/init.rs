//! `ankyra init` and `ankyra validate`.

use std::path::Path;

use ankyra_ops::OpsError;

use crate::printer::Printer;

pub fn init(p: &Printer, name: &str) -> Result<(), OpsError> {
    let text = ankyra_ops::init(name)?;
    if p.is_json() {
        p.json(&serde_json::json!({ "name": name, "record": text }));
    } else {
        #[allow(clippy::print_stdout)]
        {
            print!("{text}");
        }
    }
    Ok(())
}

pub fn validate(p: &Printer, file: &Path) -> Result<(), OpsError> {
    let resolved = ankyra_ops::validate(file)?;
    if p.is_json() {
        p.json(&serde_json::json!({ "valid": true, "file": file, "resolved": resolved }));
    } else {
        p.line(format!(
            "{} is a valid record of cloud `{}`: release {}, {} components",
            file.display(),
            resolved.cloud,
            resolved.release,
            resolved.components.len()
        ));
    }
    Ok(())
}
