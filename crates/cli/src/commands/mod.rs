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
mod test_support;

use autopilot_aws::{AwsEcs, DynamoCapacityStore, DynamoJobStore};
use autopilot_core::capacity::Record;
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use autopilot_core::ports::CapacityStore;
use aws_config::SdkConfig;
use clap::Args;

use crate::CliError;

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

impl TableArgs {
    /// Every record of the cluster in the table: the one AWS call of a capacity question.
    async fn read_records(&self, sdk: &SdkConfig) -> Result<Vec<Record>, CliError> {
        let store = DynamoCapacityStore::new(aws_sdk_dynamodb::Client::new(sdk), &self.table);
        Ok(store.cluster_records(&self.cluster).await?)
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

/// The flags every `jobs` subcommand shares.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Jobs table name.
    #[arg(long = "jobs-table", env = "JOBS_TABLE")]
    pub jobs_table: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The dispatcher the function runs, over the same adapters.
pub type CliDispatcher = Dispatcher<DynamoJobStore, AwsEcs, DynamoCapacityStore>;

impl JobsArgs {
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
                jobs_table: self.jobs_table.clone(),
                capacity_table,
                daemon_services: Vec::new(),
                clusters: Default::default(),
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
}
