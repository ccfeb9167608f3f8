//! `jobs cancel ID`: CANCELLED (a conditional write; a running job's task is stopped first).

use aws_config::SdkConfig;
use clap::Args;

use super::JobsArgs;
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct JobsCancel {
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// The job id.
    pub job_id: String,
}

impl JobsCancel {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        let job = self
            .jobs
            .dispatcher(sdk, None)
            .cancel(&self.job_id, autopilot_core::clock::unix_now())
            .await?;
        render::job(out, &job, &self.jobs.style());
        Ok(EXIT_OK)
    }
}
