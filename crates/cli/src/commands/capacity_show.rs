//! `capacity show`: a picture of a cluster from the table: per host a CPU and a memory bar (used of
//! registered), DRAINING and disconnected hosts marked, the totals and the largest free slot.

use autopilot_core::capacity::{cluster_capacity, Record};
use aws_config::SdkConfig;
use clap::Args;

use super::TableArgs;
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct CapacityShow {
    #[command(flatten)]
    pub table: TableArgs,
}

impl CapacityShow {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        // Hosts only: the totals are the hosts' own counts.
        let records = self.table.read_records(sdk, &super::TaskRead::None).await?;
        self.on_records(&records, out)
    }

    /// The answer over records already read (pure: unit-tested without AWS).
    pub fn on_records(&self, records: &[Record], out: &mut String) -> Result<u8, CliError> {
        self.table.require_records(records)?;
        let cap = cluster_capacity(&self.table.cluster, records);
        render::capacity(out, &cap, records, &self.table.style());
        Ok(EXIT_OK)
    }
}
