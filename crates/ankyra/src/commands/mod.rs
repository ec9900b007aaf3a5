//! One module per verb: parse, call one ankyra-ops function, print.

mod catalog;
mod deploy;
mod fleet;
mod init;
mod plan;
mod revisions;
mod upgrade;

use ankyra_ops::OpsError;
use ankyra_store::Store;

use crate::args::{Cli, Command, FleetCommand, Global, ImagesCommand};
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
            revisions::commit(p, &mut *store(g)?, file, &author(g), message)
        }
        Command::Plan {
            file,
            cloud,
            from,
            offline,
        } => plan::plan(
            p,
            &mut *store(g)?,
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
                &mut *st,
                cloud,
                assignments,
                &author(g),
                message.as_deref(),
            )?;
            if *apply {
                deploy::apply_cloud(p, &mut *st, &state(g), cloud, false, *no_progress)?;
            }
            Ok(())
        }
        Command::Unlock { cloud } => revisions::unlock(p, &mut *store(g)?, cloud),
        Command::History { cloud } => revisions::history(p, &*store(g)?, cloud),
        Command::Show { cloud, revision } => revisions::show(p, &*store(g)?, cloud, *revision),
        Command::Diff { cloud, a, b } => revisions::diff(p, &*store(g)?, cloud, *a, *b),
        Command::Apply {
            file: Some(file),
            message,
            yes,
            no_progress,
            ..
        } => deploy::apply(
            p,
            &mut *store(g)?,
            &state(g),
            file,
            &author(g),
            message,
            *yes,
            *no_progress,
        ),
        Command::Apply {
            cloud,
            yes,
            no_progress,
            ..
        } => deploy::apply_cloud(
            p,
            &mut *store(g)?,
            &state(g),
            cloud.as_deref().unwrap_or_default(),
            *yes,
            *no_progress,
        ),
        Command::Upgrade {
            cloud,
            release,
            assignments,
            message,
            apply,
            no_progress,
        } => upgrade::upgrade(
            p,
            &mut *store(g)?,
            &state(g),
            upgrade::Args {
                cloud,
                release,
                assignments,
                author: &author(g),
                message: message.as_deref(),
                apply: *apply,
                no_progress: *no_progress,
            },
        ),
        Command::Rollback {
            cloud,
            component,
            to,
            restore_snapshot,
            no_progress,
        } => upgrade::rollback(
            p,
            &mut *store(g)?,
            &state(g),
            cloud,
            component.as_deref(),
            *to,
            *restore_snapshot,
            &author(g),
            *no_progress,
        ),
        Command::Finalize {
            cloud,
            component,
            no_progress,
        } => upgrade::finalize(
            p,
            &mut *store(g)?,
            &state(g),
            cloud,
            component.as_deref(),
            *no_progress,
        ),
        Command::Status { cloud } => deploy::status(p, &*store(g)?, &state(g), cloud),
        Command::Serve {
            interval,
            clouds,
            listen,
            token_file,
        } => {
            let http = listen.map(|listen| {
                let loc = location(g);
                deploy::HttpArgs {
                    listen,
                    token_file: token_file
                        .clone()
                        .unwrap_or_else(|| ankyra_ops::default_token_file(&state(g))),
                    open: std::sync::Arc::new(move || ankyra_ops::open_store(&loc)),
                }
            });
            deploy::serve(&mut *store(g)?, &state(g), clouds, *interval, http)
        }
        Command::Destroy { cloud, purge } => {
            deploy::destroy(p, &mut *store(g)?, &state(g), cloud, *purge)
        }
        Command::Images(ImagesCommand::Build {
            file,
            components,
            no_progress,
        }) => deploy::images_build(p, file.as_deref(), components, *no_progress),
        Command::Images(ImagesCommand::Ls) => deploy::images_ls(p),
        Command::Fleet(FleetCommand::Ls { selector, show }) => {
            fleet::ls(p, &*store(g)?, selector.as_deref(), show)
        }
        Command::Fleet(FleetCommand::Set {
            assignments,
            selector,
            waves,
            max_parallel,
            message,
            yes,
            dry_run,
            no_progress,
        }) => fleet::set(
            p,
            &opener(g),
            &state(g),
            &fleet::SetArgs {
                assignments,
                selector,
                waves: waves.as_deref(),
                max_parallel: *max_parallel,
                message: message.as_deref(),
                yes: *yes,
                dry_run: *dry_run,
                no_progress: *no_progress,
            },
            &author(g),
        ),
        Command::Fleet(FleetCommand::Status { op }) => fleet::status(p, &*store(g)?, *op),
        Command::Fleet(FleetCommand::Resume { op, no_progress }) => {
            fleet::resume(p, &opener(g), &state(g), *op, *no_progress)
        }
        Command::Fleet(FleetCommand::Rollback { op, no_progress }) => {
            fleet::rollback(p, &opener(g), &state(g), *op, &author(g), *no_progress)
        }
    }
}

/// Where the store is: `--store`/`ANKYRA_STORE`, else the default file.
fn location(g: &Global) -> String {
    g.store.clone().unwrap_or_else(|| {
        ankyra_ops::default_store_path()
            .to_string_lossy()
            .into_owned()
    })
}

fn store(g: &Global) -> Result<Box<dyn Store>, OpsError> {
    ankyra_ops::open_store(&location(g))
}

/// Opens a new store handle each call (a fleet changes clouds in parallel).
fn opener(g: &Global) -> impl Fn() -> Result<Box<dyn Store>, OpsError> + Sync {
    let loc = location(g);
    move || ankyra_ops::open_store(&loc)
}

/// Where clouds' files live: `--state-dir`/`ANKYRA_STATE_DIR`, else beside a
/// SQLite store, else (a PostgreSQL store) the default data folder.
fn state(g: &Global) -> std::path::PathBuf {
    if let Some(dir) = &g.state_dir {
        return dir.clone();
    }
    let loc = location(g);
    if ankyra_ops::is_postgres(&loc) {
        let default = ankyra_ops::default_store_path();
        return ankyra_ops::state_dir(&default);
    }
    ankyra_ops::state_dir(std::path::Path::new(&loc))
}

fn author(g: &Global) -> String {
    g.author
        .clone()
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".into())
}

/// The name of the account this process runs as, from /etc/passwd: a
/// minimal shell (root's under `su -c`, a container's) may set no $USER.
fn account_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd_name(&passwd, uid)
}

/// The name of `uid` in a passwd file's text.
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// Asks on the terminal; false when there is none to ask on.
pub(crate) fn confirm(question: &str) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_account_name_comes_from_the_uid_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nrey:x:1000:1000::/home/rey:/bin/sh\n";
        assert_eq!(super::passwd_name(passwd, 1000).as_deref(), Some("rey"));
        assert_eq!(super::passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(super::passwd_name(passwd, 7), None);
    }
}
