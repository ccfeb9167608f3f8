//! `ecs-autopilot`: capacity questions answered from the capacity table (no ECS calls), and
//! daemon-count's reconcile run from a laptop.
//!
//! Exit codes: 0 = done / fits, 1 = does not fit (`can-place`), 2 = error (bad arguments, AWS).

use std::fmt::Write as _;

use autopilot_aws::{AwsEcs, DynamoCapacityStore};
use autopilot_core::capacity::{
    cluster_capacity, live_instances, placement_hosts, ClusterCapacity, Record,
};
use autopilot_core::config::DaemonConfig;
use autopilot_core::daemon::{ClusterReport, DaemonReconciler};
use autopilot_core::store::CapacityStore;
use aws_config::SdkConfig;
use clap::{Args, Parser, Subcommand};
use ecs_cluster_query::placement::{self, Placement, TaskRequest};
use serde::Serialize;
use thiserror::Error;

pub const EXIT_OK: u8 = 0;
pub const EXIT_DOES_NOT_FIT: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

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
}

#[derive(Debug, Args)]
pub struct TableArgs {
    /// Cluster name or ARN.
    #[arg(long)]
    pub cluster: String,
    /// Capacity table name.
    #[arg(long, env = "CAPACITY_TABLE")]
    pub table: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// One row per host and the cluster totals.
    Show {
        #[command(flatten)]
        table: TableArgs,
    },
    /// Whether COUNT tasks fit now, host by host (ACTIVE hosts with a connected agent only).
    CanPlace {
        #[command(flatten)]
        table: TableArgs,
        /// CPU units per task (1024 = 1 vCPU).
        #[arg(long, default_value_t = 0)]
        cpu: i64,
        /// Memory per task, MiB.
        #[arg(long)]
        memory: i64,
        /// Static host ports per task, comma-separated.
        #[arg(long, value_delimiter = ',')]
        ports: Vec<u16>,
        /// Number of tasks.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Placement constraint, repeatable: `memberOf:EXPRESSION` or `distinctInstance`.
        #[arg(long = "constraint")]
        constraints: Vec<String>,
        /// Placement strategy, repeatable, applied in order: `binpack:cpu|memory`,
        /// `spread:instanceId|host|attribute:NAME`, `random`.
        #[arg(long = "strategy")]
        strategies: Vec<String>,
        /// Seed for the `random` strategy (same seed, same answer).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Task group of the tasks (e.g. `service:web`), for `distinctInstance` and `task:group`.
        #[arg(long)]
        group: Option<String>,
    },
    /// Create the capacity table (local set-ups and tests; deployments get it from template.yaml).
    CreateTable {
        /// Capacity table name.
        #[arg(long, env = "CAPACITY_TABLE")]
        table: String,
    },
    /// Hosts whose attributes match a cluster query language expression.
    Filter {
        #[command(flatten)]
        table: TableArgs,
        /// Expression, e.g. `attribute:ecs.instance-type =~ t3.*`.
        #[arg(long)]
        expression: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Reconcile the daemon services of one cluster now (reads ECS; writes unless --dry-run).
    /// Honours DAEMON_SERVICES like the function does.
    Reconcile {
        /// Cluster name or ARN.
        #[arg(long)]
        cluster: String,
        /// Decide and print, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] autopilot_core::store::StoreError),
    #[error(transparent)]
    Ecs(#[from] autopilot_core::ports::EcsError),
    #[error(transparent)]
    Config(#[from] autopilot_core::config::ConfigError),
}

/// Runs a parsed command; text for stdout goes to `out`. Returns the exit code.
pub async fn run(cli: Cli, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
    match cli.command {
        Command::Capacity(CapacityCommand::CreateTable { table }) => {
            DynamoCapacityStore::new(aws_sdk_dynamodb::Client::new(sdk), &table)
                .create_table()
                .await?;
            let _ = writeln!(out, "created capacity table {table}");
            Ok(EXIT_OK)
        }
        Command::Capacity(cmd) => {
            let t = match &cmd {
                CapacityCommand::CreateTable { .. } => {
                    return Err(CliError::Usage("create-table takes no cluster".into()))
                }
                CapacityCommand::Show { table }
                | CapacityCommand::CanPlace { table, .. }
                | CapacityCommand::Filter { table, .. } => table,
            };
            let store = DynamoCapacityStore::new(aws_sdk_dynamodb::Client::new(sdk), &t.table);
            let records = store.cluster_records(&t.cluster).await?;
            capacity(cmd, &records, out)
        }
        Command::Daemon(DaemonCommand::Reconcile {
            cluster,
            dry_run,
            json,
        }) => {
            let mut config = DaemonConfig::from_env()?;
            config.dry_run |= dry_run;
            let reconciler =
                DaemonReconciler::new(AwsEcs::new(aws_sdk_ecs::Client::new(sdk)), config);
            let report = reconciler.reconcile_cluster(&cluster).await?;
            if json {
                push_json(out, &report);
            } else {
                out.push_str(&render_daemon_report(&report));
            }
            Ok(EXIT_OK)
        }
    }
}

/// The capacity commands over records already read (pure: unit-tested without AWS).
pub fn capacity(
    cmd: CapacityCommand,
    records: &[Record],
    out: &mut String,
) -> Result<u8, CliError> {
    match cmd {
        CapacityCommand::CreateTable { .. } => {
            Err(CliError::Usage("create-table reads no records".into()))
        }
        CapacityCommand::Show { table } => {
            let cap = cluster_capacity(&table.cluster, records);
            if table.json {
                push_json(out, &cap);
            } else {
                out.push_str(&render_capacity(&cap));
            }
            Ok(EXIT_OK)
        }
        CapacityCommand::CanPlace {
            table,
            cpu,
            memory,
            ports,
            count,
            constraints,
            strategies,
            seed,
            group,
        } => {
            if cpu < 0 || memory <= 0 {
                return Err(CliError::Usage(
                    "--memory must be > 0 MiB and --cpu ≥ 0 units".into(),
                ));
            }
            if count == 0 {
                return Err(CliError::Usage("--count must be at least 1".into()));
            }
            let constraints = placement::parse_constraints(&constraints)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let strategies = placement::parse_strategies(&strategies, seed)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            placement::check_limits(&constraints, &strategies)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let hosts = placement_hosts(records);
            let request = TaskRequest {
                cpu,
                memory,
                ports,
                group,
            };
            let result = placement::place(&hosts, &request, count, &constraints, &strategies);
            let fits = result.unplaced == 0;
            if table.json {
                push_json(out, &CanPlaceJson::new(&result, count, records));
            } else {
                out.push_str(&render_placement(&result, count, &request, records));
            }
            Ok(if fits { EXIT_OK } else { EXIT_DOES_NOT_FIT })
        }
        CapacityCommand::Filter { table, expression } => {
            let expr = ecs_cluster_query::parse(&expression)
                .map_err(|e| CliError::Usage(format!("invalid expression: {e}")))?;
            let matching: Vec<&autopilot_core::capacity::InstanceRecord> = live_instances(records)
                .into_iter()
                .filter(|r| expr.evaluate(&r.instance))
                .collect();
            if table.json {
                #[derive(Serialize)]
                struct FilterJson<'a> {
                    expression: &'a str,
                    instances: Vec<&'a str>,
                    ec2_instance_ids: Vec<Option<&'a str>>,
                }
                push_json(
                    out,
                    &FilterJson {
                        expression: &expression,
                        instances: matching.iter().map(|r| r.instance.arn.as_str()).collect(),
                        ec2_instance_ids: matching
                            .iter()
                            .map(|r| r.instance.ec2_instance_id.as_deref())
                            .collect(),
                    },
                );
            } else {
                let _ = writeln!(out, "{} host(s) match {expression}", matching.len());
                for r in matching {
                    let _ = writeln!(
                        out,
                        "  {}  {}  {}",
                        r.instance.display_name(),
                        r.instance.status,
                        r.instance.arn
                    );
                }
            }
            Ok(EXIT_OK)
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CanPlaceJson {
    pub fits: bool,
    pub requested: usize,
    pub placed: usize,
    /// Container instance ARN of each placed task, in placement order.
    pub instances: Vec<String>,
    /// EC2 ids of the same hosts.
    pub ec2_instance_ids: Vec<Option<String>>,
    pub reason: Option<String>,
}

impl CanPlaceJson {
    fn new(p: &Placement, count: usize, records: &[Record]) -> Self {
        CanPlaceJson {
            fits: p.unplaced == 0,
            requested: count,
            placed: p.placed.len(),
            instances: p.placed.clone(),
            ec2_instance_ids: p.placed.iter().map(|arn| ec2_id(records, arn)).collect(),
            reason: p.reason.clone(),
        }
    }
}

fn ec2_id(records: &[Record], arn: &str) -> Option<String> {
    records.iter().find_map(|r| match r {
        Record::Instance(i) if i.instance.arn == arn => i.instance.ec2_instance_id.clone(),
        _ => None,
    })
}

fn push_json<T: Serialize>(out: &mut String, value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            out.push_str(&s);
            out.push('\n');
        }
        Err(e) => {
            let _ = writeln!(out, "{{\"error\": \"could not serialise output: {e}\"}}");
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

pub fn render_capacity(cap: &ClusterCapacity) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "cluster {}: {} host(s)", cap.cluster, cap.hosts.len());
    let _ = writeln!(
        s,
        "{:<21} {:<9} {:<5} {:>13} {:>15} {:>5}  {:<12} AZ",
        "INSTANCE", "STATUS", "AGENT", "CPU free/tot", "MEM MiB free/tot", "TASKS", "TYPE"
    );
    for h in &cap.hosts {
        let _ = writeln!(
            s,
            "{:<21} {:<9} {:<5} {:>13} {:>15} {:>5}  {:<12} {}",
            h.ec2_instance_id.as_deref().unwrap_or("-"),
            h.status,
            match h.agent_connected {
                Some(true) => "up",
                Some(false) => "down",
                None => "-",
            },
            format!("{}/{}", opt(h.remaining_cpu), opt(h.registered_cpu)),
            format!("{}/{}", opt(h.remaining_memory), opt(h.registered_memory)),
            opt(h.running_tasks),
            h.instance_type.as_deref().unwrap_or("-"),
            h.availability_zone.as_deref().unwrap_or("-"),
        );
    }
    let t = &cap.totals;
    let _ = writeln!(
        s,
        "totals: {} host(s), {} schedulable (ACTIVE, agent up); free on schedulable hosts: CPU {} of {}, memory {} of {} MiB; {} running task(s)",
        t.hosts, t.schedulable_hosts, t.remaining_cpu, t.registered_cpu, t.remaining_memory, t.registered_memory, t.running_tasks
    );
    s
}

pub fn render_placement(
    p: &Placement,
    count: usize,
    req: &TaskRequest,
    records: &[Record],
) -> String {
    let mut s = String::new();
    let what = format!("{count} task(s) of {} CPU / {} MiB", req.cpu, req.memory);
    if p.unplaced == 0 {
        let _ = writeln!(s, "fits: {what}");
    } else {
        let _ = writeln!(
            s,
            "does not fit: {what}: {} of {count} placed; {}",
            p.placed.len(),
            p.reason.as_deref().unwrap_or("no host fits")
        );
    }
    for (i, arn) in p.placed.iter().enumerate() {
        let _ = writeln!(
            s,
            "  task {}: {}  {}",
            i + 1,
            ec2_id(records, arn).unwrap_or_else(|| "-".into()),
            arn
        );
    }
    s
}

pub fn render_daemon_report(r: &ClusterReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "cluster {}", r.cluster);
    if r.services.is_empty() {
        let _ = writeln!(
            s,
            "  no daemon services (tag ecs-autopilot:daemon=true or set DAEMON_SERVICES)"
        );
    }
    for d in &r.services {
        let _ = writeln!(
            s,
            "  {:<20} {:<9} {} -> {}  eligible={}{}",
            d.service,
            format!("{:?}", d.action).to_lowercase(),
            opt(d.previous_desired),
            opt(d.new_desired),
            opt(d.eligible),
            d.reason
                .as_deref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default()
        );
        for (why, hosts) in [
            ("draining", &d.excluded.draining),
            ("not active", &d.excluded.not_active),
            ("disconnected", &d.excluded.disconnected),
            ("constraint", &d.excluded.constraint),
        ] {
            if !hosts.is_empty() {
                let _ = writeln!(s, "      excluded ({why}): {}", hosts.join(" "));
            }
        }
    }
    s
}
