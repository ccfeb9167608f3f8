//! `capacity create-table`: creates the capacity table (local set-ups and tests; deployments get
//! it from template.yaml).

use autopilot_aws::DynamoCapacityStore;
use aws_config::SdkConfig;
use clap::Args;

use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct CreateTable {
    /// Capacity table name.
    #[arg(long, env = "CAPACITY_TABLE")]
    pub table: String,
}

impl CreateTable {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        DynamoCapacityStore::new(aws_sdk_dynamodb::Client::new(sdk), &self.table)
            .create_table()
            .await?;
        render::table_created(out, &self.table);
        Ok(EXIT_OK)
    }
}
