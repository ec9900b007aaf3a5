//! Command-line arguments. The doc comments are the help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Ankyra: deploy, upgrade and roll back containerized OpenStack, one component at a time.
#[derive(Debug, Parser)]
#[command(name = "ankyra", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The store: a SQLite file [default: <data dir>/ankyra/store.db], or a
    /// PostgreSQL URL (postgres://user@host/db) for a store shared by a team;
    /// its password goes in a file named by ANKYRA_STORE_PASSWORD_FILE, never
    /// in the URL.
    #[arg(long, global = true, env = "ANKYRA_STORE", value_name = "PATH|URL")]
    pub store: Option<String>,
    /// Where clouds' files (configs, clouds.yaml) live [default: beside a SQLite
    /// store, else <data dir>/ankyra].
    #[arg(long, global = true, env = "ANKYRA_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Who makes new revisions [default: $USER, else the account's name].
    #[arg(long, global = true, env = "ANKYRA_AUTHOR")]
    pub author: Option<String>,
    /// More logs on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never colour the output (NO_COLOR is respected too).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a complete, commented record with working defaults for one machine.
    Init {
        /// The cloud's name (lowercase letters, digits and -).
        #[arg(long)]
        name: String,
    },
    /// Check a record: syntax, unknown keys, versions, hosts.
    Validate {
        /// The record file (- for standard input).
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Print the JSON Schema of a record, for editors.
    Schema,
    /// Record a record file as the next revision of its cloud (nothing if unchanged).
    Commit {
        /// The record file (- for standard input).
        #[arg(short, long)]
        file: PathBuf,
        /// Why.
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// What would change, step by step, and why.
    Plan {
        /// Plan this record file against its cloud's latest revision.
        #[arg(short, long, conflicts_with = "cloud")]
        file: Option<PathBuf>,
        /// Plan this cloud's latest revision.
        #[arg(required_unless_present = "file")]
        cloud: Option<String>,
        /// Compare with this revision instead of what runs.
        #[arg(long, requires = "cloud")]
        from: Option<u64>,
        /// Compare with the latest recorded revision instead of what runs
        /// (no container engine needed).
        #[arg(long)]
        offline: bool,
    },
    /// New revision with components changed: keystone=30.0.0, keystone=IMAGE, keystone.replicas=2.
    Set {
        /// The cloud.
        cloud: String,
        /// COMPONENT=VERSION, COMPONENT=IMAGE:TAG or COMPONENT.replicas=N.
        #[arg(required = true)]
        assignments: Vec<String>,
        /// Why.
        #[arg(short, long)]
        message: Option<String>,
        /// Apply the new revision at once (only the changed components are replaced).
        #[arg(long)]
        apply: bool,
        /// No progress bars.
        #[arg(long)]
        no_progress: bool,
    },
    /// Every revision of a cloud.
    History {
        /// The cloud.
        cloud: String,
    },
    /// A revision's record (the latest by default).
    Show {
        /// The cloud.
        cloud: String,
        /// The revision number.
        revision: Option<u64>,
    },
    /// What changed between two revisions, component by component.
    Diff {
        /// The cloud.
        cloud: String,
        /// The older revision.
        a: u64,
        /// The newer revision.
        b: u64,
    },
    /// Deploy or converge a cloud from a record: records a revision, builds missing
    /// images, then changes only what the plan says.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["file", "cloud"])))]
    Apply {
        /// The record file (- for standard input).
        #[arg(short, long)]
        file: Option<PathBuf>,
        /// Apply this cloud's latest recorded revision (after `ankyra set`).
        cloud: Option<String>,
        /// Why.
        #[arg(short, long, default_value = "")]
        message: String,
        /// Go ahead with a change that cannot keep the running guests (the plan
        /// names it, e.g. removing nova-libvirt); asked on a terminal otherwise.
        #[arg(long)]
        yes: bool,
        /// No progress bars.
        #[arg(long)]
        no_progress: bool,
    },
    /// Move every OpenStack component to a release's newest known version (or the
    /// versions given) in one revision; infrastructure moves only when named.
    /// With --apply: a pre-flight check (health, nothing unfinalized, disk,
    /// images), then the apply in the catalog's order.
    Upgrade {
        /// The cloud.
        cloud: String,
        /// The release to move to (e.g. 2026.2).
        #[arg(long)]
        release: String,
        /// COMPONENT=VERSION to take instead of the release's newest (infrastructure
        /// components move only when named here).
        assignments: Vec<String>,
        /// Why.
        #[arg(short, long)]
        message: Option<String>,
        /// Check the cloud and apply the new revision at once.
        #[arg(long)]
        apply: bool,
        /// No progress lines.
        #[arg(long)]
        no_progress: bool,
    },
    /// Put one component, or the whole cloud, back as an earlier revision had it:
    /// a new revision, applied by the fastest safe path (a load-balancer switch
    /// inside the bake window). Without a component every component that differs
    /// goes back, in the reverse of the upgrade order.
    Rollback {
        /// The cloud.
        cloud: String,
        /// The component (keystone, glance, ...); none: the whole cloud.
        component: Option<String>,
        /// The revision to go back to (default: the last applied revision where
        /// the component, or the cloud, differed).
        #[arg(long)]
        to: Option<u64>,
        /// Past a finalized upgrade: restore the database snapshot taken before
        /// it. Everything written to that database since the snapshot is lost.
        #[arg(long)]
        restore_snapshot: bool,
        /// No progress bars.
        #[arg(long)]
        no_progress: bool,
    },
    /// Make an upgrade final: contract the database schema and remove the old
    /// instances kept for a rollback, for one component or (none named) every
    /// component with something pending, in the upgrade order. After this a
    /// rollback needs --restore-snapshot.
    Finalize {
        /// The cloud.
        cloud: String,
        /// The component; none: everything pending.
        component: Option<String>,
        /// No progress bars.
        #[arg(long)]
        no_progress: bool,
    },
    /// Remove a cloud's lock whoever holds it. Only for a holder that died on another
    /// machine (a dead holder on this machine is taken over by the next command): a
    /// holder that still runs keeps changing the cloud beside you.
    Unlock {
        /// The cloud.
        cloud: String,
    },
    /// Every component of a cloud: desired and running version, instances, health.
    Status {
        /// The cloud.
        cloud: String,
    },
    /// Keep every cloud in the store as its latest applied revision says:
    /// replace dead or removed containers, fix drift. Runs until stopped.
    Serve {
        /// Seconds between reconciliations.
        #[arg(long, default_value_t = 2)]
        interval: u64,
        /// Reconcile only these clouds (default: every applied cloud).
        #[arg(long = "cloud")]
        clouds: Vec<String>,
        /// Also answer a read-only HTTP API here (127.0.0.1:8787; port 0 picks
        /// a free one): GET /v1/health, /v1/clouds[?where=EXPR], /v1/fleet.
        /// Every request needs `Authorization: Bearer TOKEN`, TOKEN from the
        /// token file.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// The file holding the API's token, created (0600) with a random one
        /// when missing [default: <state dir>/serve-token].
        #[arg(long, value_name = "PATH", requires = "listen")]
        token_file: Option<PathBuf>,
    },
    /// Remove a cloud's containers and network (its data volumes only with --purge).
    Destroy {
        /// The cloud.
        cloud: String,
        /// Also remove the data volumes (database, keys, images): the data is gone.
        #[arg(long)]
        purge: bool,
    },
    /// Build and list the images records need.
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Every cloud in the store: find the ones that need a change and roll it out in waves.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// What Ankyra knows about services: components, versions, upgrade paths.
    Catalog {
        /// One service (keystone, nova, ...).
        service: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build what a record (or the given COMPONENT==VERSION list) needs and is missing.
    Build {
        /// Build what this record needs.
        #[arg(short, long)]
        file: Option<PathBuf>,
        /// COMPONENT==VERSION, e.g. keystone==29.1.0 (default release: the newest).
        components: Vec<String>,
        /// No progress bars.
        #[arg(long)]
        no_progress: bool,
    },
    /// List the images Ankyra built: version, size, ID.
    Ls,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// One row per cloud: labels, component versions (desired and running), health,
    /// components upgraded but not finalized.
    Ls {
        /// Only clouds matching EXPR: terms joined by `,` (and), e.g.
        /// 'keystone<30.0.1', 'keystone>=27,<30.0.1', 'region=eu-west'.
        #[arg(long = "where", value_name = "EXPR")]
        selector: Option<String>,
        /// Show these components (default: those the expression compares, else all).
        #[arg(long = "show", value_name = "COMPONENT")]
        show: Vec<String>,
    },
    /// Change components on every selected cloud, wave by wave: prints the plan, then
    /// (after confirmation or --yes) records one revision per cloud and applies them.
    /// The first cloud that fails halts the operation.
    Set {
        /// COMPONENT=VERSION (or COMPONENT=IMAGE:TAG).
        #[arg(required = true)]
        assignments: Vec<String>,
        /// Which clouds (see `fleet ls --where`).
        #[arg(long = "where", value_name = "EXPR", required = true)]
        selector: String,
        /// Cumulative wave targets: counts or percentages of the selected clouds,
        /// ending at 100% [default: 1,100% (one canary, then the rest)].
        #[arg(long)]
        waves: Option<String>,
        /// Clouds changed at the same time within a wave.
        #[arg(long, default_value_t = 1)]
        max_parallel: u32,
        /// Why.
        #[arg(short, long)]
        message: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
        /// No progress lines.
        #[arg(long)]
        no_progress: bool,
    },
    /// Fleet operations and the state of each of their clouds (newest first).
    Status {
        /// One operation.
        op: Option<u64>,
    },
    /// Continue a halted (or interrupted) fleet operation where it stopped.
    Resume {
        /// The operation.
        op: u64,
        /// No progress lines.
        #[arg(long)]
        no_progress: bool,
    },
    /// Return every cloud the operation touched to its earlier revision, non-destructively.
    Rollback {
        /// The operation.
        op: u64,
        /// No progress lines.
        #[arg(long)]
        no_progress: bool,
    },
}
