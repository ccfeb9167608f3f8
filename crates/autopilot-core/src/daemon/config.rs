//! daemon-count's settings, from the environment (see [`crate::env`]).

use crate::env::{boolean, list, ClusterScope, ConfigError, FromEnv};

pub const ENV_DAEMON_SERVICES: &str = "DAEMON_SERVICES";
pub const ENV_DRY_RUN: &str = "DRY_RUN";

/// daemon-count's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonConfig {
    /// `DAEMON_SERVICES`: exact service names or ARNs to manage; `None` = discover by tag.
    /// An empty or blank value counts as unset (SAM passes empty parameters as empty strings).
    pub services: Option<Vec<String>>,
    /// `DRY_RUN`: decide and log, write nothing.
    pub dry_run: bool,
    /// `CLUSTERS`: clusters (names or ARNs) the scheduled reconcile covers.
    pub clusters: ClusterScope,
}

impl FromEnv for DaemonConfig {
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(DaemonConfig {
            services: list(ENV_DAEMON_SERVICES, lookup(ENV_DAEMON_SERVICES))?,
            dry_run: boolean(ENV_DRY_RUN, lookup(ENV_DRY_RUN))?.unwrap_or(false),
            clusters: ClusterScope::from_lookup(&lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<DaemonConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DaemonConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(cfg(&[]).expect("ok"), DaemonConfig::default());
    }

    #[test]
    fn parses_lists_and_flags() {
        let c = cfg(&[
            (
                "DAEMON_SERVICES",
                " logs, arn:aws:ecs:us-east-1:1:service/prod/metrics ,",
            ),
            ("DRY_RUN", "TRUE"),
            ("CLUSTERS", "prod,staging"),
        ])
        .expect("ok");
        assert_eq!(
            c.services,
            Some(vec![
                "logs".to_string(),
                "arn:aws:ecs:us-east-1:1:service/prod/metrics".to_string()
            ])
        );
        assert!(c.dry_run);
        assert_eq!(
            c.clusters,
            ClusterScope::Only(vec!["prod".to_string(), "staging".to_string()])
        );
    }

    #[test]
    fn blank_values_count_as_unset() {
        let c = cfg(&[("DAEMON_SERVICES", "  "), ("DRY_RUN", ""), ("CLUSTERS", "")]).expect("ok");
        assert_eq!(c, DaemonConfig::default());
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let err = cfg(&[("DRY_RUN", "maybe")]).expect_err("invalid");
        assert!(err.to_string().contains("DRY_RUN"), "{err}");
        let err = cfg(&[("DAEMON_SERVICES", ",,")]).expect_err("invalid");
        assert!(err.to_string().contains("DAEMON_SERVICES"), "{err}");
        let err = cfg(&[("CLUSTERS", "prod staging")]).expect_err("invalid");
        assert!(err.to_string().contains("CLUSTERS"), "{err}");
    }
}
