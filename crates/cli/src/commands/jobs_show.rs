//! `jobs show ID`: state, attempts, task ARN, reason and history of one job (one GetItem).

use autopilot_core::ports::JobStore;
use aws_config::SdkConfig;
use clap::Args;

use super::JobsArgs;
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct JobsShow {
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// The job id.
    pub job_id: String,
}

impl JobsShow {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        let job = self
            .jobs
            .store(sdk)
            .get(&self.job_id)
            .await?
            .ok_or_else(|| {
                CliError::NotFound(format!(
                    "no job {} in {}",
                    self.job_id, self.jobs.jobs_table
                ))
            })?;
        render::job(out, &job, &self.jobs.style());
        Ok(EXIT_OK)
    }
}
