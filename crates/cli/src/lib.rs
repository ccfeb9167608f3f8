//! `ecs-autopilot`: capacity questions answered from the capacity table (no ECS calls),
//! daemon-count's reconcile run from a laptop, and task-dispatcher's jobs (`jobs submit`, `list`,
//! `show`, `cancel`, and `explain`: the next dispatch as a dry run). One file per subcommand in
//! `commands`; the manual page is `docs/cli.md`.
//!
//! Exit codes: 0 = done / fits; 1 = does not fit (`can-place`); 2 = error: bad arguments, an AWS
//! error, a cluster with no items in the table (a wrong name, or the recorder has not run), or a
//! `daemon reconcile` in which a service could not be read or updated (the report is printed
//! first, the failure is named on stderr).

pub mod commands;
mod error;
pub mod render;

use aws_config::SdkConfig;
use clap::{Parser, Subcommand};

use commands::{
    can_place::CanPlace, capacity_filter::CapacityFilter, capacity_show::CapacityShow,
    create_table::CreateTable, daemon_reconcile::DaemonReconcile, jobs_cancel::JobsCancel,
    jobs_explain::JobsExplain, jobs_list::JobsList, jobs_show::JobsShow, jobs_submit::JobsSubmit,
};

pub use commands::can_place::MAX_COUNT;
pub use commands::daemon_reconcile::reconcile as daemon_reconcile;
pub use commands::TableArgs;
pub use error::{CliError, EXIT_DOES_NOT_FIT, EXIT_ERROR, EXIT_OK};

#[derive(Debug, Parser)]
#[command(
    name = "ecs-autopilot",
    version,
    about = "ECS capacity answers and daemon reconciles"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Questions answered from the capacity table (written by capacity-recorder).
    #[command(subcommand)]
    Capacity(CapacityCommand),
    /// daemon-count's decision, run from here.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// task-dispatcher's job queue.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Validate a job, store it QUEUED and wake the dispatcher through its queue (--queue-url).
    /// Every field a submission may have, and the RunTask fields it refuses, are in
    /// docs/submission.schema.json (JSON Schema).
    Submit(Box<JobsSubmit>),
    List(JobsList),
    Show(JobsShow),
    Cancel(JobsCancel),
    Explain(JobsExplain),
}

#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// One row per host and the cluster totals.
    Show(CapacityShow),
    /// Whether COUNT tasks fit now, host by host (ACTIVE hosts with a connected agent only).
    CanPlace(CanPlace),
    /// Create the capacity table (local set-ups and tests; deployments get it from template.yaml).
    CreateTable(CreateTable),
    /// Hosts that match a cluster query language expression: by default the schedulable ones
    /// (ACTIVE, agent connected), the hosts `can-place` and daemon-count consider. `task:group`
    /// sees the groups of the tasks the table records on each host.
    Filter(CapacityFilter),
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Reconcile the daemon services of one cluster now (reads ECS; writes unless --dry-run).
    /// Honours DAEMON_SERVICES like the function does.
    Reconcile(DaemonReconcile),
}

/// Runs a parsed command; text for stdout goes to `out`. Returns the exit code.
pub async fn run(cli: Cli, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
    match cli.command {
        Command::Capacity(CapacityCommand::Show(cmd)) => cmd.run(sdk, out).await,
        Command::Capacity(CapacityCommand::CanPlace(cmd)) => cmd.run(sdk, out).await,
        Command::Capacity(CapacityCommand::CreateTable(cmd)) => cmd.run(sdk, out).await,
        Command::Capacity(CapacityCommand::Filter(cmd)) => cmd.run(sdk, out).await,
        Command::Daemon(DaemonCommand::Reconcile(cmd)) => cmd.run(sdk, out).await,
        Command::Jobs(JobsCommand::Submit(cmd)) => cmd.run(sdk, out).await,
        Command::Jobs(JobsCommand::List(cmd)) => cmd.run(sdk, out).await,
        Command::Jobs(JobsCommand::Show(cmd)) => cmd.run(sdk, out).await,
        Command::Jobs(JobsCommand::Cancel(cmd)) => cmd.run(sdk, out).await,
        Command::Jobs(JobsCommand::Explain(cmd)) => cmd.run(sdk, out).await,
    }
}
