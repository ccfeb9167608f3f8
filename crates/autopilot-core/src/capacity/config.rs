//! capacity-recorder's settings, from the environment (see [`crate::env`]).

use crate::env::{required, ClusterScope, ConfigError, FromEnv};

pub const ENV_CAPACITY_TABLE: &str = "CAPACITY_TABLE";

/// capacity-recorder's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// `CAPACITY_TABLE` (required): the DynamoDB table.
    pub table: String,
    /// `CLUSTERS`: clusters to record and sweep. Events from other clusters are skipped.
    pub clusters: ClusterScope,
}

impl FromEnv for RecorderConfig {
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(RecorderConfig {
            table: required(
                ENV_CAPACITY_TABLE,
                lookup(ENV_CAPACITY_TABLE),
                "the name of the capacity table",
            )?,
            clusters: ClusterScope::from_lookup(&lookup)?,
        })
    }
}
