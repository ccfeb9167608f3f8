//! `ecs-autopilot`: capacity questions answered from the capacity table (no ECS calls), and
//! daemon-count's reconcile run from a laptop.
//!
//! Exit codes: 0 = done / fits; 1 = does not fit (`can-place`); 2 = error: bad arguments, an AWS
//! error, a cluster with no items in the table (a wrong name, or the recorder has not run), or a
//! `daemon reconcile` in which a service could not be read or updated (the report is printed
//! first, the failure is named on stderr).

use std::fmt::Write as _;

use autopilot_aws::{AwsEcs, DynamoCapacityStore};
use autopilot_core::capacity::{
    cluster_capacity, no_schedulable_host_reason, placement_hosts, query_hosts, ClusterCapacity,
    HostSelection, Record,
};
use autopilot_core::config::DaemonConfig;
use autopilot_core::daemon::{Action, ClusterReport, DaemonReconciler};
use autopilot_core::ports::EcsPort;
use autopilot_core::store::CapacityStore;
use aws_config::SdkConfig;
use clap::{Args, Parser, Subcommand};
use ecs_cluster_query::placement::{self, Placement, TaskRequest};
use serde::Serialize;
use thiserror::Error;

pub const EXIT_OK: u8 = 0;
pub const EXIT_DOES_NOT_FIT: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// The most tasks `can-place --count` simulates. ECS's RunTask places at most 10 per call; a
/// larger count answers "would N more fit?" for capacity planning, and this bound keeps the
/// simulation's time and memory small (each task is placed one at a time over every host).
pub const MAX_COUNT: usize = 10_000;

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
        /// Number of tasks, 1 to 10000.
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
    /// Hosts that match a cluster query language expression: by default the schedulable ones
    /// (ACTIVE, agent connected), the hosts `can-place` and daemon-count consider. `task:group`
    /// sees the groups of the tasks the table records on each host.
    Filter {
        #[command(flatten)]
        table: TableArgs,
        /// Expression, e.g. `attribute:ecs.instance-type =~ t3.*`.
        #[arg(long)]
        expression: String,
        /// Also match DRAINING, disconnected and other non-schedulable hosts.
        #[arg(long)]
        all_statuses: bool,
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
    #[error(
        "cluster {cluster} has no hosts in table {table} (wrong name, or the recorder has not run)"
    )]
    UnknownCluster { cluster: String, table: String },
    #[error("daemon reconcile of {cluster}: {} service(s) failed: {}", .failed.len(), .failed.join("; "))]
    ServicesFailed {
        cluster: String,
        failed: Vec<String>,
    },
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
            // Arguments first: a bad request fails before any AWS call.
            validate(&cmd)?;
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
            daemon_reconcile(&reconciler, &cluster, json, out).await
        }
    }
}

/// `daemon reconcile` over any ECS adapter: prints the report, then fails (exit 2) when a
/// service could not be read or updated, naming each one — a reconcile that did not happen must
/// not look like one that did.
pub async fn daemon_reconcile<E: EcsPort>(
    reconciler: &DaemonReconciler<E>,
    cluster: &str,
    json: bool,
    out: &mut String,
) -> Result<u8, CliError> {
    let report = reconciler.reconcile_cluster(cluster).await?;
    if json {
        push_json(out, &report);
    } else {
        out.push_str(&render_daemon_report(&report));
    }
    let failed: Vec<String> = report
        .services
        .iter()
        .filter(|d| d.action == Action::Failed)
        .map(|d| format!("{}: {}", d.service, d.reason.as_deref().unwrap_or("failed")))
        .collect();
    if failed.is_empty() {
        Ok(EXIT_OK)
    } else {
        Err(CliError::ServicesFailed {
            cluster: cluster.to_string(),
            failed,
        })
    }
}

/// Checks a capacity command's arguments (no records needed).
pub fn validate(cmd: &CapacityCommand) -> Result<(), CliError> {
    match cmd {
        CapacityCommand::CanPlace {
            cpu,
            memory,
            count,
            constraints,
            strategies,
            seed,
            ..
        } => {
            if *cpu < 0 || *memory <= 0 {
                return Err(CliError::Usage(
                    "--memory must be > 0 MiB and --cpu ≥ 0 units".into(),
                ));
            }
            if *count == 0 || *count > MAX_COUNT {
                return Err(CliError::Usage(format!(
                    "--count must be between 1 and {MAX_COUNT} (got {count})"
                )));
            }
            let constraints = placement::parse_constraints(constraints)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let strategies = placement::parse_strategies(strategies, *seed)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            placement::check_limits(&constraints, &strategies)
                .map_err(|e| CliError::Usage(e.to_string()))
        }
        CapacityCommand::Filter { expression, .. } => ecs_cluster_query::parse(expression)
            .map(|_| ())
            .map_err(|e| CliError::Usage(format!("invalid expression: {e}"))),
        CapacityCommand::Show { .. } | CapacityCommand::CreateTable { .. } => Ok(()),
    }
}

/// The capacity commands over records already read (pure: unit-tested without AWS).
pub fn capacity(
    cmd: CapacityCommand,
    records: &[Record],
    out: &mut String,
) -> Result<u8, CliError> {
    validate(&cmd)?;
    if let CapacityCommand::Show { table }
    | CapacityCommand::CanPlace { table, .. }
    | CapacityCommand::Filter { table, .. } = &cmd
    {
        if records.is_empty() {
            return Err(CliError::UnknownCluster {
                cluster: table.cluster.clone(),
                table: table.table.clone(),
            });
        }
    }
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
            let constraints = placement::parse_constraints(&constraints)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let strategies = placement::parse_strategies(&strategies, seed)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let request = TaskRequest {
                cpu,
                memory,
                ports,
                group,
            };
            let result = match no_schedulable_host_reason(records) {
                // Say what the hosts are instead of "no hosts".
                Some(reason) => Placement {
                    placed: Vec::new(),
                    unplaced: count,
                    reason: Some(reason),
                },
                None => placement::place(
                    &placement_hosts(records),
                    &request,
                    count,
                    &constraints,
                    &strategies,
                ),
            };
            let fits = result.unplaced == 0;
            if table.json {
                push_json(out, &CanPlaceJson::new(&result, count, records));
            } else {
                out.push_str(&render_placement(&result, count, &request, records));
            }
            Ok(if fits { EXIT_OK } else { EXIT_DOES_NOT_FIT })
        }
        CapacityCommand::Filter {
            table,
            expression,
            all_statuses,
        } => {
            let expr = ecs_cluster_query::parse(&expression)
                .map_err(|e| CliError::Usage(format!("invalid expression: {e}")))?;
            let selection = if all_statuses {
                HostSelection::AllLive
            } else {
                HostSelection::Schedulable
            };
            // The same host view as can-place: task groups included.
            let matching: Vec<_> = query_hosts(records, selection)
                .into_iter()
                .filter(|q| expr.evaluate(&q.host))
                .collect();
            if table.json {
                #[derive(Serialize)]
                struct FilterJson<'a> {
                    expression: &'a str,
                    /// `schedulable` (default) or `all`.
                    hosts: &'a str,
                    instances: Vec<&'a str>,
                    ec2_instance_ids: Vec<Option<&'a str>>,
                }
                push_json(
                    out,
                    &FilterJson {
                        expression: &expression,
                        hosts: if all_statuses { "all" } else { "schedulable" },
                        instances: matching
                            .iter()
                            .map(|q| q.record.instance.arn.as_str())
                            .collect(),
                        ec2_instance_ids: matching
                            .iter()
                            .map(|q| q.record.instance.ec2_instance_id.as_deref())
                            .collect(),
                    },
                );
            } else {
                let _ = writeln!(
                    out,
                    "{}{} host(s) match {expression}",
                    matching.len(),
                    if all_statuses { "" } else { " schedulable" }
                );
                for q in matching {
                    let ci = &q.record.instance;
                    let _ = writeln!(
                        out,
                        "  {}  {}  {}",
                        ci.display_name(),
                        if ci.status == autopilot_core::model::InstanceStatus::Active
                            && ci.agent_connected != Some(true)
                        {
                            "ACTIVE (agent disconnected)".to_string()
                        } else {
                            ci.status.to_string()
                        },
                        ci.arn
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

#[cfg(test)]
mod tests {
    use super::*;
    use autopilot_core::capacity::{instance_to_record, TaskRecord};
    use autopilot_core::memory::InMemoryEcs;
    use autopilot_core::model::{
        Attribute, ContainerInstance, InstanceStatus, Resources, Service, TaskDefinition,
    };
    use autopilot_core::ports::EcsError;

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";

    fn host(i: usize, status: InstanceStatus, connected: bool) -> ContainerInstance {
        let mut ci = ContainerInstance::new(
            format!("arn:aws:ecs:us-east-1:1:container-instance/prod/h{i}"),
            status,
        );
        ci.ec2_instance_id = Some(format!("i-{i}"));
        ci.agent_connected = Some(connected);
        ci.attributes = vec![Attribute {
            name: "ecs.instance-type".into(),
            value: Some("t3.large".into()),
        }];
        ci.remaining = Resources {
            cpu: Some(1024),
            memory: Some(1024),
            ..Resources::default()
        };
        ci
    }

    fn task(i: usize, on: usize, group: &str) -> Record {
        Record::Task(TaskRecord {
            cluster_arn: CLUSTER.into(),
            task_arn: format!("arn:aws:ecs:us-east-1:1:task/prod/t{i}"),
            container_instance_arn: Some(format!(
                "arn:aws:ecs:us-east-1:1:container-instance/prod/h{on}"
            )),
            group: Some(group.into()),
            started_by: None,
            last_status: Some("RUNNING".into()),
            desired_status: Some("RUNNING".into()),
            cpu: None,
            memory: None,
            launch_type: Some("EC2".into()),
            version: Some(1),
            updated_at: None,
            tombstone: false,
            expires_at: None,
        })
    }

    fn table(json: bool) -> TableArgs {
        TableArgs {
            cluster: "prod".into(),
            table: "capacity".into(),
            json,
        }
    }

    fn filter(expression: &str, all_statuses: bool) -> CapacityCommand {
        CapacityCommand::Filter {
            table: table(true),
            expression: expression.into(),
            all_statuses,
        }
    }

    fn can_place(count: usize) -> CapacityCommand {
        CapacityCommand::CanPlace {
            table: table(true),
            cpu: 0,
            memory: 64,
            ports: vec![],
            count,
            constraints: vec![],
            strategies: vec![],
            seed: 0,
            group: None,
        }
    }

    fn instances(out: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(out).expect("JSON");
        v["instances"]
            .as_array()
            .expect("instances")
            .iter()
            .map(|a| {
                a.as_str()
                    .expect("arn")
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    /// h0 ACTIVE runs service:web, h1 ACTIVE runs service:db, h2 DRAINING runs service:web,
    /// h3 ACTIVE but disconnected.
    fn records() -> Vec<Record> {
        vec![
            instance_to_record(CLUSTER, host(0, InstanceStatus::Active, true), None, 0),
            instance_to_record(CLUSTER, host(1, InstanceStatus::Active, true), None, 0),
            instance_to_record(CLUSTER, host(2, InstanceStatus::Draining, true), None, 0),
            instance_to_record(CLUSTER, host(3, InstanceStatus::Active, false), None, 0),
            task(1, 0, "service:web"),
            task(2, 1, "service:db"),
            task(3, 2, "service:web"),
        ]
    }

    #[test]
    fn filter_sees_task_groups_and_only_schedulable_hosts_by_default() {
        let mut out = String::new();
        capacity(
            filter("task:group == service:web", false),
            &records(),
            &mut out,
        )
        .expect("filter");
        assert_eq!(instances(&out), ["h0"], "{out}");

        let mut out = String::new();
        capacity(
            filter("task:group == service:web", true),
            &records(),
            &mut out,
        )
        .expect("filter");
        assert_eq!(instances(&out), ["h0", "h2"], "{out}");

        let mut out = String::new();
        capacity(
            filter("attribute:ecs.instance-type == t3.large", false),
            &records(),
            &mut out,
        )
        .expect("filter");
        assert_eq!(instances(&out), ["h0", "h1"], "{out}");
        let mut out = String::new();
        capacity(
            filter("attribute:ecs.instance-type == t3.large", true),
            &records(),
            &mut out,
        )
        .expect("filter");
        assert_eq!(instances(&out), ["h0", "h1", "h2", "h3"], "{out}");
    }

    #[test]
    fn filter_and_can_place_agree_on_a_task_group_expression() {
        let expr = "not(task:group == service:web)";
        let mut out = String::new();
        capacity(filter(expr, false), &records(), &mut out).expect("filter");
        let filtered = instances(&out);
        assert_eq!(filtered, ["h1"], "{out}");
        let placed = |count: usize| {
            let CapacityCommand::CanPlace {
                table,
                cpu,
                memory,
                ports,
                strategies,
                seed,
                group,
                ..
            } = can_place(count)
            else {
                unreachable!()
            };
            let mut out = String::new();
            let code = capacity(
                CapacityCommand::CanPlace {
                    table,
                    cpu,
                    memory,
                    ports,
                    count,
                    constraints: vec![format!("memberOf:{expr}"), "distinctInstance".into()],
                    strategies,
                    seed,
                    group,
                },
                &records(),
                &mut out,
            )
            .expect("can-place");
            (code, instances(&out))
        };
        let (code, hosts) = placed(filtered.len());
        assert_eq!(code, EXIT_OK);
        assert_eq!(hosts, filtered);
        assert_eq!(placed(filtered.len() + 1).0, EXIT_DOES_NOT_FIT);
    }

    #[test]
    fn can_place_rejects_counts_above_the_maximum_without_placing() {
        for count in [0, MAX_COUNT + 1, usize::MAX] {
            let err = capacity(can_place(count), &records(), &mut String::new())
                .expect_err("out of range");
            assert!(
                err.to_string()
                    .contains("--count must be between 1 and 10000"),
                "{err}"
            );
        }
        // The maximum itself is simulated (and, on 2 hosts, does not fit).
        let mut out = String::new();
        assert_eq!(
            capacity(can_place(MAX_COUNT), &records(), &mut out).expect("runs"),
            EXIT_DOES_NOT_FIT
        );
    }

    #[test]
    fn a_cluster_without_items_is_an_error_and_one_without_schedulable_hosts_says_why() {
        let err = capacity(can_place(1), &[], &mut String::new()).expect_err("no items");
        assert_eq!(
            err.to_string(),
            "cluster prod has no hosts in table capacity (wrong name, or the recorder has not run)"
        );
        assert!(matches!(
            capacity(
                filter("attribute:ecs.instance-type exists", false),
                &[],
                &mut String::new()
            ),
            Err(CliError::UnknownCluster { .. })
        ));

        let unschedulable: Vec<Record> = records()
            .into_iter()
            .filter(|r| !matches!(r, Record::Instance(i) if i.instance.arn.ends_with("/h0") || i.instance.arn.ends_with("/h1")))
            .collect();
        let mut out = String::new();
        assert_eq!(
            capacity(can_place(1), &unschedulable, &mut out).expect("answers"),
            EXIT_DOES_NOT_FIT
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(
            v["reason"],
            serde_json::json!("no ACTIVE connected host: 1 DRAINING, 1 disconnected")
        );
    }

    const TASK_DEFINITION: &str = "arn:aws:ecs:us-east-1:1:task-definition/agent:1";

    fn daemon_ecs() -> InMemoryEcs {
        let ecs = InMemoryEcs::new();
        ecs.add_instance(CLUSTER, host(0, InstanceStatus::Active, true));
        ecs.add_service(CLUSTER, daemon_service());
        ecs.add_task_definition(TaskDefinition {
            arn: TASK_DEFINITION.into(),
            placement_constraints: vec![],
        });
        ecs
    }

    fn daemon_service() -> Service {
        Service {
            arn: "arn:aws:ecs:us-east-1:1:service/prod/agent".into(),
            name: "agent".into(),
            cluster_arn: Some(CLUSTER.into()),
            status: "ACTIVE".into(),
            scheduling_strategy: autopilot_core::model::SchedulingStrategy::Replica,
            desired_count: 0,
            task_definition: Some(TASK_DEFINITION.into()),
            placement_constraints: vec![],
            tags: [("ecs-autopilot:daemon".to_string(), "true".to_string())].into(),
        }
    }

    #[tokio::test]
    async fn daemon_reconcile_fails_when_update_service_fails() {
        let ecs = daemon_ecs();
        ecs.fail(
            "UpdateService",
            EcsError::Api {
                operation: "UpdateService",
                message: "AccessDenied".into(),
            },
        );
        let reconciler = DaemonReconciler::new(ecs, DaemonConfig::default());
        let mut out = String::new();
        let err = daemon_reconcile(&reconciler, "prod", false, &mut out)
            .await
            .expect_err("a failed service fails the command");
        let msg = err.to_string();
        assert!(
            msg.contains("1 service(s) failed")
                && msg.contains("agent: ECS UpdateService failed: AccessDenied"),
            "{msg}"
        );
        assert!(
            out.contains("agent") && out.contains("failed"),
            "the report is printed: {out}"
        );

        // The same service, UpdateService working: exit 0.
        let reconciler = DaemonReconciler::new(daemon_ecs(), DaemonConfig::default());
        let code = daemon_reconcile(&reconciler, "prod", true, &mut String::new())
            .await
            .expect("reconciles");
        assert_eq!(code, EXIT_OK);
        assert_eq!(reconciler.ecs().desired_count(CLUSTER, "agent"), Some(1));
    }
}
