//! The dispatcher service: reads the cluster's jobs (one Query) and hosts (the capacity table, or
//! ECS), decides ([`decide`](mod@crate::dispatch::decide)), starts what fits and records every
//! job considered. Every job transition is a conditional write on the revision the wake-up read.
//!
//! Every job transition is decided by [`crate::dispatch::lifecycle`] (its table of cases); this
//! service reads, calls ECS and writes what it decides.
//!
//! Exactly once per launch: QUEUED → STARTING is written **before** RunTask, with the launch
//! number that names the `clientToken` and `startedBy` and the exact request
//! ([`LaunchRequest`](crate::job::LaunchRequest): host pin, strategy); a STARTING job found by a
//! later wake-up (a lost answer, a crash) is reconciled by `ListTasks(startedBy)` first and, when
//! ECS lists no such task, sent the identical request again under the same token (ECS then
//! returns the task the token started, or `ConflictException` naming it: adopted). A retryable
//! RunTask error leaves the job STARTING and fails the invocation, so the retry reconciles it.
//! RUNNING jobs are checked on the sweep by DescribeTasks of their stored task ARNs, 100 per
//! call.
//!
//! This file holds the service itself (its limits, errors, constructors, the conditional job
//! write and cancel); its paths are beside it in `dispatch/`: `submit.rs` (submissions and
//! schedule ticks), `host_read.rs` (the hosts and daemon reservations a decision sees),
//! `wake.rs` (a wake-up, the sweep, scaling, the dry run) and `launch.rs` (RunTask exactly once,
//! reconciling STARTING and RUNNING jobs, task events).

use thiserror::Error;

pub use super::submit::{retry_job_id, schedule_key, SubmitReads, SubmitResult};
pub use super::wake::idle_clock_key;

use crate::dispatch::config::DispatchConfig;
use crate::dispatch::estimate::{estimate_key, family_of, FamilyRuns};
use crate::dispatch::lifecycle::{next_job, Observation};
use crate::dispatch::report::{JobAction, JobRecord};
use crate::job::{Job, JobState};
use crate::ports::capacity_store::{CapacityStore, StoreError};
use crate::ports::ecs::{EcsError, EcsRead, EcsWrite};
use crate::ports::job_store::{ControlItem, JobStore, JobStoreError, Replaced};
use crate::ports::scale_group::{AutoScalingError, NoScaleGroup, ScaleGroup};
use crate::ports::task_launcher::TaskLauncher;
use crate::retry::Retryable;

/// RunTask calls per wake-up at most: ECS refills cluster resource writes at 40 per second
/// (burst 100) per account and region; the rest start on the next wake-up.
pub const MAX_LAUNCHES_PER_WAKE: usize = 20;
/// Largest job item the dispatcher writes (bytes of its JSON): DynamoDB refuses items over
/// 400 KB with a ValidationException no retry fixes; a submission over
/// [`MAX_SUBMITTED_JOB_BYTES`] is refused, and a stored job whose next write would pass this is
/// left out of the wake-up (reported) so that it never blocks the jobs behind it.
pub const MAX_JOB_ITEM_BYTES: usize = 380_000;
/// Largest submission accepted (bytes of the stored job's JSON).
pub const MAX_SUBMITTED_JOB_BYTES: usize = 64 * 1024;
/// StopTask reason when a running job is cancelled.
pub const CANCEL_STOP_REASON: &str = "ecs-autopilot task-dispatcher: job cancelled";

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DispatchError {
    /// The request itself is wrong (a malformed submission, a role it may not pass): nothing was
    /// written and a retry cannot fix it.
    #[error("{0}")]
    Invalid(String),
    /// The request names what ECS or the jobs table does not have (an unknown cluster or job):
    /// nothing was written and a retry cannot fix it.
    #[error("{0}")]
    NotFound(String),
    /// ECS refused to describe the submission's task definition (it does not exist, or
    /// AccessDenied): nothing was written and a retry cannot fix it.
    #[error("invalid job: task definition {task_definition}: {source}")]
    TaskDefinition {
        task_definition: String,
        source: EcsError,
    },
    #[error(transparent)]
    Store(#[from] JobStoreError),
    #[error(transparent)]
    Ecs(#[from] EcsError),
    #[error("capacity table: {0}")]
    Capacity(#[from] StoreError),
    #[error(transparent)]
    ScaleGroup(#[from] AutoScalingError),
    /// Retryable failures of a wake-up (the report was logged).
    #[error("wake-up incomplete: {0}")]
    Incomplete(String),
}

impl Retryable for DispatchError {
    fn is_retryable(&self) -> bool {
        match self {
            DispatchError::Invalid(_)
            | DispatchError::NotFound(_)
            | DispatchError::TaskDefinition { .. } => false,
            DispatchError::Store(e) => e.is_retryable(),
            DispatchError::Ecs(e) => e.is_retryable(),
            DispatchError::ScaleGroup(e) => e.is_retryable(),
            DispatchError::Capacity(e) => e.is_retryable(),
            DispatchError::Incomplete(_) => true,
        }
    }
}

/// What a [`Dispatcher`] needs of ECS: its reads and writes, and RunTask.
pub trait DispatchEcs: EcsRead + EcsWrite + TaskLauncher {}

impl<T: EcsRead + EcsWrite + TaskLauncher> DispatchEcs for T {}

pub struct Dispatcher<S, E, C, G = NoScaleGroup> {
    pub(super) store: S,
    pub(super) ecs: E,
    pub(super) capacity: Option<C>,
    pub(super) group: G,
    pub(super) config: DispatchConfig,
    /// The decision line last logged per job (a hash of its action and reason), for this
    /// execution environment: a job that waits for the same reason is not logged again.
    pub(super) logged: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl<S, E, C> Dispatcher<S, E, C, NoScaleGroup> {
    pub fn new(store: S, ecs: E, capacity: Option<C>, config: DispatchConfig) -> Self {
        Dispatcher {
            store,
            ecs,
            capacity,
            group: NoScaleGroup,
            config,
            logged: Default::default(),
        }
    }

    /// The same dispatcher with the owned group's port (`SCALE_GROUP`).
    pub fn with_scale_group<G: ScaleGroup>(self, group: G) -> Dispatcher<S, E, C, G> {
        Dispatcher {
            store: self.store,
            ecs: self.ecs,
            capacity: self.capacity,
            group,
            config: self.config,
            logged: self.logged,
        }
    }
}

impl<S: JobStore, E: DispatchEcs, C: CapacityStore, G: ScaleGroup> Dispatcher<S, E, C, G> {
    pub fn scale_group(&self) -> &G {
        &self.group
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn ecs(&self) -> &E {
        &self.ecs
    }

    /// The capacity table, when hosts are read from it.
    pub fn capacity(&self) -> Option<&C> {
        self.capacity.as_ref()
    }

    pub fn config(&self) -> &DispatchConfig {
        &self.config
    }

    /// Records a succeeded run's length in its family's item (read, then a conditional write).
    /// Best effort: estimates only order work, so a failure here is logged and never fails the
    /// outcome that was already written (a lost sample is one of twenty).
    pub(super) async fn learn_run(&self, job: &Job, now: i64) {
        let Some(started) = job.run_started_at() else {
            return;
        };
        let family = family_of(&job.spec.task_definition).to_string();
        let key = estimate_key(&family);
        let outcome: Result<Replaced, DispatchError> = async {
            let stored = self.store.get_control(&key).await?;
            let mut runs = stored
                .as_ref()
                .and_then(|c| serde_json::from_value::<FamilyRuns>(c.body.clone()).ok())
                .unwrap_or_else(|| FamilyRuns {
                    family: family.clone(),
                    runs: Vec::new(),
                });
            runs.record(now.saturating_sub(started));
            let body = serde_json::to_value(&runs)
                .map_err(|e| DispatchError::Invalid(format!("estimate item: {e}")))?;
            self.replace_control(key.clone(), body, stored.as_ref())
                .await
        }
        .await;
        if !matches!(outcome, Ok(Replaced::Written)) {
            crate::log::json_line(
                "WARN",
                "task-dispatcher run length not recorded",
                &serde_json::json!({"jobId": job.job_id, "family": family,
                    "error": outcome.err().map(|e| e.to_string())
                        .unwrap_or_else(|| "another writer updated the family first".into())}),
            );
        }
    }

    /// Writes a control item's next revision, only if `stored` is still the stored one (or, with
    /// `None`, only if the key is still new).
    pub(super) async fn replace_control(
        &self,
        key: String,
        body: serde_json::Value,
        stored: Option<&ControlItem>,
    ) -> Result<Replaced, DispatchError> {
        let item = ControlItem::next(key, body, stored);
        Ok(self
            .store
            .put_control(&item, stored.map(|c| c.revision))
            .await?)
    }

    /// Cancels a job: QUEUED → CANCELLED; a STARTING or RUNNING job's task is stopped first.
    /// A terminal job is returned as it is.
    pub async fn cancel(&self, job_id: &str, now: i64) -> Result<Job, DispatchError> {
        let Some(job) = self.store.get(job_id).await? else {
            return Err(DispatchError::NotFound(format!("no job {job_id}")));
        };
        if job.state.is_terminal() {
            return Ok(job);
        }
        if let Some(task) = job.task_arn.as_deref() {
            self.ecs
                .stop_task(&job.spec.cluster, task, CANCEL_STOP_REASON)
                .await?;
        }
        self.observe(&job, &Observation::Cancelled, now).await
    }

    /// One conditional write; `Conflict` means someone else moved the job first.
    pub(super) async fn write(&self, from: &Job, to: &Job) -> Result<Replaced, DispatchError> {
        let mut to = to.clone();
        if to.state.is_terminal() {
            to.not_before = None;
        }
        match self.store.replace(&to, from.revision).await? {
            Replaced::Written => Ok(Replaced::Written),
            Replaced::Conflict => Ok(Replaced::Conflict),
        }
    }

    /// What `observation` does to `job` ([`next_job`]), written conditionally: the job as it
    /// is now (the stored one when another invocation moved it first).
    pub(super) async fn observe(
        &self,
        job: &Job,
        observation: &Observation,
        now: i64,
    ) -> Result<Job, DispatchError> {
        let Some(next) = next_job(job, observation, now) else {
            return Ok(job.clone());
        };
        match self.write(job, &next).await? {
            Replaced::Written => {
                if next.state == JobState::Succeeded && job.state != JobState::Succeeded {
                    self.learn_run(&next, now).await;
                }
                Ok(next)
            }
            Replaced::Conflict => Ok(self
                .store
                .get(&job.job_id)
                .await?
                .unwrap_or_else(|| job.clone())),
        }
    }
}

pub(super) fn base_record(cluster: &str, job: &Job, action: JobAction) -> JobRecord {
    JobRecord {
        cluster: cluster.to_string(),
        job_id: job.job_id.clone(),
        priority: job.priority,
        action,
        host: None,
        ec2_instance_id: None,
        task_arn: job.task_arn.clone(),
        reason: job.reason.clone(),
        blocked_by: None,
        reserves: false,
        never_fits: false,
        waited_seconds: 0,
        hosts_short: None,
        queue_depth: 0,
        expected_start: None,
        reservation: None,
    }
}

/// The record of a job a reconcile moved.
pub(super) fn reconciled(cluster: &str, job: &Job) -> JobRecord {
    base_record(cluster, job, JobAction::Reconciled)
}

/// The record of a job whose step failed with an error a retry cannot fix: reported, and the
/// wake-up goes on.
pub(super) fn error_record(cluster: &str, job: &Job, e: &DispatchError) -> JobRecord {
    let mut r = base_record(cluster, job, JobAction::Unknown);
    r.reason = Some(format!("not recorded: {e}"));
    r
}
