//! task-dispatcher's settings, from the environment (see [`crate::env`]).

use crate::env::{required, ClusterScope, ConfigError, FromEnv};

pub const ENV_JOBS_TABLE: &str = "JOBS_TABLE";
pub const ENV_CAPACITY_TABLE: &str = "CAPACITY_TABLE";
pub const ENV_DAEMON_SERVICES: &str = "DAEMON_SERVICES";

/// task-dispatcher's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// `JOBS_TABLE` (required): the job queue's DynamoDB table.
    pub jobs_table: String,
    /// `CAPACITY_TABLE` (optional): read hosts from the capacity table (one Query) instead of
    /// ECS (ListContainerInstances + DescribeContainerInstances).
    pub capacity_table: Option<String>,
    /// `DAEMON_SERVICES` (optional, comma-separated service names): daemon services whose task
    /// keeps room on hosts that do not run it yet.
    pub daemon_services: Vec<String>,
    /// `CLUSTERS`: the clusters the schedule sweeps and whose events are handled (empty: every
    /// cluster of the region).
    pub clusters: ClusterScope,
}

impl FromEnv for DispatchConfig {
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(DispatchConfig {
            jobs_table: required(
                ENV_JOBS_TABLE,
                lookup(ENV_JOBS_TABLE),
                "the name of the jobs table",
            )?,
            capacity_table: opt(ENV_CAPACITY_TABLE).map(|v| v.trim().to_string()),
            daemon_services: opt(ENV_DAEMON_SERVICES)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            clusters: ClusterScope::from_lookup(&lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_table_is_required_and_the_rest_optional() {
        let err = DispatchConfig::from_lookup(|_| None).expect_err("required");
        assert!(err.to_string().contains("JOBS_TABLE"), "{err}");
        let c = DispatchConfig::from_lookup(|n| match n {
            "JOBS_TABLE" => Some("jobs".into()),
            "CAPACITY_TABLE" => Some(" ".into()),
            "DAEMON_SERVICES" => Some("logs, metrics".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(c.jobs_table, "jobs");
        assert_eq!(c.capacity_table, None);
        assert_eq!(c.daemon_services, ["logs", "metrics"]);
    }
}
