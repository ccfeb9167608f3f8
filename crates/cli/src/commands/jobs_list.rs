//! `jobs list --cluster C [--state S]`: the cluster's jobs in queue order (one Query).

use autopilot_core::dispatch::decide::queue_order;
use autopilot_core::job::JobState;
use autopilot_core::ports::JobStore;
use aws_config::SdkConfig;
use clap::Args;

use super::JobsArgs;
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct JobsList {
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Cluster name or ARN.
    #[arg(long)]
    pub cluster: String,
    /// Only jobs in this state (QUEUED, STARTING, RUNNING, SUCCEEDED, FAILED, EXPIRED, CANCELLED).
    #[arg(long)]
    pub state: Option<String>,
}

impl JobsList {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        let state = match &self.state {
            Some(s) => Some(
                JobState::parse(s)
                    .ok_or_else(|| CliError::Usage(format!("unknown state {s:?}")))?,
            ),
            None => None,
        };
        let progress = crate::progress::Progress::start(format!(
            "reading jobs table {}",
            self.jobs.jobs_table
        ));
        let all = self.jobs.store(sdk).cluster_jobs(&self.cluster).await;
        drop(progress);
        let all = all?;
        let mut jobs: Vec<_> = all
            .iter()
            .filter(|j| state.is_none_or(|s| j.state == s))
            .collect();
        queue_order(&mut jobs);
        render::jobs(out, &jobs, &self.jobs.style());
        Ok(EXIT_OK)
    }
}
