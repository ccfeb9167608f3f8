//! The subcommands, one module each (an `Args` struct and its `run`), and the flags the capacity
//! questions share.

pub mod can_place;
pub mod capacity_filter;
pub mod capacity_show;
pub mod create_table;
pub mod daemon_reconcile;
pub mod jobs_cancel;
pub mod jobs_explain;
pub mod jobs_list;
pub mod jobs_show;
pub mod jobs_submit;
#[cfg(test)]
pub(crate) mod test_support;

use autopilot_aws::{AwsEcs, DynamoCapacityStore, DynamoJobStore};
use autopilot_core::capacity::view::read_all;
use autopilot_core::capacity::{read_capacity_view, ClusterStatus, Record};
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use autopilot_core::ports::{CapacityStore, ItemKind, ItemQuery};
use aws_config::SdkConfig;
use clap::Args;

use crate::output::{Format, Style};
use crate::progress::{Counting, Progress};
use crate::{render, CliError};

#[derive(Debug, Default, Args)]
pub struct TableArgs {
    /// Cluster name or ARN.
    #[arg(long)]
    pub cluster: String,
    /// Capacity table name.
    #[arg(long, env = "CAPACITY_TABLE")]
    pub table: String,
    /// Print JSON (the same as --output json).
    #[arg(long)]
    pub json: bool,
    /// Also print what the question read from the table to stderr, as one JSON line: Queries,
    /// items read (DynamoDB's ScannedCount) and read units (DynamoDB's ConsumedCapacity).
    #[arg(long)]
    pub read_stats: bool,
    /// How to print (set from the global options).
    #[arg(skip)]
    pub style: Style,
}

/// `style`, with a command's own `--json` taking it to JSON.
pub fn effective(style: Style, json: bool) -> Style {
    if json {
        Style {
            format: Format::Json,
            ..style
        }
    } else {
        style
    }
}

impl TableArgs {
    /// The style this command prints in.
    pub fn style(&self) -> Style {
        effective(self.style, self.json)
    }

    /// What a capacity question reads from the table (see [`read_view`]), with a progress line
    /// on stderr when the read takes more than a second.
    async fn read_records(
        &self,
        sdk: &SdkConfig,
        tasks: &TaskRead,
    ) -> Result<Vec<Record>, CliError> {
        let progress = Progress::start(format!("reading capacity table {}", self.table));
        let store = Counting {
            inner: DynamoCapacityStore::new(aws_sdk_dynamodb::Client::new(sdk), &self.table),
            items: progress.counter(),
        };
        let mut stats = ReadStats::default();
        let records = read_view_counted(
            &store,
            &self.cluster,
            &self.table,
            tasks,
            autopilot_core::clock::unix_now(),
            &mut stats,
        )
        .await;
        drop(progress);
        if self.read_stats {
            eprintln!(
                "{}",
                serde_json::to_string(&stats).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
            );
        }
        records
    }

    /// A cluster with no items in the table is an error (a wrong name, or the recorder has not
    /// run), not an empty answer.
    fn require_records(&self, records: &[Record]) -> Result<(), CliError> {
        if records.is_empty() {
            return Err(CliError::UnknownCluster {
                cluster: self.cluster.clone(),
                table: self.table.clone(),
            });
        }
        Ok(())
    }
}

pub use autopilot_core::capacity::{ReadStats, TaskRead};

/// [`read_view_counted`] without the counts.
pub async fn read_view<S: CapacityStore>(
    store: &S,
    cluster: &str,
    table: &str,
    tasks: &TaskRead,
    now: i64,
) -> Result<Vec<Record>, CliError> {
    read_view_counted(store, cluster, table, tasks, now, &mut ReadStats::default()).await
}

/// The records a capacity question needs, and no more ([`read_capacity_view`]: the live hosts,
/// and the live tasks `tasks` asks for).
///
/// No live host: a cluster the registry says is gone is an error saying so; otherwise the host
/// items that are left (tombstones: the answer says how many were deregistered), or, with none,
/// a cluster with no items at all is an error (a wrong name, or the recorder has not run).
pub async fn read_view_counted<S: CapacityStore>(
    store: &S,
    cluster: &str,
    table: &str,
    tasks: &TaskRead,
    now: i64,
    stats: &mut ReadStats,
) -> Result<Vec<Record>, CliError> {
    let mut records = read_capacity_view(store, cluster, tasks, now, stats).await?;
    if !records.is_empty() {
        return Ok(records);
    }
    if let Some(entry) = store
        .cluster_entry(cluster)
        .await?
        .filter(|e| e.status == ClusterStatus::Gone)
    {
        return Err(CliError::ClusterGone {
            cluster: cluster.to_string(),
            detail: render::gone_detail(&entry),
        });
    }
    read_all(
        store,
        ItemQuery::all(cluster, ItemKind::Hosts),
        stats,
        &mut records,
        |_| true,
    )
    .await?;
    if records.is_empty() {
        // Unfiltered: the first page is empty only when there is no task item at all.
        let page = store
            .page(&ItemQuery::all(cluster, ItemKind::Tasks), None)
            .await?;
        stats.queries += 1;
        stats.items_read += page.scanned;
        stats.read_units += page.read_units;
        records = page.records;
    }
    if records.is_empty() {
        return Err(CliError::UnknownCluster {
            cluster: cluster.to_string(),
            table: table.to_string(),
        });
    }
    Ok(records)
}

/// The flags every `jobs` subcommand shares.
#[derive(Debug, Default, Args)]
pub struct JobsArgs {
    /// Jobs table name.
    #[arg(long = "jobs-table", env = "JOBS_TABLE")]
    pub jobs_table: String,
    /// Print JSON (the same as --output json).
    #[arg(long)]
    pub json: bool,
    /// How to print (set from the global options).
    #[arg(skip)]
    pub style: Style,
}

/// The dispatcher the function runs, over the same adapters.
pub type CliDispatcher = Dispatcher<DynamoJobStore, AwsEcs, DynamoCapacityStore>;

impl JobsArgs {
    /// The style this command prints in.
    pub fn style(&self) -> Style {
        effective(self.style, self.json)
    }

    pub fn store(&self, sdk: &SdkConfig) -> DynamoJobStore {
        DynamoJobStore::new(aws_sdk_dynamodb::Client::new(sdk), &self.jobs_table)
    }

    pub fn dispatcher(&self, sdk: &SdkConfig, capacity_table: Option<String>) -> CliDispatcher {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        Dispatcher::new(
            self.store(sdk),
            AwsEcs::new(aws_sdk_ecs::Client::new(sdk)),
            capacity_table
                .as_ref()
                .map(|t| DynamoCapacityStore::new(dynamodb, t)),
            DispatchConfig {
                capacity_table,
                ..DispatchConfig::with_jobs_table(self.jobs_table.clone())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{can_place, filter, records};
    use crate::CliError;
    use crate::EXIT_DOES_NOT_FIT;
    use autopilot_core::capacity::Record;

    #[test]
    fn a_cluster_without_items_is_an_error_and_one_without_schedulable_hosts_says_why() {
        let err = can_place(1)
            .on_records(&[], &mut String::new())
            .expect_err("no items");
        assert_eq!(
            err.to_string(),
            "cluster prod has no hosts in table capacity (wrong name, or the recorder has not run)"
        );
        assert!(matches!(
            filter("attribute:ecs.instance-type exists", false).on_records(&[], &mut String::new()),
            Err(CliError::UnknownCluster { .. })
        ));

        let unschedulable: Vec<Record> = records()
            .into_iter()
            .filter(|r| !matches!(r, Record::Instance(i) if i.instance.arn.ends_with("/h0") || i.instance.arn.ends_with("/h1")))
            .collect();
        let mut out = String::new();
        assert_eq!(
            can_place(1)
                .on_records(&unschedulable, &mut out)
                .expect("answers"),
            EXIT_DOES_NOT_FIT
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(
            v["reason"],
            serde_json::json!("no ACTIVE connected host: 1 DRAINING, 1 disconnected")
        );
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// The fixture's records plus a batch cluster's history (200 stopped tasks, a deregistered
    /// host), in an in-memory store with DynamoDB's read semantics.
    fn store_with_history() -> autopilot_core::memory::InMemoryCapacityStore {
        use autopilot_core::capacity::{
            instance_to_record, with_task_ttl, TaskRecord, WriteCondition,
        };
        use autopilot_core::model::{ContainerInstance, InstanceStatus};
        use autopilot_core::ports::CapacityStore;
        let store = autopilot_core::memory::InMemoryCapacityStore::new();
        block_on(async {
            let mut all = records();
            all.push(instance_to_record(
                super::test_support::CLUSTER,
                ContainerInstance::new(
                    "arn:aws:ecs:us-east-1:1:container-instance/prod/h9",
                    InstanceStatus::Inactive,
                ),
                None,
                NOW,
            ));
            for i in 0..200 {
                all.push(with_task_ttl(
                    TaskRecord {
                        cluster_arn: super::test_support::CLUSTER.into(),
                        task: autopilot_core::model::Task {
                            arn: format!("arn:aws:ecs:us-east-1:1:task/prod/old{i:03}"),
                            cluster_arn: None,
                            container_instance_arn: Some(
                                "arn:aws:ecs:us-east-1:1:container-instance/prod/h1".into(),
                            ),
                            group: Some("service:web".into()),
                            started_by: None,
                            last_status: Some("STOPPED".into()),
                            desired_status: Some("STOPPED".into()),
                            cpu: None,
                            memory: None,
                            launch_type: Some("EC2".into()),
                            version: Some(4),
                        },
                        updated_at: None,
                        tombstone: false,
                        expires_at: None,
                    },
                    NOW,
                ));
            }
            for r in &all {
                store
                    .write(r, WriteCondition::Unchanged(None))
                    .await
                    .expect("write");
            }
        });
        store
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_question_without_task_groups_reads_the_hosts_only() {
        use super::{read_view, TaskRead};
        let store = store_with_history();
        let hosts =
            block_on(read_view(&store, "prod", "capacity", &TaskRead::None, NOW)).expect("read");
        assert_eq!(hosts.len(), 4, "the live hosts, no tombstone, no task");
        assert!(hosts
            .iter()
            .all(|r| matches!(r, Record::Instance(i) if !i.tombstone)));
        assert_eq!(
            store.items_read(),
            4,
            "the live hosts only: not the tombstone, none of the 203 task items"
        );

        let before = store.items_read();
        let with_tasks =
            block_on(read_view(&store, "prod", "capacity", &TaskRead::All, NOW)).expect("read");
        assert_eq!(
            store.items_read() - before,
            4 + 3,
            "live hosts and live tasks: none of the 200 stopped ones"
        );
        let tasks: Vec<&Record> = with_tasks
            .iter()
            .filter(|r| matches!(r, Record::Task(_)))
            .collect();
        assert_eq!(
            tasks.len(),
            3,
            "the tasks on hosts, none of the stopped ones"
        );
        // The answers over the hosts-only read are the answers over everything.
        let mut out = String::new();
        can_place(2).on_records(&hosts, &mut out).expect("answer");
        let mut all = String::new();
        can_place(2)
            .on_records(&with_tasks, &mut all)
            .expect("answer");
        assert_eq!(out, all);
    }

    #[test]
    fn a_gone_cluster_and_an_unknown_one_are_errors_that_say_which() {
        use super::{read_view, TaskRead};
        use autopilot_core::capacity::{ClusterEntry, ClusterStatus};
        use autopilot_core::ports::CapacityStore;
        let store = autopilot_core::memory::InMemoryCapacityStore::new();
        let err = block_on(read_view(&store, "prod", "capacity", &TaskRead::None, NOW))
            .expect_err("empty");
        assert!(matches!(err, CliError::UnknownCluster { .. }), "{err}");
        block_on(store.put_cluster(&ClusterEntry {
            status: ClusterStatus::Gone,
            reason: Some("INACTIVE".into()),
            retired_hosts: 4,
            retired_tasks: 9,
            ..ClusterEntry::active("prod", None, NOW)
        }))
        .expect("registry");
        let err = block_on(read_view(&store, "prod", "capacity", &TaskRead::None, NOW))
            .expect_err("gone");
        assert_eq!(
            err.to_string(),
            "cluster prod is gone (deregistered: ECS reports it INACTIVE; the sweep turned its 4 \
             host(s) and 9 task(s) into tombstones at 2027-01-15T08:00:00Z)"
        );
    }

    #[test]
    fn can_place_reads_tasks_only_for_task_group_questions() {
        use super::can_place::CanPlace;
        use super::TaskRead::{self, All, Group, None as No};
        let web = || Group("service:web".to_string());
        /// (constraints, strategies, --group, tasks read)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], Option<&'a str>, TaskRead);
        let cases: [Case; 9] = [
            (&[], &[], None, No),
            (
                &["memberOf:attribute:ecs.instance-type == t3.large"],
                &[],
                None,
                No,
            ),
            (&["distinctInstance"], &[], None, No),
            (&["distinctInstance"], &[], Some("service:web"), web()),
            (
                &[],
                &["spread:attribute:ecs.availability-zone"],
                Some("service:web"),
                web(),
            ),
            (&[], &["binpack:memory", "random"], Some("service:web"), No),
            (&["memberOf:task:group == service:web"], &[], None, All),
            (
                &["memberOf:not(task:group == service:db)"],
                &["binpack:cpu"],
                None,
                All,
            ),
            // A task:group expression may name any group: every live task.
            (
                &["distinctInstance", "memberOf:task:group != service:db"],
                &[],
                Some("service:web"),
                All,
            ),
        ];
        for (constraints, strategies, group, want) in cases {
            let cmd = CanPlace {
                constraints: constraints.iter().map(|s| s.to_string()).collect(),
                strategies: strategies.iter().map(|s| s.to_string()).collect(),
                group: group.map(str::to_string),
                ..can_place(1)
            };
            assert_eq!(
                cmd.task_read().expect("valid"),
                want,
                "{constraints:?} {strategies:?} {group:?}"
            );
        }
    }
}
