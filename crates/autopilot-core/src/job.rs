//! The job model: a RunTask request in RunTask's own field names, plus the queue's fields
//! (`jobId`, `priority`, `maxWaitSeconds`, `maxAttempts`), its state and its history.
//!
//! States: `QUEUED → STARTING → RUNNING → SUCCEEDED | FAILED`, and `EXPIRED`, `CANCELLED`.
//! Every transition is one conditional write on `revision` (the job store port) and
//! appends `{from, to, at, reason}` to `history`.

use std::fmt;

use ecs_cluster_query::placement::{self, Constraint, PlacementError, Strategy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

mod submit;

pub use submit::*;

/// Most characters a job id may have: the RunTask `clientToken` is `JOBID/LAUNCH` and ECS allows
/// 64 characters ("Up to 64 ASCII characters are allowed", RunTask `clientToken`); 11 are kept
/// for `/` and the launch counter (a u32).
pub const MAX_JOB_ID_LEN: usize = 52;
/// Prefix of the RunTask `startedBy` of every task this dispatcher starts (ECS allows 128
/// characters: letters, digits, `-`, `/`, `_`).
pub const STARTED_BY_PREFIX: &str = "ecs-autopilot/";
/// Default `maxAttempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 1;
/// Upper bound of `maxAttempts` (a bound on the work a broken job can cause).
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;
/// A run's expected length when neither the submission (`expectedSeconds`) nor its task
/// definition family's finished runs say (docs/task-dispatcher.md, run-time estimates).
pub const DEFAULT_EXPECTED_SECONDS: i64 = 600;
/// `expectedSeconds` and `timeoutSeconds` are at most 14 days (the jobs table keeps a job 14
/// days after it ends); `timeoutSeconds` at least 60 (AWS Batch's minimum attempt timeout; the
/// sweep that enforces it runs once a minute).
pub const MAX_RUN_SECONDS: i64 = 14 * 86_400;
pub const MIN_TIMEOUT_SECONDS: i64 = 60;
/// ECS's limit on placement constraints per RunTask; the dispatcher adds one (the host pin).
pub const MAX_JOB_CONSTRAINTS: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Queued,
    Starting,
    Running,
    Succeeded,
    Failed,
    Expired,
    Cancelled,
    /// A periodic run not started: the schedule's previous run was still queued or running
    /// (overlap policy `skip`), or a later-delivered tick already covered by a run.
    Skipped,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "QUEUED",
            JobState::Starting => "STARTING",
            JobState::Running => "RUNNING",
            JobState::Succeeded => "SUCCEEDED",
            JobState::Failed => "FAILED",
            JobState::Expired => "EXPIRED",
            JobState::Cancelled => "CANCELLED",
            JobState::Skipped => "SKIPPED",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Starting,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Expired,
            JobState::Cancelled,
            JobState::Skipped,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// No transition leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded
                | JobState::Failed
                | JobState::Expired
                | JobState::Cancelled
                | JobState::Skipped
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{type, expression}` as RunTask takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobConstraint {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// `{type, field}` as RunTask takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStrategy {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The RunTask part of a job, in RunTask's field names. `overrides`, `capacityProviderStrategy`,
/// `tags` and `networkConfiguration` are kept as JSON: only the RunTask call needs them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTaskSpec {
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<JobConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<JobStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_strategy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,
    /// `TASK_DEFINITION` or `NONE` (RunTask's `propagateTags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<String>,
    #[serde(
        default,
        rename = "enableECSManagedTags",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ecs_managed_tags: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
}

/// What one task of the job reserves on its host (from the task definition, or the task-level
/// `overrides.cpu` / `overrides.memory`), resolved at submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobNeeds {
    pub cpu: i64,
    pub memory: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// GPUs (`resourceRequirements` of type GPU, summed over containers).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gpus: i64,
    /// The task definition's own `memberOf` expressions: ECS applies them to every RunTask of
    /// the revision, on top of the job's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// The task definition's `requiresAttributes` (container-instance ones): a host without one
    /// of them is never chosen by ECS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<crate::model::Attribute>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl JobNeeds {
    /// What one task of `td` takes on a host: its CPU, memory and host ports.
    pub fn of_task_definition(td: &crate::model::TaskDefinition) -> JobNeeds {
        JobNeeds {
            cpu: td.cpu.unwrap_or(0),
            memory: td.memory.unwrap_or(0),
            ports: td
                .host_ports
                .iter()
                .filter_map(|p| p.trim().parse().ok())
                .collect(),
            gpus: td.containers.iter().map(|c| c.gpus).sum(),
            constraints: td
                .placement_constraints
                .iter()
                .filter(|c| c.kind.eq_ignore_ascii_case("memberOf"))
                .filter_map(|c| c.expression.clone())
                .collect(),
            attributes: td.requires_attributes.clone(),
        }
    }

    /// What one task of `td` reserves with the job's `overrides` (RunTask's TaskOverride):
    ///
    /// | override | task definition | reservation |
    /// |---|---|---|
    /// | task-level `cpu` / `memory` | any | the override |
    /// | container-level `cpu` / `memory` / `memoryReservation` | task-level size set | the task-level size (containers share it) |
    /// | container-level | no task-level size | the containers' sum, each container's override replacing its definition |
    /// | none | any | the task definition's reservation |
    pub fn of_job(td: &crate::model::TaskDefinition, overrides: Option<&Value>) -> JobNeeds {
        let mut needs = JobNeeds::of_task_definition(td);
        let containers = overrides
            .and_then(|o| o.get("containerOverrides"))
            .and_then(Value::as_array);
        if let Some(list) = containers.filter(|_| !td.containers.is_empty()) {
            let over = |name: &str, key: &str| -> Option<i64> {
                list.iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
                    .and_then(|c| c.get(key))
                    .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
            };
            if td.task_cpu.is_none() {
                needs.cpu = td
                    .containers
                    .iter()
                    .map(|c| over(&c.name, "cpu").unwrap_or(c.cpu))
                    .sum();
            }
            if td.task_memory.is_none() {
                needs.memory = td
                    .containers
                    .iter()
                    .map(|c| {
                        let reservation =
                            over(&c.name, "memoryReservation").or(c.memory_reservation);
                        let hard = over(&c.name, "memory").or(c.memory);
                        reservation.or(hard).unwrap_or(0)
                    })
                    .sum();
            }
        }
        needs_with_overrides(needs, overrides)
    }

    /// The task definition's `requiresAttributes` all on `host`.
    pub fn attributes_on(&self, host: &ecs_cluster_query::Host) -> bool {
        self.attributes
            .iter()
            .all(|a| match host.attributes.get(&a.name) {
                None => false,
                Some(have) => a.value.is_none() || have == &a.value,
            })
    }
}

/// Most transitions kept in a job's `history` (older ones are counted in
/// [`JobCounters::history_dropped`]): a job's item stays small however often it is refused or
/// retried (DynamoDB refuses items over 400 KB, and no retry fixes that).
pub const MAX_HISTORY: usize = 20;

/// Running totals that survive the history's trimming.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCounters {
    /// RunTask refusals in a row (`failures[]`, the PROVISIONING cap): the refusal backoff's
    /// exponent; reset when a task starts.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub refusals: u32,
    /// RunTask refusals in all.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub refused_total: u32,
    /// Runs stopped by something other than the job (spot, host gone, drainer, ...): re-queued
    /// without using an attempt.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub not_its_fault: u32,
    /// Transitions dropped from the front of `history`.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub history_dropped: u32,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// Exactly how the current launch was sent to RunTask, written with STARTING before the call:
/// a retry (a lost answer) repeats this very request under the same `clientToken`, since ECS
/// answers a token reused with other parameters with `ConflictException`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchRequest {
    /// The host pin: `memberOf(ec2InstanceId == ID)` added to the job's constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// Sent instead of the job's own strategy (one provider: the pinned host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<String>,
}

/// One state change, kept on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<JobState>,
    pub to: JobState,
    pub at: i64,
    pub reason: String,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: String,
    #[serde(flatten)]
    pub spec: RunTaskSpec,
    pub priority: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_seconds: Option<i64>,
    pub max_attempts: u32,
    pub needs: JobNeeds,
    pub state: JobState,
    /// Submission time (Unix seconds): the queue order after priority, kept across retries.
    pub submitted_at: i64,
    /// When the job last became QUEUED: `maxWaitSeconds` counts from here.
    pub queued_at: i64,
    /// Attempts used (a RunTask that started a task whose run counted).
    pub attempts: u32,
    /// RunTask calls made (each with its own `clientToken`), counting the ones that did not
    /// start a task (no room): the token of launch N is `JOBID/N`.
    pub launches: u32,
    /// Not before this time (retry backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    /// The reason of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Exit codes of the essential containers of the last run (`name=code`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<String>,
    pub updated_at: i64,
    /// Incremented by every write; the condition of the next one.
    pub revision: u64,
    #[serde(default)]
    pub history: Vec<Transition>,
    /// The schedule that submitted this run (`scheduleName`), and the tick it is for (Unix
    /// seconds, the Scheduler's `<aws.scheduler.scheduled-time>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<i64>,
    /// The task definition's containers marked `essential: false`: their exit codes never fail
    /// a run (task events and DescribeTasks do not say which containers are essential).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_essential: Vec<String>,
    /// The current launch's RunTask parameters (STARTING and after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchRequest>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub counters: JobCounters,
    /// A sweep found the RUNNING job's task MISSING at this time (DescribeTasks); a second sweep
    /// that finds it missing settles the run as "outcome unknown".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<i64>,
    /// The submitter's estimate of one run (`expectedSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seconds: Option<i64>,
    /// The task definition family's learned estimate when the job was submitted (a high
    /// percentile of its last finished runs), used when `expected_seconds` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_seconds: Option<i64>,
    /// `timeoutSeconds`: a run still going this long after it started is stopped and its
    /// attempt fails with that reason (AWS Batch's attempt timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
}

impl Job {
    /// The run-time estimate that orders work: `expectedSeconds`, else the family's learned
    /// estimate, else [`DEFAULT_EXPECTED_SECONDS`]. Estimates never stop a task.
    pub fn estimate_seconds(&self) -> i64 {
        self.expected_seconds
            .or(self.learned_seconds)
            .unwrap_or(DEFAULT_EXPECTED_SECONDS)
    }

    /// When the current run started: its last transition to RUNNING, else to STARTING (the
    /// task holds its room from RunTask on).
    pub fn run_started_at(&self) -> Option<i64> {
        let last = |state: JobState| {
            self.history
                .iter()
                .rev()
                .find(|t| t.to == state)
                .map(|t| t.at)
        };
        last(JobState::Running).or_else(|| last(JobState::Starting))
    }

    /// The RunTask `clientToken` of launch `launch`: `JOBID/LAUNCH` (≤ 64 characters).
    pub fn client_token(&self, launch: u32) -> String {
        format!("{}/{launch}", self.job_id)
    }

    /// The RunTask `startedBy` of launch `launch`: `ecs-autopilot/JOBID/LAUNCH` (≤ 128).
    pub fn started_by(&self, launch: u32) -> String {
        format!("{STARTED_BY_PREFIX}{}", self.client_token(launch))
    }

    /// The next state: appends the transition to the history, sets the reason and the times.
    /// The caller writes the result conditionally on the previous `revision`.
    pub fn transition(&self, to: JobState, reason: impl Into<String>, now: i64) -> Job {
        let reason = reason.into();
        let mut next = self.clone();
        next.history.push(Transition {
            from: Some(self.state),
            to,
            at: now,
            reason: reason.clone(),
        });
        if next.history.len() > MAX_HISTORY {
            let drop = next.history.len() - MAX_HISTORY;
            next.history.drain(..drop);
            next.counters.history_dropped =
                next.counters.history_dropped.saturating_add(drop as u32);
        }
        next.missing_since = None;
        next.state = to;
        next.reason = Some(reason);
        next.updated_at = now;
        next.revision = self.revision + 1;
        if to == JobState::Queued {
            next.queued_at = now;
        }
        next
    }

    /// The job's constraints and strategies for the placement simulator: its own plus its task
    /// definition's `memberOf` expressions (`random` uses the submission time as seed).
    pub fn rules(&self) -> Result<(Vec<Constraint>, Vec<Strategy>), PlacementError> {
        let (mut constraints, strategies) = rules(&self.spec, self.submitted_at as u64)?;
        let own: Vec<String> = self
            .needs
            .constraints
            .iter()
            .map(|e| format!("memberOf:{e}"))
            .collect();
        constraints.extend(placement::parse_constraints(&own)?);
        Ok((constraints, strategies))
    }

    /// The job's place in the queue as a string that sorts like the queue order (priority
    /// higher first, then submission time, then id): the live index's sort key.
    pub fn queue_key(&self) -> String {
        format!(
            "{:010}#{:020}#{}",
            u32::MAX - self.priority,
            i128::from(self.submitted_at) + i128::from(i64::MAX),
            self.job_id
        )
    }

    /// Seconds the job has waited since it last became QUEUED.
    pub fn waited(&self, now: i64) -> i64 {
        now.saturating_sub(self.queued_at).max(0)
    }
}

/// The job's constraints and strategies for the placement simulator, from RunTask's
/// `{type, expression}` / `{type, field}` shapes (`random` uses `seed`).
pub fn rules(
    spec: &RunTaskSpec,
    seed: u64,
) -> Result<(Vec<Constraint>, Vec<Strategy>), PlacementError> {
    let constraints: Vec<String> = spec
        .placement_constraints
        .iter()
        .map(|c| match &c.expression {
            Some(e) if c.kind.eq_ignore_ascii_case("memberOf") => format!("memberOf:{e}"),
            _ => c.kind.clone(),
        })
        .collect();
    let strategies: Vec<String> = spec
        .placement_strategy
        .iter()
        .map(|s| match &s.field {
            Some(f) => format!("{}:{f}", s.kind),
            None => s.kind.clone(),
        })
        .collect();
    Ok((
        placement::parse_constraints(&constraints)?,
        placement::parse_strategies(&strategies, seed)?,
    ))
}

/// Parses `ecs-autopilot/JOBID/LAUNCH` back into `(JOBID, LAUNCH)`.
pub fn parse_started_by(started_by: &str) -> Option<(&str, u32)> {
    let rest = started_by.strip_prefix(STARTED_BY_PREFIX)?;
    let (id, launch) = rest.rsplit_once('/')?;
    if id.is_empty() {
        return None;
    }
    Some((id, launch.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sub(v: Value) -> Result<Submission, SubmissionError> {
        let s = Submission::from_value(v)?;
        s.validate()?;
        Ok(s)
    }

    #[test]
    fn malformed_submissions_are_refused_with_a_reason() {
        let cases = [
            (json!({"cluster": "c"}), "taskDefinition"),
            (json!({"taskDefinition": "td"}), "cluster"),
            (
                json!({"cluster": "c", "taskDefinition": "td", "priority": -1}),
                "priority must be an integer ≥ 0",
            ),
            (
                json!({"cluster": "c", "taskDefinition": "td", "priority": 1.5}),
                "priority",
            ),
            (
                json!({"cluster": "c", "taskDefinition": "td", "jobId": "a b"}),
                "jobId",
            ),
            (
                json!({"cluster": "c", "taskDefinition": "td", "maxAttempts": 0}),
                "maxAttempts",
            ),
            (
                json!({"cluster": "c", "taskDefinition": "td",
                       "placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}]}),
                "placement",
            ),
            (json!("not an object"), "invalid job"),
        ];
        for (v, needle) in cases {
            let err = sub(v.clone()).expect_err("refused").to_string();
            assert!(err.contains(needle), "{v}: {err}");
        }
        assert!(sub(json!({"cluster": "c", "taskDefinition": "td", "priority": 7})).is_ok());
    }

    #[test]
    fn started_by_round_trips_and_fits_ecs_limits() {
        let s = sub(json!({"cluster": "c", "taskDefinition": "td", "jobId": "a".repeat(52)}))
            .expect("valid");
        let job = s.into_job("a".repeat(52), JobNeeds::default(), 5);
        assert!(job.client_token(u32::MAX).len() <= 64);
        assert!(job.started_by(u32::MAX).len() <= 128);
        assert_eq!(
            parse_started_by(&job.started_by(3)),
            Some(("a".repeat(52).as_str(), 3))
        );
        assert_eq!(parse_started_by("ecs-svc/123"), None);
        assert!(check_job_id(&"a".repeat(53)).is_err());
        assert_ne!(generate_job_id(1), generate_job_id(1));
        check_job_id(&generate_job_id(1_800_000_000)).expect("generated ids are valid");
    }

    #[test]
    fn transitions_keep_history_and_bump_the_revision() {
        let job = Submission {
            spec: RunTaskSpec {
                cluster: "c".into(),
                task_definition: "td".into(),
                ..RunTaskSpec::default()
            },
            ..Submission::default()
        }
        .into_job("j".into(), JobNeeds::default(), 10);
        let next = job.transition(JobState::Starting, "placed on i-1", 20);
        assert_eq!(next.revision, 2);
        assert_eq!(next.history.len(), 2);
        assert_eq!(next.history[1].from, Some(JobState::Queued));
        assert_eq!(next.queued_at, 10);
        let back = next.transition(JobState::Queued, "no room", 30);
        assert_eq!(back.queued_at, 30);
        assert_eq!(back.submitted_at, 10, "the queue order is kept");
    }

    #[test]
    fn overrides_replace_the_task_definition_sizes() {
        let n = needs_with_overrides(
            JobNeeds {
                cpu: 256,
                memory: 512,
                ..JobNeeds::default()
            },
            Some(&json!({"cpu": "1024", "memory": 2048})),
        );
        assert_eq!((n.cpu, n.memory), (1024, 2048));
    }

    #[test]
    fn container_overrides_change_a_task_without_task_level_size() {
        use crate::model::{Attribute, ContainerDefinition, PlacementConstraint, TaskDefinition};
        let container = |name: &str, cpu, memory, reservation, gpus| ContainerDefinition {
            name: name.into(),
            essential: name == "app",
            cpu,
            memory,
            memory_reservation: reservation,
            gpus,
        };
        let td = TaskDefinition {
            cpu: Some(384),
            memory: Some(640),
            containers: vec![
                container("app", 256, Some(512), None, 1),
                container("sidecar", 128, Some(256), Some(128), 0),
            ],
            placement_constraints: vec![PlacementConstraint {
                kind: "memberOf".into(),
                expression: Some("attribute:ecs.os-type == linux".into()),
            }],
            requires_attributes: vec![Attribute {
                name: "ecs.capability.gpu".into(),
                value: None,
            }],
            ..TaskDefinition::default()
        };
        // | no override | the definition's sums |
        let n = JobNeeds::of_job(&td, None);
        assert_eq!((n.cpu, n.memory, n.gpus), (384, 640, 1));
        assert_eq!(n.constraints, ["attribute:ecs.os-type == linux"]);
        assert_eq!(n.attributes.len(), 1);
        // | container-level, no task-level size | each container's override replaces its own |
        let o = json!({"containerOverrides": [{"name": "app", "cpu": 1024, "memory": 4096},
                                              {"name": "sidecar", "memoryReservation": 64}]});
        let n = JobNeeds::of_job(&td, Some(&o));
        assert_eq!((n.cpu, n.memory), (1024 + 128, 4096 + 64));
        // | container-level, task-level size set | the task-level size |
        let sized = TaskDefinition {
            task_cpu: Some(2048),
            task_memory: Some(4096),
            cpu: Some(2048),
            memory: Some(4096),
            ..td.clone()
        };
        let n = JobNeeds::of_job(&sized, Some(&o));
        assert_eq!((n.cpu, n.memory), (2048, 4096));
        // | task-level override | the override |
        let n = JobNeeds::of_job(&td, Some(&json!({"memory": "8192"})));
        assert_eq!(n.memory, 8192);
    }

    #[test]
    fn history_is_bounded_and_counts_what_it_dropped() {
        let mut job = crate::testing::job("j");
        for i in 0..100 {
            let to = if i % 2 == 0 {
                JobState::Starting
            } else {
                JobState::Queued
            };
            job = job.transition(to, format!("step {i}"), i);
        }
        assert_eq!(job.history.len(), MAX_HISTORY);
        assert_eq!(job.counters.history_dropped, 101 - MAX_HISTORY as u32);
        assert_eq!(
            job.history.last().map(|t| t.reason.as_str()),
            Some("step 99")
        );
        assert!(serde_json::to_string(&job).map(|s| s.len()).unwrap_or(0) < 4096);
    }
}
