//! What running a plan can fail with.

use ankyra_runtime::DockerError;

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The container engine refused a call.
    #[error("container engine call failed")]
    Docker(#[from] DockerError),
    /// The store refused.
    #[error("store call failed")]
    Store(#[from] ankyra_store::StoreError),
    /// Images could not be built.
    #[error("building images failed")]
    Images(#[from] ankyra_images::ImageError),
    /// The plan could not be made.
    #[error("planning failed")]
    Plan(#[from] ankyra_plan::PlanError),
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A bootstrap job exited non-zero.
    #[error("{component}: bootstrap job `{job}` failed with exit code {code}\n--- last lines of its output ---\n{output}")]
    JobFailed {
        /// The component.
        component: String,
        /// The job.
        job: String,
        /// Its exit code.
        code: i64,
        /// The last lines it printed.
        output: String,
    },
    /// An instance never became ready.
    #[error("{component}: instance {container} was not ready after {seconds} s ({reason})\n--- last lines of its log ---\n{logs}")]
    NotReady {
        /// The component.
        component: String,
        /// The container.
        container: String,
        /// How long Ankyra waited.
        seconds: u64,
        /// The last probe failure.
        reason: String,
        /// The container's last log lines.
        logs: String,
    },
    /// A change that cannot keep the running guests, not confirmed.
    #[error(
        "{cloud}: this change cannot keep the {guests} running guest(s): {steps}. \
             Nothing was changed; to go ahead anyway, run it again with --yes"
    )]
    GuestsAtRisk {
        /// The cloud.
        cloud: String,
        /// Guests running now.
        guests: u32,
        /// The steps that stop them, and why.
        steps: String,
    },
    /// Guests still ran after libvirt was asked to power them off.
    #[error("{container}: could not power off its guests ({detail}); nothing was removed")]
    GuestsLeft {
        /// The libvirt container.
        container: String,
        /// What virsh said.
        detail: String,
    },
    /// The catalog cannot run a component yet.
    #[error("{component}: the catalog does not know how to run it")]
    NotRunnable {
        /// The component.
        component: String,
    },
    /// Keystone refused a registration call.
    #[error("registering {what} in keystone failed: {detail}")]
    Identity {
        /// What was being registered.
        what: String,
        /// The answer.
        detail: String,
    },
    /// No free subnet for a new cloud network.
    #[error("no free /24 left in 10.231.0.0/16 for a new cloud network")]
    NoSubnet,
    /// HAProxy's runtime API refused a command.
    #[error("HAProxy runtime API: `{command}` failed: {detail}")]
    LoadBalancer {
        /// The command.
        command: String,
        /// HAProxy's answer or the connection error.
        detail: String,
    },
    /// A new instance failed a gate; the old instances were put back.
    #[error("{component}: {gate} failed, the old instances serve again: {reason}")]
    GateFailed {
        /// The component.
        component: String,
        /// Which gate (health, smoke check, error rate).
        gate: String,
        /// What went wrong.
        reason: String,
    },
    /// A new worker instance never proved itself to its service (its
    /// heartbeat, its resource provider or a scheduling check); it was
    /// replaced stop-first, so nothing older serves instead.
    #[error("{component}: {check} failed for host {host}: {detail}")]
    ServiceGate {
        /// The component.
        component: String,
        /// The host the service knows the instance by.
        host: String,
        /// Which check (service list, resource provider, scheduling check).
        check: String,
        /// What the service said.
        detail: String,
    },
    /// A database snapshot could not be taken or restored.
    #[error("{component}: database snapshot failed: {detail}")]
    Snapshot {
        /// The component.
        component: String,
        /// Why.
        detail: String,
    },
    /// A rollback the schema no longer allows.
    #[error("{component}: cannot go back to {to}: {reason}")]
    Refused {
        /// The component.
        component: String,
        /// The version asked for.
        to: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The database volume has too little free space for a schema upgrade.
    #[error("{component}: disk full: the database volume {volume} has {free_mib} MiB free of {size_mib} MiB; \
             a schema upgrade of {component} asks for {need_mib} MiB free. {outcome} \
             Free space on that volume or grow it, then run `ankyra apply` again")]
    DiskFull {
        /// The component being upgraded.
        component: String,
        /// The volume (its name in the container engine).
        volume: String,
        /// Free space measured, in MiB.
        free_mib: u64,
        /// The volume's size, in MiB.
        size_mib: u64,
        /// What the upgrade asks for, in MiB.
        need_mib: u64,
        /// Where the upgrade stands.
        outcome: String,
    },
}
