//! One module per verb: parse, call one ankyra-ops function, print.

mod catalog;
mod deploy;
mod init;
mod plan;
mod revisions;

use ankyra_ops::OpsError;
use ankyra_store::SqliteStore;

use crate::args::{Cli, Command, Global, ImagesCommand};
use crate::printer::Printer;

/// Runs the command the arguments name.
pub fn run(cli: &Cli, p: &Printer) -> Result<(), OpsError> {
    let g = &cli.global;
    match &cli.command {
        Command::Init { name } => init::init(p, name),
        Command::Validate { file } => init::validate(p, file),
        Command::Schema => {
            p.json(&ankyra_ops::schema());
            Ok(())
        }
        Command::Catalog { service } => catalog::catalog(p, service.as_deref()),
        Command::Commit { file, message } => {
            revisions::commit(p, &mut store(g)?, file, &author(g), message)
        }
        Command::Plan {
            file,
            cloud,
            from,
            offline,
        } => plan::plan(
            p,
            &mut store(g)?,
            &state(g),
            file.as_deref(),
            cloud.as_deref(),
            *from,
            *offline,
        ),
        Command::Set {
            cloud,
            assignments,
            message,
            apply,
            no_progress,
        } => {
            let mut st = store(g)?;
            revisions::set(
                p,
                &mut st,
                cloud,
                assignments,
                &author(g),
                message.as_deref(),
            )?;
            if *apply {
                deploy::apply_cloud(p, &mut st, &state(g), cloud, *no_progress)?;
            }
            Ok(())
        }
        Command::Unlock { cloud } => revisions::unlock(p, &mut store(g)?, cloud),
        Command::History { cloud } => revisions::history(p, &store(g)?, cloud),
        Command::Show { cloud, revision } => revisions::show(p, &store(g)?, cloud, *revision),
        Command::Diff { cloud, a, b } => revisions::diff(p, &store(g)?, cloud, *a, *b),
        Command::Apply {
            file: Some(file),
            message,
            no_progress,
            ..
        } => deploy::apply(
            p,
            &mut store(g)?,
            &state(g),
            file,
            &author(g),
            message,
            *no_progress,
        ),
        Command::Apply {
            cloud, no_progress, ..
        } => deploy::apply_cloud(
            p,
            &mut store(g)?,
            &state(g),
            cloud.as_deref().unwrap_or_default(),
            *no_progress,
        ),
        Command::Rollback {
            cloud,
            component,
            to,
            restore_snapshot,
            no_progress,
        } => deploy::rollback(
            p,
            &mut store(g)?,
            &state(g),
            cloud,
            component,
            *to,
            *restore_snapshot,
            &author(g),
            *no_progress,
        ),
        Command::Finalize {
            cloud,
            component,
            no_progress,
        } => deploy::finalize(p, &mut store(g)?, &state(g), cloud, component, *no_progress),
        Command::Status { cloud } => deploy::status(p, &store(g)?, &state(g), cloud),
        Command::Serve { interval, clouds } => {
            deploy::serve(&mut store(g)?, &state(g), clouds, *interval)
        }
        Command::Destroy { cloud, purge } => deploy::destroy(p, &state(g), cloud, *purge),
        Command::Images(ImagesCommand::Build {
            file,
            components,
            no_progress,
        }) => deploy::images_build(p, file.as_deref(), components, *no_progress),
        Command::Images(ImagesCommand::Ls) => deploy::images_ls(p),
    }
}

fn store(g: &Global) -> Result<SqliteStore, OpsError> {
    let path = g
        .store
        .clone()
        .unwrap_or_else(ankyra_ops::default_store_path);
    ankyra_ops::open_store(&path)
}

fn state(g: &Global) -> std::path::PathBuf {
    let path = g
        .store
        .clone()
        .unwrap_or_else(ankyra_ops::default_store_path);
    ankyra_ops::state_dir(&path)
}

fn author(g: &Global) -> String {
    g.author
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}
