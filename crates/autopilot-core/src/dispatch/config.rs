//! task-dispatcher's settings, from the environment (see [`crate::env`]).

use crate::dispatch::scale::HostSize;
use crate::env::{number, required, ClusterScope, ConfigError, FromEnv};
use crate::pass_role::{PassRolePatterns, ENV_JOB_PASS_ROLE_PATTERNS};

pub const ENV_JOBS_TABLE: &str = "JOBS_TABLE";
pub const ENV_CAPACITY_TABLE: &str = "CAPACITY_TABLE";
pub const ENV_DAEMON_SERVICES: &str = "DAEMON_SERVICES";
pub const ENV_SCALE_GROUP: &str = "SCALE_GROUP";
pub const ENV_SCALE_GROUP_CLUSTER: &str = "SCALE_GROUP_CLUSTER";
pub const ENV_SCALE_GROUP_HOST_CPU: &str = "SCALE_GROUP_HOST_CPU";
pub const ENV_SCALE_GROUP_HOST_MEMORY: &str = "SCALE_GROUP_HOST_MEMORY";
pub const ENV_IDLE_SECONDS: &str = "IDLE_SECONDS";
pub const ENV_REGISTER_GRACE_SECONDS: &str = "REGISTER_GRACE_SECONDS";
/// `REGISTER_GRACE_SECONDS` when unset: an instance boots and its ECS agent registers in a few
/// minutes.
pub const DEFAULT_REGISTER_GRACE_SECONDS: i64 = 600;
pub const ENV_MAX_PROVISIONING: &str = "MAX_PROVISIONING";
pub const ENV_DEAD_LETTER_QUEUE_URL: &str = "DEAD_LETTER_QUEUE_URL";
/// `MAX_PROVISIONING` when unset.
pub const DEFAULT_MAX_PROVISIONING: usize = 10;
/// `IDLE_SECONDS` when unset.
pub const DEFAULT_IDLE_SECONDS: i64 = 300;

/// The Auto Scaling group the dispatcher owns (`SCALE_GROUP`, its managed scaling off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleGroupConfig {
    /// `SCALE_GROUP`: the group's name.
    pub name: String,
    /// `SCALE_GROUP_CLUSTER`: the cluster its hosts register in (default: the one cluster of
    /// `CLUSTERS`).
    pub cluster: String,
    /// `SCALE_GROUP_HOST_CPU` / `SCALE_GROUP_HOST_MEMORY` (required): what one host registers
    /// (CPU units, MiB), used until a host of the group is registered (then its registered size).
    pub host_size: HostSize,
    /// `IDLE_SECONDS` (default 300): how long a host of the group stays with nothing to run.
    pub idle_seconds: i64,
    /// `REGISTER_GRACE_SECONDS` (default 600): how long a launched instance that has not
    /// registered in the cluster still counts as coming; then it is reported and terminated.
    pub register_grace: i64,
}

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
    /// `SCALE_GROUP` and its settings (optional).
    pub scale_group: Option<ScaleGroupConfig>,
    /// `MAX_PROVISIONING` (default 10, 0 = off): jobs with a `capacityProviderStrategy` that wait
    /// for room are submitted anyway (ECS keeps them PROVISIONING and its cluster autoscaler
    /// adds hosts), at most this many per cluster at once.
    pub max_provisioning: usize,
    /// `DEAD_LETTER_QUEUE_URL` (optional): where an SQS message refused as invalid is sent, with
    /// its reason (it is never retried).
    pub dead_letter_queue_url: Option<String>,
    /// `JOB_PASS_ROLE_PATTERNS`: the roles a job may carry (what the template lets the function
    /// pass); empty = no check ([`crate::pass_role`]).
    pub pass_roles: PassRolePatterns,
}

impl DispatchConfig {
    /// The defaults of every optional setting, for `jobs_table` (tests, the CLI's dry runs).
    pub fn with_jobs_table(jobs_table: impl Into<String>) -> Self {
        DispatchConfig {
            jobs_table: jobs_table.into(),
            capacity_table: None,
            daemon_services: Vec::new(),
            clusters: ClusterScope::All,
            scale_group: None,
            max_provisioning: DEFAULT_MAX_PROVISIONING,
            dead_letter_queue_url: None,
            pass_roles: PassRolePatterns::default(),
        }
    }
}

impl FromEnv for DispatchConfig {
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let clusters = ClusterScope::from_lookup(&lookup)?;
        let scale_group = match opt(ENV_SCALE_GROUP) {
            None => None,
            Some(name) => {
                let cluster = match (opt(ENV_SCALE_GROUP_CLUSTER), clusters.listed()) {
                    (Some(c), _) => c.trim().to_string(),
                    (None, Some([one])) => one.clone(),
                    (None, _) => {
                        return Err(ConfigError::Invalid {
                            var: ENV_SCALE_GROUP_CLUSTER,
                            value: String::new(),
                            reason: "required with SCALE_GROUP unless CLUSTERS names exactly one \
                                     cluster: the cluster the group's hosts register in"
                                .into(),
                        })
                    }
                };
                let size = |var: &'static str, what: &str| -> Result<i64, ConfigError> {
                    let v = required(var, lookup(var), what)?;
                    let n = number(var, Some(v), 1, 10_000_000)?.unwrap_or(0);
                    Ok(n as i64)
                };
                Some(ScaleGroupConfig {
                    name: name.trim().to_string(),
                    cluster,
                    host_size: HostSize {
                        cpu: size(
                            ENV_SCALE_GROUP_HOST_CPU,
                            "the CPU units one host of SCALE_GROUP registers (1024 = 1 vCPU)",
                        )?,
                        memory: size(
                            ENV_SCALE_GROUP_HOST_MEMORY,
                            "the memory (MiB) one host of SCALE_GROUP registers",
                        )?,
                    },
                    idle_seconds: number(ENV_IDLE_SECONDS, lookup(ENV_IDLE_SECONDS), 0, 86_400)?
                        .map_or(DEFAULT_IDLE_SECONDS, |n| n as i64),
                    register_grace: number(
                        ENV_REGISTER_GRACE_SECONDS,
                        lookup(ENV_REGISTER_GRACE_SECONDS),
                        60,
                        86_400,
                    )?
                    .map_or(DEFAULT_REGISTER_GRACE_SECONDS, |n| n as i64),
                })
            }
        };
        Ok(DispatchConfig {
            jobs_table: required(
                ENV_JOBS_TABLE,
                lookup(ENV_JOBS_TABLE),
                "the name of the jobs table",
            )?,
            capacity_table: opt(ENV_CAPACITY_TABLE).map(|v| v.trim().to_string()),
            pass_roles: PassRolePatterns::parse(lookup(ENV_JOB_PASS_ROLE_PATTERNS).as_deref()),
            daemon_services: opt(ENV_DAEMON_SERVICES)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            clusters,
            scale_group,
            max_provisioning: number(ENV_MAX_PROVISIONING, lookup(ENV_MAX_PROVISIONING), 0, 500)?
                .map_or(DEFAULT_MAX_PROVISIONING, |n| n as usize),
            dead_letter_queue_url: opt(ENV_DEAD_LETTER_QUEUE_URL).map(|v| v.trim().to_string()),
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
        assert_eq!(c.scale_group, None);
    }

    #[test]
    fn a_scale_group_needs_its_cluster_and_host_size() {
        let env = |extra: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                [("JOBS_TABLE", "jobs"), ("SCALE_GROUP", "batch-asg")]
                    .iter()
                    .chain(extra.iter())
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let err = DispatchConfig::from_lookup(env(&[])).expect_err("no cluster");
        assert!(err.to_string().contains("SCALE_GROUP_CLUSTER"), "{err}");
        let err = DispatchConfig::from_lookup(env(&[("CLUSTERS", "batch")])).expect_err("size");
        assert!(err.to_string().contains("SCALE_GROUP_HOST_CPU"), "{err}");
        let c = DispatchConfig::from_lookup(env(&[
            ("CLUSTERS", "batch"),
            ("SCALE_GROUP_HOST_CPU", "4096"),
            ("SCALE_GROUP_HOST_MEMORY", "7482"),
        ]))
        .expect("valid");
        let g = c.scale_group.expect("group");
        assert_eq!(
            (g.name.as_str(), g.cluster.as_str()),
            ("batch-asg", "batch")
        );
        assert_eq!(
            (g.host_size.cpu, g.host_size.memory, g.idle_seconds),
            (4096, 7482, 300)
        );
        let err = DispatchConfig::from_lookup(env(&[
            ("SCALE_GROUP_CLUSTER", "batch"),
            ("SCALE_GROUP_HOST_CPU", "4096"),
            ("SCALE_GROUP_HOST_MEMORY", "7482"),
            ("IDLE_SECONDS", "-1"),
        ]))
        .expect_err("bad idle");
        assert!(err.to_string().contains("IDLE_SECONDS"), "{err}");
    }
}
