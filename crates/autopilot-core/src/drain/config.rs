//! instance-drainer's settings, from the environment (see [`crate::env`]).

use crate::env::{choice, list, number, required, ClusterScope, ConfigError, FromEnv};

pub const ENV_RECHECK_QUEUE_URL: &str = "RECHECK_QUEUE_URL";
pub const ENV_RECHECK_INTERVAL_SECONDS: &str = "RECHECK_INTERVAL_SECONDS";
pub const ENV_MAX_DRAIN_SECONDS: &str = "MAX_DRAIN_SECONDS";
pub const ENV_STANDALONE_TASKS: &str = "STANDALONE_TASKS";
pub const ENV_STANDALONE_GRACE_SECONDS: &str = "STANDALONE_GRACE_SECONDS";
pub const ENV_LIFECYCLE_HOOK_NAMES: &str = "LIFECYCLE_HOOK_NAMES";
/// The hooks the drainer acts on when `LIFECYCLE_HOOK_NAMES` is not set (the template's default
/// too; docs/instance-drainer.md's example hook is `ecs-autopilot-drain`).
pub const DEFAULT_LIFECYCLE_HOOK_NAMES: &str = "ecs-autopilot-drain*";

/// SQS's maximum DelaySeconds.
pub const MAX_SQS_DELAY_SECONDS: u32 = 900;
/// A lifecycle hook's global timeout is at most 48 hours.
pub const MAX_GLOBAL_TIMEOUT_SECONDS: u64 = 48 * 3600;

/// What to do with standalone (RunTask/StartTask) tasks, which never leave a draining host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StandalonePolicy {
    /// StopTask them once `STANDALONE_GRACE_SECONDS` have passed since the drain started.
    #[default]
    Stop,
    /// Leave them; they block completion until they exit or `MAX_DRAIN_SECONDS` runs out (then
    /// they are reported in the final record).
    Wait,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainConfig {
    /// `CLUSTERS`: where to look for the host when the hook's NotificationMetadata names no
    /// cluster (every cluster of the region: ListClusters).
    pub clusters: ClusterScope,
    /// `RECHECK_QUEUE_URL` (required).
    pub recheck_queue_url: String,
    /// `RECHECK_INTERVAL_SECONDS`: delay of each re-check, 1–900, default 60. Keep it well below
    /// the hook's HeartbeatTimeout.
    pub recheck_interval_seconds: u32,
    /// `MAX_DRAIN_SECONDS`: after this long since the drain started, complete with CONTINUE and
    /// report what still runs. Default 3600; at most 172800 (48 h). Keep it below the hook's
    /// global timeout (100 × HeartbeatTimeout, at most 48 h).
    pub max_drain_seconds: u64,
    /// `STANDALONE_TASKS`: `stop` (default) or `wait`.
    pub standalone: StandalonePolicy,
    /// `STANDALONE_GRACE_SECONDS`: default 300.
    pub standalone_grace_seconds: u64,
    /// `LIFECYCLE_HOOK_NAMES`: the lifecycle hooks this drainer owns — names or `*` wildcards,
    /// comma-separated; default [`DEFAULT_LIFECYCLE_HOOK_NAMES`]. Lifecycle actions of any other
    /// hook are skipped without an Auto Scaling call: completing another system's hook would end
    /// its wait early.
    pub hook_names: Vec<String>,
}

impl DrainConfig {
    /// Defaults with the given queue URL (tests).
    pub fn with_queue(url: impl Into<String>) -> Self {
        DrainConfig {
            clusters: ClusterScope::All,
            recheck_queue_url: url.into(),
            recheck_interval_seconds: 60,
            max_drain_seconds: 3600,
            standalone: StandalonePolicy::Stop,
            standalone_grace_seconds: 300,
            hook_names: vec![DEFAULT_LIFECYCLE_HOOK_NAMES.to_string()],
        }
    }
}

impl FromEnv for DrainConfig {
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = required(
            ENV_RECHECK_QUEUE_URL,
            lookup(ENV_RECHECK_QUEUE_URL),
            "the URL of the SQS re-check queue",
        )?;
        let mut c = DrainConfig::with_queue(url);
        c.clusters = ClusterScope::from_lookup(&lookup)?;
        if let Some(names) = list(ENV_LIFECYCLE_HOOK_NAMES, lookup(ENV_LIFECYCLE_HOOK_NAMES))? {
            c.hook_names = names;
        }
        if let Some(v) = number(
            ENV_RECHECK_INTERVAL_SECONDS,
            lookup(ENV_RECHECK_INTERVAL_SECONDS),
            1,
            u64::from(MAX_SQS_DELAY_SECONDS),
        )? {
            c.recheck_interval_seconds = v as u32;
        }
        if let Some(v) = number(
            ENV_MAX_DRAIN_SECONDS,
            lookup(ENV_MAX_DRAIN_SECONDS),
            60,
            MAX_GLOBAL_TIMEOUT_SECONDS,
        )? {
            c.max_drain_seconds = v;
        }
        if let Some(v) = number(
            ENV_STANDALONE_GRACE_SECONDS,
            lookup(ENV_STANDALONE_GRACE_SECONDS),
            0,
            MAX_GLOBAL_TIMEOUT_SECONDS,
        )? {
            c.standalone_grace_seconds = v;
        }
        if let Some(policy) = choice(
            ENV_STANDALONE_TASKS,
            lookup(ENV_STANDALONE_TASKS),
            &[
                ("stop", StandalonePolicy::Stop),
                ("wait", StandalonePolicy::Wait),
            ],
        )? {
            c.standalone = policy;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<DrainConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DrainConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_only_the_queue() {
        let c = cfg(&[("RECHECK_QUEUE_URL", "https://q")]).expect("ok");
        assert_eq!(c, DrainConfig::with_queue("https://q"));
        assert_eq!(c.recheck_interval_seconds, 60);
        assert_eq!(c.max_drain_seconds, 3600);
        assert_eq!(c.standalone, StandalonePolicy::Stop);
        assert_eq!(c.standalone_grace_seconds, 300);
        assert_eq!(c.hook_names, vec![DEFAULT_LIFECYCLE_HOOK_NAMES.to_string()]);
    }

    #[test]
    fn parses_every_variable() {
        let c = cfg(&[
            ("RECHECK_QUEUE_URL", "https://q"),
            ("CLUSTERS", "prod, staging"),
            ("RECHECK_INTERVAL_SECONDS", "900"),
            ("MAX_DRAIN_SECONDS", "7200"),
            ("STANDALONE_TASKS", "WAIT"),
            ("STANDALONE_GRACE_SECONDS", "0"),
            ("LIFECYCLE_HOOK_NAMES", "drain-a, team-*"),
        ])
        .expect("ok");
        assert_eq!(
            c.hook_names,
            vec!["drain-a".to_string(), "team-*".to_string()]
        );
        assert_eq!(
            c.clusters,
            ClusterScope::Only(vec!["prod".into(), "staging".into()])
        );
        assert_eq!(c.recheck_interval_seconds, 900);
        assert_eq!(c.max_drain_seconds, 7200);
        assert_eq!(c.standalone, StandalonePolicy::Wait);
        assert_eq!(c.standalone_grace_seconds, 0);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value) in [
            ("RECHECK_QUEUE_URL", " "),
            ("RECHECK_INTERVAL_SECONDS", "901"),
            ("RECHECK_INTERVAL_SECONDS", "0"),
            ("MAX_DRAIN_SECONDS", "172801"),
            ("MAX_DRAIN_SECONDS", "1h"),
            ("STANDALONE_TASKS", "kill"),
        ] {
            let mut pairs = vec![("RECHECK_QUEUE_URL", "https://q")];
            pairs.retain(|(k, _)| *k != var);
            pairs.push((var, value));
            let err = cfg(&pairs).expect_err(var);
            assert!(err.to_string().contains(var), "{err}");
        }
        assert!(cfg(&[]).is_err(), "the queue URL is required");
    }
}
