//! `jobs explain --cluster C`: the next dispatch as a dry run — the dispatcher's own reads and
//! decision (`Dispatcher::plan`), no write, no RunTask: where each queued job would go, or why it
//! waits (and behind which job), and how many hosts of the cluster's largest size it is short.

use autopilot_core::dispatch::JobRecord;
use aws_config::SdkConfig;
use clap::Args;

use super::JobsArgs;
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct JobsExplain {
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Cluster name or ARN.
    #[arg(long)]
    pub cluster: String,
    /// Read hosts from this capacity table (as the function does with CAPACITY_TABLE); without
    /// it, from ECS.
    #[arg(long, env = "CAPACITY_TABLE")]
    pub table: Option<String>,
}

impl JobsExplain {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        let dispatcher = self.jobs.dispatcher(sdk, self.table.clone());
        let now = autopilot_core::clock::unix_now();
        let progress = crate::progress::Progress::start(format!("planning {}", self.cluster));
        let planned = dispatcher.plan(&self.cluster, now).await;
        drop(progress);
        let (_, plan) = planned?;
        let cluster = autopilot_core::arn::cluster_name(&self.cluster);
        let records: Vec<JobRecord> = plan
            .decisions
            .iter()
            .map(|d| JobRecord::from_decision(cluster, d, plan.decisions.len()))
            .collect();
        render::explain(out, &records, now, &self.jobs.style());
        Ok(EXIT_OK)
    }
}
