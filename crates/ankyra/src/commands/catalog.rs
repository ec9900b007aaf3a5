//! `ankyra catalog [SERVICE]`.

use ankyra_ops::OpsError;

use crate::printer::Printer;

pub fn catalog(p: &Printer, service: Option<&str>) -> Result<(), OpsError> {
    let info = ankyra_ops::catalog_info(service)?;
    if p.is_json() {
        p.json(&info);
        return Ok(());
    }
    for (i, s) in info.iter().enumerate() {
        if i > 0 {
            p.line("");
        }
        let comps: Vec<&str> = s.components.iter().map(|c| c.name).collect();
        p.line(format!("{}  ({})", p.bold(&s.service), comps.join(", ")));
        let mut rows = vec![vec!["release".to_string(), "versions".to_string()]];
        for (release, versions) in &s.versions {
            rows.push(vec![release.clone(), versions.join(", ")]);
        }
        p.table(&rows, |_, _, c| c.to_string());
        if service.is_some() {
            p.line(format!("upgrade paths: {}", s.upgrade_paths));
        }
    }
    Ok(())
}
