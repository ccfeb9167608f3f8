//! Configuration from environment variables.
//!
//! The lookup is injected (`from_lookup`) so every rule is unit-tested without touching the process
//! environment; `from_env` is the one-line production entry point. Invalid values fail fast with a
//! message that names the variable, so a bad deployment fails on its first invocation, visibly.

use thiserror::Error;

pub const ENV_DAEMON_SERVICES: &str = "DAEMON_SERVICES";
pub const ENV_DRY_RUN: &str = "DRY_RUN";
pub const ENV_CLUSTERS: &str = "CLUSTERS";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

/// daemon-count's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonConfig {
    /// `DAEMON_SERVICES`: exact service names or ARNs to manage; `None` = discover by tag.
    /// An empty or blank value counts as unset (SAM passes empty parameters as empty strings).
    pub services: Option<Vec<String>>,
    /// `DRY_RUN`: decide and log, write nothing.
    pub dry_run: bool,
    /// `CLUSTERS`: clusters (names or ARNs) the scheduled reconcile covers; `None` = every cluster.
    pub clusters: Option<Vec<String>>,
}

impl DaemonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(DaemonConfig {
            services: list(ENV_DAEMON_SERVICES, lookup(ENV_DAEMON_SERVICES))?,
            dry_run: boolean(ENV_DRY_RUN, lookup(ENV_DRY_RUN))?.unwrap_or(false),
            clusters: list(ENV_CLUSTERS, lookup(ENV_CLUSTERS))?,
        })
    }
}

/// A comma-separated list; blank = unset; empty items and surrounding spaces are dropped.
pub fn list(var: &'static str, value: Option<String>) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(raw) = value else { return Ok(None) };
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let items: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if items.is_empty() {
        return Err(ConfigError::Invalid {
            var,
            value: raw,
            reason: "expected a comma-separated list of names or ARNs".into(),
        });
    }
    if let Some(bad) = items.iter().find(|s| s.chars().any(char::is_whitespace)) {
        return Err(ConfigError::Invalid {
            var,
            value: raw.clone(),
            reason: format!("item {bad:?} contains whitespace; separate items with commas"),
        });
    }
    Ok(Some(items))
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, any case); blank = unset.
pub fn boolean(var: &'static str, value: Option<String>) -> Result<Option<bool>, ConfigError> {
    let Some(raw) = value else { return Ok(None) };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "1" | "yes" => Ok(Some(true)),
        "false" | "0" | "no" => Ok(Some(false)),
        _ => Err(ConfigError::Invalid {
            var,
            value: raw,
            reason: "expected true or false".into(),
        }),
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
            Some(vec!["prod".to_string(), "staging".to_string()])
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
