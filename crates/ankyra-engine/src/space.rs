//! Free space on the database volume around a schema upgrade. A migration that
//! runs out of disk half way leaves a schema neither version was written for,
//! so Ankyra measures before the snapshot and again right before the schema
//! jobs, and stops while nothing has changed; a job that still fails for lack
//! of space is reported as a full disk, not as a crashed job.

use ankyra_catalog::services::mariadb::{self, Space};
use ankyra_catalog::Catalog;

use crate::engine::{Engine, Prepared};
use crate::report::Event;
use crate::{naming, observe, EngineError};

/// Never ask for less: InnoDB's logs and temporary files grow during an ALTER.
const MIN_FREE_KIB: u64 = 64 * 1024;

/// Free space a schema upgrade of databases taking `databases_kib` asks for: an
/// `ALTER TABLE … COPY` rebuilds a table beside the old one, so as much again
/// as the databases take, and never less than MIN_FREE_KIB.
pub fn needed_kib(databases_kib: u64) -> u64 {
    databases_kib.max(MIN_FREE_KIB)
}

/// The first line of a job's output that says the disk (or a table on it) is
/// full: the kernel's ENOSPC as Python and MariaDB print it, and MariaDB's own
/// "table is full" (1114) and "disk full" (1021) errors.
pub fn no_space_line(output: &str) -> Option<&str> {
    const MARKERS: &[&str] = &[
        "no space left on device",
        "errcode: 28",
        "errno: 28",
        "errno 28",
        "' is full",
        "disk full",
        "disk got full",
    ];
    output.lines().find(|line| {
        let line = line.to_lowercase();
        MARKERS.iter().any(|m| line.contains(m))
    })
}

/// Where the upgrade stands when the volume is found short before its jobs.
const STOPPED_BEFORE: &str = "The upgrade stopped before its schema jobs: the schema is unchanged and the old version still serves.";
/// Where it stands when a schema job failed writing (after the job and its line).
const FAILED_WRITING: &str = "The old version still serves, on what the expand put in place (the old code runs on an expanded schema).";

fn mib(kib: u64) -> u64 {
    kib.div_ceil(1024)
}

impl Engine {
    /// Measures the database volume as the mariadb container sees it; None
    /// when the cloud has no running mariadb or the reading failed (said as
    /// progress: a reading is a guard, not a gate of its own).
    pub(crate) async fn database_space(
        &self,
        cloud: &str,
        component: &str,
        databases: &[&str],
    ) -> Option<Space> {
        let running = observe::containers(&self.docker, cloud).await.ok()?;
        let db = running
            .get(mariadb::COMPONENT)?
            .iter()
            .find(|c| c.is_running())?;
        let note = |detail: String| {
            self.reporter.event(Event::Progress {
                component: component.into(),
                message: format!(
                    "could not measure free space on the database volume ({detail}); going on"
                ),
            })
        };
        match self
            .docker
            .exec(&db.name, &mariadb::space_command(databases))
            .await
        {
            Ok((0, out)) => {
                let space = mariadb::parse_space(&out);
                if space.is_none() {
                    note(format!("unexpected answer: {}", out.trim()));
                }
                space
            }
            Ok((code, out)) => {
                note(format!("exit code {code}: {}", out.trim()));
                None
            }
            Err(e) => {
                note(e.to_string());
                None
            }
        }
    }

    /// Refuses a schema upgrade of `component` while the database volume has
    /// less free space than it asks for (`needed_kib`).
    pub(crate) async fn check_schema_space(
        &self,
        p: &Prepared,
        component: &str,
    ) -> Result<(), EngineError> {
        match self.measure(p, component).await {
            Some(space) if space.free_kib < needed_kib(space.databases_kib) => {
                Err(self.disk_full(p, component, space, STOPPED_BEFORE))
            }
            _ => Ok(()),
        }
    }

    /// A schema job's failure, told as a full disk (with what the volume
    /// holds now) when its output says the disk was full: the job's word
    /// stands even when the failed write gave back what it took.
    pub(crate) async fn explain_job_failure(
        &self,
        p: &Prepared,
        component: &str,
        e: EngineError,
    ) -> EngineError {
        let EngineError::JobFailed { job, output, .. } = &e else {
            return e;
        };
        let Some(line) = no_space_line(output) else {
            return e;
        };
        let outcome = format!("`{job}` failed writing ({}). {FAILED_WRITING}", line.trim());
        match self.measure(p, component).await {
            Some(space) => self.disk_full(p, component, space, &outcome),
            None => e,
        }
    }

    async fn measure(&self, p: &Prepared, component: &str) -> Option<Space> {
        let (_, svc) = Catalog::get().component(component).ok()?;
        if svc.databases().is_empty() {
            return None;
        }
        let space = self
            .database_space(&p.cloud, component, svc.databases())
            .await?;
        self.reporter.event(Event::Progress {
            component: component.into(),
            message: format!(
                "database volume: {} MiB free of {} MiB, its databases take {} MiB",
                space.free_kib / 1024,
                mib(space.size_kib),
                mib(space.databases_kib)
            ),
        });
        Some(space)
    }

    fn disk_full(&self, p: &Prepared, component: &str, space: Space, outcome: &str) -> EngineError {
        EngineError::DiskFull {
            component: component.into(),
            volume: naming::volume(&p.cloud, mariadb::DATA_VOLUME),
            free_mib: space.free_kib / 1024,
            size_mib: mib(space.size_kib),
            need_mib: mib(needed_kib(space.databases_kib)),
            outcome: outcome.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_database_asks_for_the_floor_a_big_one_for_its_own_size() {
        assert_eq!(needed_kib(0), MIN_FREE_KIB);
        assert_eq!(needed_kib(10 * 1024), MIN_FREE_KIB);
        assert_eq!(needed_kib(5 * 1024 * 1024), 5 * 1024 * 1024);
    }

    #[test]
    fn full_disks_are_recognised_as_mariadb_and_python_print_them() {
        for out in [
            "ERROR 3 (HY000): Error writing file './keystone/revocation_event.frm' (Errcode: 28 \"No space left on device\")",
            "oslo_db.exception.DBError: (pymysql.err.OperationalError) (1114, \"The table 'revocation_event' is full\")",
            "(1021, 'Disk full (/tmp/#sql-1.MAI); waiting for someone to free some space...')",
            "OSError: [Errno 28] No space left on device: '/var/lib/ankyra-snapshot/dump.sql'",
            "mariadb-dump: Got errno 28 on write",
            "Can't create table `keystone`.`x` (errno: 28 \"No space left on device\")",
        ] {
            assert_eq!(no_space_line(out), Some(out), "not recognised");
        }
    }

    #[test]
    fn the_line_that_says_so_is_picked_out_of_a_traceback() {
        let out = "Traceback (most recent call last):\n  File \"alembic/op.py\"\n\
                   oslo_db.exception.DBError: (pymysql.err.OperationalError) (3, \"Error writing file './keystone/#sql-alter-1-8.frm' (Errcode: 28 \\\"No space left on device\\\")\")\n\
                   [SQL: CREATE INDEX ix_x ON revocation_event (revoked_at)]\n";
        let line = no_space_line(out).expect("recognised");
        assert!(line.starts_with("oslo_db.exception.DBError"), "{line}");
    }

    #[test]
    fn other_failures_are_not_a_full_disk() {
        for out in [
            "(2003, \"Can't connect to MySQL server on 'mariadb' ([Errno 111] Connection refused)\")",
            "sqlalchemy.exc.OperationalError: (1050, \"Table 'project_tag' already exists\")",
            "Killed",
            "",
        ] {
            assert_eq!(no_space_line(out), None, "taken for a full disk");
        }
    }
}
