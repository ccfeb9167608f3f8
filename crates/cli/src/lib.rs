//! `ecs-autopilot`: capacity questions answered from the capacity table (no ECS calls),
//! daemon-count's reconcile run from a laptop, and task-dispatcher's jobs (`jobs submit`, `list`,
//! `show`, `cancel`, and `explain`: the next dispatch as a dry run). One file per subcommand in
//! `commands`; the manual page is `docs/cli.md`.
//!
//! Global options as the aws CLI has them (`--region`, `--profile`, `--endpoint-url`,
//! `--output json|table|text`, `--no-color`; precedence in [`config`]). Exit codes (the table
//! is in `error.rs`): 0 done / fits; 1 does not fit (`can-place`); 2 usage; 253 configuration
//! (no such table, unknown or gone cluster, no such job, no profile / region / credentials);
//! 254 an AWS error (its code in the message); 255 any other failure.

pub mod commands;
pub mod config;
mod error;
pub mod output;
pub mod progress;
pub mod render;
mod render_picture;

use aws_config::SdkConfig;
use clap::{CommandFactory, Parser, Subcommand};

use commands::{
    can_place::CanPlace, capacity_filter::CapacityFilter, capacity_show::CapacityShow,
    create_table::CreateTable, daemon_reconcile::DaemonReconcile, jobs_cancel::JobsCancel,
    jobs_explain::JobsExplain, jobs_list::JobsList, jobs_show::JobsShow, jobs_submit::JobsSubmit,
};

pub use commands::can_place::MAX_COUNT;
pub use commands::daemon_reconcile::reconcile as daemon_reconcile;
pub use commands::TableArgs;
pub use config::GlobalArgs;
pub use error::{
    aws_failure, short_message, AwsFailure, CliError, EXIT_AWS, EXIT_CONFIG, EXIT_DOES_NOT_FIT,
    EXIT_ERROR, EXIT_OK, EXIT_USAGE,
};
pub use output::{Format, Style};

const ABOUT_LONG: &str = "\
ECS capacity answers and daemon reconciles.

Capacity questions read the capacity table capacity-recorder keeps (no ECS call); `daemon
reconcile` and `jobs` run the functions' own logic from here. AWS settings come from the flags,
then the environment, then ~/.aws/config and ~/.aws/credentials, as in the aws CLI.

Exit codes: 0 done (fits), 1 does not fit, 2 usage, 253 configuration (no such table, cluster,
job, profile, region or credentials), 254 AWS error (its code in the message), 255 other.";

#[derive(Debug, Parser)]
#[command(
    name = "ecs-autopilot",
    version,
    about = "ECS capacity answers and daemon reconciles",
    long_about = ABOUT_LONG,
    after_long_help = "Example:\n  ecs-autopilot --profile prod --region eu-west-1 capacity show --cluster web"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
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
    /// task-dispatcher's job queue: submit, list, show, cancel, explain.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_long_help = "Example:\n  \
        ecs-autopilot completions bash > ~/.local/share/bash-completion/completions/ecs-autopilot\n  \
        ecs-autopilot completions zsh > \"${fpath[1]}/_ecs-autopilot\"\n  \
        ecs-autopilot completions fish > ~/.config/fish/completions/ecs-autopilot.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Validate a job, store it QUEUED and wake the dispatcher through its queue (--queue-url).
    ///
    /// Every field a submission may have, and the RunTask fields it refuses, are in
    /// docs/submission.schema.json (JSON Schema).
    #[command(
        after_long_help = "Example:\n  ecs-autopilot jobs submit --jobs-table jobs \
        --cluster batch --task-definition nightly-report --priority 5 --queue-url \"$QUEUE_URL\""
    )]
    Submit(Box<JobsSubmit>),
    /// List a cluster's jobs in queue order (one Query), optionally of one state.
    #[command(
        after_long_help = "Example:\n  ecs-autopilot jobs list --jobs-table jobs --cluster batch --state QUEUED"
    )]
    List(JobsList),
    /// Show one job: state, attempts, task, reason and its history with times (RFC 3339, UTC).
    #[command(
        after_long_help = "Example:\n  ecs-autopilot jobs show --jobs-table jobs nightly-0142"
    )]
    Show(JobsShow),
    /// Cancel a job (a conditional write; a running job's task is stopped first).
    #[command(
        after_long_help = "Example:\n  ecs-autopilot jobs cancel --jobs-table jobs nightly-0142"
    )]
    Cancel(JobsCancel),
    /// Dry-run the next dispatch: where each queued job would start, or why it waits.
    #[command(
        after_long_help = "Example:\n  ecs-autopilot jobs explain --jobs-table jobs --cluster batch --table capacity"
    )]
    Explain(JobsExplain),
}

#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// A picture of the cluster: per host a CPU and a memory bar (used of registered).
    ///
    /// DRAINING and disconnected hosts are marked; the cluster's largest free slot ends it.
    /// `--output json` prints the hosts and totals as before.
    #[command(
        after_long_help = "Example:\n  ecs-autopilot capacity show --table capacity --cluster web"
    )]
    Show(CapacityShow),
    /// Whether COUNT tasks fit now, host by host (ACTIVE hosts with a connected agent only).
    ///
    /// Exits 0 when they fit and 1 when they do not.
    #[command(
        after_long_help = "Example:\n  ecs-autopilot capacity can-place --cluster web \
        --memory 512 --cpu 256 --count 3 --constraint distinctInstance"
    )]
    CanPlace(CanPlace),
    /// Create the capacity table (local set-ups and tests; deployments get it from template.yaml).
    #[command(
        after_long_help = "Example:\n  ecs-autopilot --endpoint-url http://127.0.0.1:5000 capacity create-table --table capacity"
    )]
    CreateTable(CreateTable),
    /// Hosts that match a cluster query language expression.
    ///
    /// By default the schedulable ones (ACTIVE, agent connected), the hosts `can-place` and
    /// daemon-count consider. `task:group` sees the groups of the tasks the table records on
    /// each host.
    #[command(
        after_long_help = "Example:\n  ecs-autopilot capacity filter --cluster web \
        --expression 'attribute:ecs.instance-type =~ t3.*'"
    )]
    Filter(CapacityFilter),
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Reconcile the daemon services of one cluster now (reads ECS; writes unless --dry-run).
    ///
    /// Honours DAEMON_SERVICES like the function does.
    #[command(
        after_long_help = "Example:\n  ecs-autopilot daemon reconcile --cluster web --dry-run"
    )]
    Reconcile(DaemonReconcile),
}

/// Runs a parsed command; text for stdout goes to `out`. Returns the exit code. The output
/// style comes from the global options and the terminal ([`Style::detect`]).
pub async fn run(cli: Cli, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
    let style = Style::detect(
        cli.global.output,
        cli.global.no_color,
        autopilot_core::clock::unix_now(),
    );
    run_styled(cli.command, sdk, style, out).await
}

/// [`run`] with the output style given.
async fn run_styled(
    command: Command,
    sdk: &SdkConfig,
    style: Style,
    out: &mut String,
) -> Result<u8, CliError> {
    match command {
        Command::Capacity(CapacityCommand::Show(mut cmd)) => {
            cmd.table.style = style;
            cmd.run(sdk, out).await
        }
        Command::Capacity(CapacityCommand::CanPlace(mut cmd)) => {
            cmd.table.style = style;
            cmd.run(sdk, out).await
        }
        Command::Capacity(CapacityCommand::CreateTable(cmd)) => cmd.run(sdk, out).await,
        Command::Capacity(CapacityCommand::Filter(mut cmd)) => {
            cmd.table.style = style;
            cmd.run(sdk, out).await
        }
        Command::Daemon(DaemonCommand::Reconcile(mut cmd)) => {
            cmd.style = style;
            cmd.run(sdk, out).await
        }
        Command::Jobs(JobsCommand::Submit(mut cmd)) => {
            cmd.jobs.style = style;
            cmd.run(sdk, out).await
        }
        Command::Jobs(JobsCommand::List(mut cmd)) => {
            cmd.jobs.style = style;
            cmd.run(sdk, out).await
        }
        Command::Jobs(JobsCommand::Show(mut cmd)) => {
            cmd.jobs.style = style;
            cmd.run(sdk, out).await
        }
        Command::Jobs(JobsCommand::Cancel(mut cmd)) => {
            cmd.jobs.style = style;
            cmd.run(sdk, out).await
        }
        Command::Jobs(JobsCommand::Explain(mut cmd)) => {
            cmd.jobs.style = style;
            cmd.run(sdk, out).await
        }
        Command::Completions { shell } => {
            out.push_str(&completions(shell));
            Ok(EXIT_OK)
        }
    }
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ecs-autopilot", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand has a one-line description, a long help with an example, and every flag
    /// a description.
    #[test]
    fn every_subcommand_and_flag_is_described() {
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                assert!(sub.get_about().is_some(), "{name} has no description");
                if sub.get_subcommands().next().is_none() {
                    let long = sub.get_after_long_help().map(|h| h.to_string());
                    assert!(
                        long.is_some_and(|h| h.contains("Example")),
                        "{name} has no example"
                    );
                    for arg in sub.get_arguments() {
                        let id = arg.get_id().as_str();
                        if id == "help" || id == "version" {
                            continue;
                        }
                        assert!(arg.get_help().is_some(), "{name} --{id} has no description");
                    }
                }
                walk(sub, &name);
            }
        }
        Cli::command().debug_assert();
        walk(&Cli::command(), "ecs-autopilot");
    }
}
