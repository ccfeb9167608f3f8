//! The dispatcher service: reads the cluster's jobs (one Query) and hosts (the capacity table, or
//! ECS), decides ([`crate::dispatch::decide`]), starts what fits and records every job
//! considered. Every job transition is a conditional write on the revision the wake-up read.
//!
//! Every job transition is decided by [`crate::dispatch::lifecycle`] (its table of cases); this
//! service reads, calls ECS and writes what it decides.
//!
//! Exactly once per launch: QUEUED → STARTING is written **before** RunTask, with the launch
//! number that names the `clientToken` and `startedBy` and the exact request
//! ([`LaunchRequest`]: host pin, strategy); a STARTING job found by a later wake-up (a lost
//! answer, a crash) is reconciled by `ListTasks(startedBy)` first and, when ECS lists no such
//! task, sent the identical request again under the same token (ECS then returns the task the
//! token started, or `ConflictException` naming it: adopted). A retryable RunTask error leaves
//! the job STARTING and fails the invocation, so the retry reconciles it. RUNNING jobs are
//! checked on the sweep by DescribeTasks of their stored task ARNs, 100 per call.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::arn::{cluster_name, same_cluster_name};
use crate::capacity::{instance_to_record, query_hosts, task_to_record, HostSelection, Record};
use crate::dispatch::config::DispatchConfig;
use crate::dispatch::decide::{
    decide, discount_unrecorded_launches, Action, DaemonReservation, DispatchHost, JobDecision,
    Plan,
};
use crate::dispatch::estimate::{estimate_key, family_of, FamilyRuns};
use crate::dispatch::lifecycle::{next_job, timeout_stop_reason, Observation, StoppedRun};
use crate::dispatch::report::{JobAction, JobRecord, ScaleReport, WakeReport};
use crate::dispatch::scale::{decide_scale, provision, GroupControl, ScaleInput};
use crate::dispatch::schedule::{
    decide_tick, missed_tick, schedules_partition, LastRun, ScheduleControl, Tick,
};
use crate::events::TaskStateChange;
use crate::job::{
    generate_job_id, parse_started_by, schedule_job_id, Job, JobNeeds, JobState, LaunchRequest,
    Overlap, Submission,
};
use crate::ports::capacity_store::{CapacityStore, ItemKind, ItemQuery, StoreError};
use crate::ports::ecs::{DesiredStatus, EcsError, EcsRead, EcsWrite};
use crate::ports::job_store::{ControlItem, Created, JobStore, JobStoreError, Replaced};
use crate::ports::scale_group::{
    AutoScalingError, GroupState, NoScaleGroup, ScaleGroup, Terminated,
};
use crate::ports::task_launcher::{
    is_provisioning_cap, ContainerExit, LaunchedTask, RunTaskOutcome, TaskLauncher,
};
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
    /// The request itself is wrong (malformed submission, unknown cluster, unknown job): nothing
    /// was written and a retry cannot fix it.
    #[error("{0}")]
    Invalid(String),
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
            DispatchError::Invalid(_) => false,
            DispatchError::Store(e) => e.is_retryable(),
            DispatchError::Ecs(e) => e.is_retryable(),
            DispatchError::ScaleGroup(e) => e.is_retryable(),
            DispatchError::Capacity(e) => e.is_retryable(),
            DispatchError::Incomplete(_) => true,
        }
    }
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SubmitResult {
    pub job: Job,
    /// The job id existed: nothing was written, the stored job is returned.
    pub duplicate: bool,
    /// A periodic tick not run (overlap, or covered by a catch-up run): the SKIPPED record's
    /// reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The control item key of a schedule's last run.
pub fn schedule_key(schedule: &str) -> String {
    format!("schedule#{schedule}")
}

/// What the submissions of one batch share, read once per batch instead of once per message: a
/// cluster that exists, a task definition, a family's learned estimate. A batch of 100
/// submissions to one cluster makes one DescribeClusters, not 100 (ECS throttles its cluster
/// reads per account and Region). Only answers are kept: a refusal or an error is read again.
/// Lives no longer than the batch (a task definition deregistered later is seen by the next).
#[derive(Debug, Default)]
pub struct SubmitReads {
    clusters: BTreeSet<String>,
    task_definitions: BTreeMap<String, crate::model::TaskDefinition>,
    estimates: BTreeMap<String, Option<i64>>,
}

/// What a schedule's tick carries besides its job.
struct TickMeta {
    overlap: Overlap,
    period: Option<i64>,
    /// The submission to replay for a missed tick ([`replayable`]).
    replay: Option<serde_json::Value>,
    /// The sweep's run of a missed tick.
    catch_up: bool,
}

/// A periodic submission as the sweep replays it: without its `jobId` (derived from the tick)
/// and `scheduledTime` (the missed tick's).
fn replayable(submission: &serde_json::Value) -> serde_json::Value {
    let mut replay = submission.clone();
    if let Some(o) = replay.as_object_mut() {
        o.remove("jobId");
        o.remove("scheduledTime");
    }
    replay
}

pub struct Dispatcher<S, E, C, G = NoScaleGroup> {
    store: S,
    ecs: E,
    capacity: Option<C>,
    group: G,
    config: DispatchConfig,
    /// The decision line last logged per job (a hash of its action and reason), for this
    /// execution environment: a job that waits for the same reason is not logged again.
    logged: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

/// What makes a job's decision line worth logging again.
fn decision_fingerprint(r: &JobRecord) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        format!("{:?}", r.action),
        &r.reason,
        &r.blocked_by,
        &r.host,
        &r.task_arn,
    )
        .hash(&mut h);
    h.finish()
}

/// The control item key of the owned group's idle clock.
pub fn idle_clock_key(group: &str) -> String {
    format!("scale-group#{group}")
}

/// The job id of a submission without `jobId`: derived from what a retry of the same delivery
/// keeps (Lambda's async retries keep the invocation's request id), so a retried invocation
/// finds the job it already stored instead of storing a second one.
pub fn retry_job_id(retry_key: &str) -> String {
    let clean: String = retry_key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(crate::job::MAX_JOB_ID_LEN - 4)
        .collect();
    format!("req-{clean}")
}

/// Every `overrides.containerOverrides[].name` is a container of the task definition: ECS would
/// refuse the RunTask (maybe hours later, when the job's turn comes), so the submission is
/// refused now.
fn check_container_overrides(
    td: &crate::model::TaskDefinition,
    overrides: Option<&serde_json::Value>,
) -> Result<(), DispatchError> {
    let Some(list) = overrides
        .and_then(|o| o.get("containerOverrides"))
        .and_then(serde_json::Value::as_array)
    else {
        return Ok(());
    };
    if td.containers.is_empty() {
        return Ok(());
    }
    for (i, c) in list.iter().enumerate() {
        let name = c
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        if !td.containers.iter().any(|d| d.name == name) {
            let known: Vec<&str> = td.containers.iter().map(|d| d.name.as_str()).collect();
            return Err(DispatchError::Invalid(format!(
                "invalid job: `job.overrides.containerOverrides[{i}].name` {name:?} is not a \
                 container of task definition {} (it has {})",
                td.arn,
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// A job's stored size (its JSON), as the jobs table's `job` attribute holds it.
fn item_bytes(job: &Job) -> usize {
    serde_json::to_string(job).map_or(usize::MAX, |s| s.len())
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

impl<S, E, C, G> Dispatcher<S, E, C, G>
where
    S: JobStore,
    E: EcsRead + EcsWrite + TaskLauncher,
    C: CapacityStore,
    G: ScaleGroup,
{
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

    /// Validates and stores a submission (nothing is written when it is invalid); a known
    /// `jobId` returns the stored job. Then wakes the cluster so the job can start at once.
    ///
    /// Once the job is stored the submission has succeeded: a wake-up that fails afterwards is
    /// logged, not returned, so a retried invocation cannot create a second job from a
    /// submission without `jobId` (the sweep, a minute later, reconciles whatever that wake-up
    /// left STARTING).
    pub async fn submit(
        &self,
        job: serde_json::Value,
        now: i64,
    ) -> Result<(SubmitResult, Option<WakeReport>), DispatchError> {
        self.submit_keyed(job, now, None).await
    }

    /// [`Dispatcher::submit`] where `retry_key` (the invocation's request id, which Lambda keeps
    /// across its async retries) names the job when the submission has no `jobId`
    /// ([`retry_job_id`]): a retried invocation finds the job it stored.
    pub async fn submit_keyed(
        &self,
        job: serde_json::Value,
        now: i64,
        retry_key: Option<&str>,
    ) -> Result<(SubmitResult, Option<WakeReport>), DispatchError> {
        let result = self.enqueue_keyed(job, now, retry_key).await?;
        if result.duplicate || result.skipped.is_some() {
            return Ok((result, None));
        }
        match self.wake(&result.job.spec.cluster, "submit", now).await {
            Ok(wake) => Ok((result, Some(wake))),
            Err(e) => {
                tracing::warn!(job = %result.job.job_id, error = %e, "stored; the wake-up after it failed");
                Ok((result, None))
            }
        }
    }

    /// [`Dispatcher::submit`] without the wake-up (`jobs submit` from a laptop: the function
    /// starts the job on its next event or sweep).
    pub async fn enqueue(
        &self,
        job: serde_json::Value,
        now: i64,
    ) -> Result<SubmitResult, DispatchError> {
        self.enqueue_keyed(job, now, None).await
    }

    /// [`Dispatcher::enqueue`] where `retry_key` names a job without `jobId` (an SQS message
    /// id, an EventBridge event id, a request id: what a redelivery keeps).
    pub async fn enqueue_keyed(
        &self,
        job: serde_json::Value,
        now: i64,
        retry_key: Option<&str>,
    ) -> Result<SubmitResult, DispatchError> {
        let mut reads = SubmitReads::default();
        self.enqueue_as(job, now, retry_key, false, &mut reads)
            .await
    }

    /// [`Dispatcher::enqueue_keyed`] for one submission of a batch: `reads` carries what the
    /// batch's submissions share, read once.
    pub async fn enqueue_batched(
        &self,
        job: serde_json::Value,
        now: i64,
        retry_key: Option<&str>,
        reads: &mut SubmitReads,
    ) -> Result<SubmitResult, DispatchError> {
        self.enqueue_as(job, now, retry_key, false, reads).await
    }

    /// [`Dispatcher::enqueue_keyed`]; `catch_up`: the sweep's run of a missed tick.
    async fn enqueue_as(
        &self,
        job: serde_json::Value,
        now: i64,
        retry_key: Option<&str>,
        catch_up: bool,
        reads: &mut SubmitReads,
    ) -> Result<SubmitResult, DispatchError> {
        // A periodic submission with a period is kept (without its id and tick) for the sweep
        // to replay when a tick never arrives.
        let replay = job
            .get("schedulePeriodSeconds")
            .is_some()
            .then(|| replayable(&job));
        let mut sub =
            Submission::from_value(job).map_err(|e| DispatchError::Invalid(e.to_string()))?;
        sub.validate()
            .map_err(|e| DispatchError::Invalid(e.to_string()))?;
        let overlap = sub
            .overlap_policy()
            .map_err(|e| DispatchError::Invalid(e.to_string()))?;
        if let (Some(name), None) = (&sub.schedule_name, &sub.job_id) {
            sub.job_id = Some(schedule_job_id(name, sub.tick(now)));
        }
        if let (None, Some(key)) = (&sub.job_id, retry_key) {
            sub.job_id = Some(retry_job_id(key));
        }
        if let Some(id) = &sub.job_id {
            if let Some(existing) = self.store.get(id).await? {
                return Ok(SubmitResult {
                    job: existing,
                    duplicate: true,
                    skipped: None,
                });
            }
        }
        if !reads.clusters.contains(&sub.spec.cluster) {
            match self.ecs.cluster_default_strategy(&sub.spec.cluster).await {
                Ok(_) => {
                    reads.clusters.insert(sub.spec.cluster.clone());
                }
                Err(EcsError::ClusterNotFound { cluster }) => {
                    return Err(DispatchError::Invalid(format!(
                        "invalid job: unknown cluster {cluster}"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let td = match reads.task_definitions.get(&sub.spec.task_definition) {
            Some(td) => td.clone(),
            None => match self.ecs.task_definition(&sub.spec.task_definition).await {
                Ok(td) => {
                    reads
                        .task_definitions
                        .insert(sub.spec.task_definition.clone(), td.clone());
                    td
                }
                Err(e) if !e.is_retryable() => {
                    return Err(DispatchError::Invalid(format!(
                        "invalid job: task definition {}: {e}",
                        sub.spec.task_definition
                    )))
                }
                Err(e) => return Err(e.into()),
            },
        };
        check_container_overrides(&td, sub.spec.overrides.as_ref())?;
        // Roles the function may not pass would fail RunTask (AccessDenied): refuse now.
        if let Some(reason) = self
            .config
            .pass_roles
            .refusal(&td, sub.spec.overrides.as_ref())
        {
            return Err(DispatchError::Invalid(reason));
        }
        let needs = JobNeeds::of_job(&td, sub.spec.overrides.as_ref());
        let period = sub.schedule_period_seconds;
        let job_id = sub.job_id.clone().unwrap_or_else(|| generate_job_id(now));
        let mut job = sub.into_job(job_id, needs, now);
        job.non_essential = td
            .containers
            .iter()
            .filter(|c| !c.essential)
            .map(|c| c.name.clone())
            .collect();
        if job.expected_seconds.is_none() {
            let family = family_of(&job.spec.task_definition).to_string();
            job.learned_seconds = match reads.estimates.get(&family) {
                Some(known) => *known,
                None => {
                    let learned = self.learned_estimate(&family).await?;
                    reads.estimates.insert(family, learned);
                    learned
                }
            };
        }
        let bytes = item_bytes(&job);
        if bytes > MAX_SUBMITTED_JOB_BYTES {
            return Err(DispatchError::Invalid(format!(
                "invalid job: {bytes} bytes stored, at most {MAX_SUBMITTED_JOB_BYTES} (DynamoDB \
                 items are at most 400 KB, and a job's item grows with its history)"
            )));
        }
        if let Some(name) = job.schedule_name.clone() {
            let meta = TickMeta {
                overlap,
                period,
                replay,
                catch_up,
            };
            return self.enqueue_tick(job, &name, meta, now).await;
        }
        self.create(job, None).await
    }

    async fn create(
        &self,
        job: Job,
        skipped: Option<String>,
    ) -> Result<SubmitResult, DispatchError> {
        Ok(match self.store.create(&job).await? {
            Created::Created => SubmitResult {
                job,
                duplicate: false,
                skipped,
            },
            Created::Exists(existing) => SubmitResult {
                job: *existing,
                duplicate: true,
                skipped: None,
            },
        })
    }

    /// One tick of a schedule ([`decide_tick`]): the run, or a SKIPPED record. The schedule's
    /// last run is written (conditionally) before the run's job, so a crash between the two is
    /// repaired by the retry (the item names this very tick: it runs).
    async fn enqueue_tick(
        &self,
        job: Job,
        schedule: &str,
        meta: TickMeta,
        now: i64,
    ) -> Result<SubmitResult, DispatchError> {
        let overlap = meta.overlap;
        let key = schedule_key(schedule);
        let stored = self.store.get_control(&key).await?;
        let last: Option<LastRun> = stored
            .as_ref()
            .and_then(|c| serde_json::from_value::<ScheduleControl>(c.body.clone()).ok())
            .and_then(|c| c.last_run);
        let tick = job.scheduled_time.unwrap_or(now);
        let previous = match &last {
            Some(l) if l.job_id != job.job_id => self.store.get(&l.job_id).await?,
            _ => None,
        };
        let decision = decide_tick(schedule, tick, last.as_ref(), previous.as_ref(), overlap);
        crate::log::json_line(
            "INFO",
            "task-dispatcher schedule tick",
            &serde_json::json!({
                "schedule": schedule,
                "jobId": job.job_id,
                "tick": crate::clock::format_unix(tick),
                "decision": decision,
            }),
        );
        match decision {
            Tick::Skip(reason) => {
                let skipped = job.transition(JobState::Skipped, reason.clone(), now);
                self.create(skipped, Some(reason)).await
            }
            Tick::Run => {
                if last.as_ref().map(|l| l.job_id.as_str()) != Some(job.job_id.as_str()) {
                    let last_run = LastRun {
                        job_id: job.job_id.clone(),
                        tick,
                        submitted_at: now,
                        catch_up: meta.catch_up,
                    };
                    let stored_control = stored.as_ref().and_then(|c| {
                        serde_json::from_value::<ScheduleControl>(c.body.clone()).ok()
                    });
                    let cluster = cluster_name(&job.spec.cluster).to_string();
                    // A catch-up keeps what the schedule's own submission set.
                    let control = match (meta.period, stored_control) {
                        (Some(period), _) if !meta.catch_up => ScheduleControl {
                            schedule: schedule.to_string(),
                            last_run: Some(last_run),
                            cluster: Some(cluster),
                            period_seconds: Some(period),
                            submission: meta.replay,
                        },
                        (_, Some(previous)) if meta.catch_up => ScheduleControl {
                            last_run: Some(last_run),
                            ..previous
                        },
                        _ => ScheduleControl {
                            schedule: schedule.to_string(),
                            last_run: Some(last_run),
                            ..ScheduleControl::default()
                        },
                    };
                    let listed = (control.period_seconds.is_some())
                        .then(|| control.cluster.as_deref().map(schedules_partition))
                        .flatten();
                    let body = serde_json::to_value(&control).map_err(|e| {
                        DispatchError::Invalid(format!("schedule control item: {e}"))
                    })?;
                    let item = ControlItem::next(key, body, stored.as_ref()).listed_under(listed);
                    let written = self
                        .store
                        .put_control(&item, stored.as_ref().map(|c| c.revision))
                        .await?;
                    if written == Replaced::Conflict {
                        return Err(DispatchError::Incomplete(format!(
                            "schedule {schedule}: another submission moved its last run first; \
                             retry"
                        )));
                    }
                }
                self.create(job, None).await
            }
        }
    }

    /// The sweep's runs of missed ticks of the cluster's schedules ([`missed_tick`]): one Query of
    /// the schedules listed under the cluster, and for a late one a consistent re-read of its
    /// control item, then its submission replayed for the missed tick through the usual path
    /// ([`decide_tick`]: overlap still applies). A schedule whose submission no longer passes
    /// (its task definition deregistered) is logged and left alone. Returns the job ids created.
    async fn catch_up_schedules(
        &self,
        cluster: &str,
        now: i64,
    ) -> Result<Vec<String>, DispatchError> {
        let listed = self
            .store
            .listed_controls(&schedules_partition(cluster))
            .await?;
        let mut created = Vec::new();
        let mut reads = SubmitReads::default();
        for item in listed {
            let late = serde_json::from_value::<ScheduleControl>(item.body.clone())
                .ok()
                .filter(|c| missed_tick(c, now).is_some());
            let Some(late) = late else { continue };
            // The index lags: act on the item as it is now.
            let Some(current) = self.store.get_control(&item.key).await? else {
                continue;
            };
            let Ok(control) = serde_json::from_value::<ScheduleControl>(current.body) else {
                continue;
            };
            let (Some(tick), Some(mut submission)) =
                (missed_tick(&control, now), control.submission.clone())
            else {
                continue;
            };
            if let Some(o) = submission.as_object_mut() {
                o.insert(
                    "scheduledTime".into(),
                    serde_json::Value::String(crate::clock::format_unix(tick)),
                );
            }
            let outcome = self
                .enqueue_as(submission, now, None, true, &mut reads)
                .await;
            let line = serde_json::json!({
                "schedule": late.schedule,
                "missedTick": crate::clock::format_unix(tick),
                "lastTick": control.last_run.as_ref().map(|l| crate::clock::format_unix(l.tick)),
                "periodSeconds": control.period_seconds,
            });
            match outcome {
                // Already there (created by an earlier sweep and skipped for overlap): quiet.
                Ok(r) if r.duplicate => {}
                Ok(r) => {
                    crate::log::json_line(
                        "WARN",
                        "task-dispatcher missed schedule tick created",
                        &serde_json::json!({"tick": line, "jobId": r.job.job_id,
                                            "skipped": r.skipped}),
                    );
                    created.push(r.job.job_id);
                }
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => crate::log::json_line(
                    "ERROR",
                    "task-dispatcher missed schedule tick refused",
                    &serde_json::json!({"tick": line, "error": e.to_string()}),
                ),
            }
        }
        Ok(created)
    }

    /// The family's learned run-time estimate ([`crate::dispatch::estimate`]): one GetItem. An
    /// unreadable item counts as none (the default applies).
    async fn learned_estimate(&self, family: &str) -> Result<Option<i64>, DispatchError> {
        let key = estimate_key(family);
        let Some(item) = self.store.get_control(&key).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_value::<FamilyRuns>(item.body)
            .ok()
            .and_then(|f| f.estimate()))
    }

    /// Records a succeeded run's length in its family's item (read, then a conditional write).
    /// Best effort: estimates only order work, so a failure here is logged and never fails the
    /// outcome that was already written (a lost sample is one of twenty).
    async fn learn_run(&self, job: &Job, now: i64) {
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
    async fn replace_control(
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
            return Err(DispatchError::Invalid(format!("no job {job_id}")));
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
    async fn write(&self, from: &Job, to: &Job) -> Result<Replaced, DispatchError> {
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
    async fn observe(
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

    /// The hosts decide sees: schedulable hosts from the capacity table (less the room of
    /// `jobs` launched since each host item was written: [`discount_unrecorded_launches`]), else
    /// from ECS; with the EC2 ids of every container instance of the cluster (any status).
    /// Hosts carry their capacity provider and whether a job without launch type or strategy
    /// may land there (the cluster's default strategy, read only when a host has a provider).
    async fn hosts(
        &self,
        cluster: &str,
        jobs: &[Job],
        now: i64,
    ) -> Result<(Vec<DispatchHost>, BTreeSet<String>), DispatchError> {
        let records: Vec<Record> = match &self.capacity {
            // Only what placement needs: the live hosts (the table's live index: no tombstone or
            // expired item is read), and live tasks only for daemon headroom.
            Some(table) => {
                let mut records = table
                    .records(ItemQuery::live(cluster, ItemKind::Hosts, now))
                    .await?;
                if !self.config.daemon_services.is_empty() {
                    records.extend(
                        table
                            .records(ItemQuery::live(cluster, ItemKind::Tasks, now))
                            .await?,
                    );
                }
                records
            }
            None => {
                let mut records: Vec<Record> = self
                    .ecs
                    .container_instances(cluster)
                    .await?
                    .into_iter()
                    .map(|ci| instance_to_record(cluster, ci, None, now))
                    .collect();
                if !self.config.daemon_services.is_empty() {
                    // Task groups on each host, so daemon headroom sees where daemons run.
                    let mut tasks = Vec::new();
                    let mut next: Option<String> = None;
                    loop {
                        let page = self
                            .ecs
                            .list_task_arns(cluster, DesiredStatus::Running, next.as_deref())
                            .await?;
                        if !page.arns.is_empty() {
                            tasks.extend(self.ecs.describe_tasks(cluster, &page.arns).await?);
                        }
                        match page.next {
                            Some(n) => next = Some(n),
                            None => break,
                        }
                    }
                    for t in tasks {
                        records.push(task_to_record(cluster, t, now));
                    }
                }
                records
            }
        };
        let registered: BTreeSet<String> = records
            .iter()
            .filter_map(|r| match r {
                Record::Instance(i) => i.instance.ec2_instance_id.clone(),
                _ => None,
            })
            .collect();
        let selected = query_hosts(&records, HostSelection::Schedulable);
        let default_strategy: Vec<String> = if selected
            .iter()
            .any(|q| q.record.instance.capacity_provider_name.is_some())
        {
            self.ecs.cluster_default_strategy(cluster).await?
        } else {
            Vec::new()
        };
        let as_of: BTreeMap<String, Option<i64>> = selected
            .iter()
            .map(|q| {
                let at = q.record.updated_at.as_deref().and_then(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .ok()
                        .map(|d| d.timestamp())
                });
                (q.host.id.clone(), at)
            })
            .collect();
        let mut hosts: Vec<DispatchHost> = selected
            .into_iter()
            .map(|q| {
                let ci = &q.record.instance;
                let provider = ci.capacity_provider_name.clone();
                let external = ci
                    .ec2_instance_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("mi-"));
                let in_default_scope = if default_strategy.is_empty() {
                    !external
                } else {
                    provider
                        .as_ref()
                        .is_some_and(|p| default_strategy.contains(p))
                };
                let mut h = DispatchHost::new(
                    q.host,
                    ci.registered.cpu.unwrap_or(0),
                    ci.registered.memory.unwrap_or(0),
                );
                h.capacity_provider = provider;
                h.in_default_scope = in_default_scope;
                h.registered_gpus = ci.registered.gpus.unwrap_or(0);
                h.remaining_gpus = ci.remaining.gpus.unwrap_or(0);
                h
            })
            .collect();
        if self.capacity.is_some() {
            discount_unrecorded_launches(&mut hosts, jobs, &as_of);
        }
        Ok((hosts, registered))
    }

    async fn daemons(&self, cluster: &str) -> Result<Vec<DaemonReservation>, DispatchError> {
        if self.config.daemon_services.is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .ecs
            .describe_services(cluster, &self.config.daemon_services)
            .await?;
        let mut out = Vec::new();
        for s in described.services {
            let Some(td) = s.effective_task_definition() else {
                continue;
            };
            let needs = JobNeeds::of_task_definition(&self.ecs.task_definition(td).await?);
            out.push(DaemonReservation {
                group: format!("service:{}", s.name),
                cpu: needs.cpu,
                memory: needs.memory,
                ports: needs.ports,
            });
        }
        Ok(out)
    }

    /// The next dispatch as a dry run (`jobs explain`): the same reads and decision as
    /// [`Dispatcher::wake`], no write and no RunTask.
    pub async fn plan(&self, cluster: &str, now: i64) -> Result<(Vec<Job>, Plan), DispatchError> {
        let jobs = self.store.live_jobs(cluster).await?;
        let group = self.owned_group(cluster).await?;
        let (hosts, _) = self.hosts(cluster, &jobs, now).await?;
        let hosts = placement_targets(hosts, group.as_ref());
        let daemons = self.daemons(cluster).await?;
        let (jobs, _) = writable(jobs, now);
        let plan = decide(&jobs, &hosts, &daemons, now);
        Ok((jobs, plan))
    }

    /// One wake-up of a cluster: reconcile STARTING (and, on the sweep, RUNNING) jobs, decide,
    /// expire, start. Retryable failures are collected in the report and fail the call after
    /// every other job was handled.
    pub async fn wake(
        &self,
        cluster: &str,
        trigger: &str,
        now: i64,
    ) -> Result<WakeReport, DispatchError> {
        let mut report = self.wake_report(cluster, trigger, now).await?;
        match self.logged.lock() {
            Ok(mut logged) => {
                if logged.len() > 100_000 {
                    logged.clear();
                }
                report.log_where(|r| {
                    let print = decision_fingerprint(r);
                    logged.insert(r.job_id.clone(), print) != Some(print)
                });
            }
            Err(_) => report.log(),
        }
        if report.errors.is_empty() {
            Ok(report)
        } else {
            let msg = report.errors.join("; ");
            report.errors.clear();
            Err(DispatchError::Incomplete(msg))
        }
    }

    /// The owned group, when `SCALE_GROUP` is this cluster's (DescribeAutoScalingGroups).
    async fn owned_group(&self, cluster: &str) -> Result<Option<GroupState>, DispatchError> {
        let Some(sg) = self
            .config
            .scale_group
            .as_ref()
            .filter(|g| same_cluster_name(&g.cluster, cluster))
        else {
            return Ok(None);
        };
        match self.group.describe(&sg.name).await? {
            Some(g) => Ok(Some(g)),
            None => Err(DispatchError::Invalid(format!(
                "scale group {} does not exist (SCALE_GROUP)",
                sg.name
            ))),
        }
    }

    async fn wake_report(
        &self,
        cluster: &str,
        trigger: &str,
        now: i64,
    ) -> Result<WakeReport, DispatchError> {
        let cluster = cluster_name(cluster).to_string();
        let mut report = WakeReport {
            cluster: cluster.clone(),
            trigger: trigger.to_string(),
            ..WakeReport::default()
        };
        // The sweep first creates the runs of missed schedule ticks, so this wake-up may start them.
        if trigger == "schedule" {
            match self.catch_up_schedules(&cluster, now).await {
                Ok(created) => report.catch_ups = created,
                Err(e) if e.is_retryable() => {
                    report.errors.push(format!("missed schedule ticks: {e}"))
                }
                // An unreadable schedule item stops only the catch-up, never the sweep's
                // reconcile, expiry and timeouts.
                Err(e) => crate::log::json_line(
                    "ERROR",
                    "task-dispatcher missed schedule ticks not checked",
                    &serde_json::json!({"cluster": cluster, "error": e.to_string()}),
                ),
            }
        }
        let mut jobs = self.store.live_jobs(&cluster).await?;
        report.jobs_read = jobs.len();
        // Reconcile launches whose answer was lost (ListTasks by startedBy, per STARTING job)...
        for job in jobs.iter_mut() {
            if job.state != JobState::Starting {
                continue;
            }
            let current = job.clone();
            match self.reconcile_starting(&current, now).await {
                Ok((updated, record)) => {
                    report.jobs.extend(record);
                    *job = updated;
                }
                Err(e) if e.is_retryable() => report.errors.push(format!("{}: {e}", job.job_id)),
                Err(e) => report.jobs.push(error_record(&cluster, job, &e)),
            }
        }
        // ... and, on the sweep, runs whose end event was lost (DescribeTasks, 100 per call).
        if trigger == "schedule" {
            if let Err(e) = self.reconcile_running(&mut jobs, &mut report, now).await {
                if e.is_retryable() {
                    report
                        .errors
                        .push(format!("reconcile of RUNNING jobs: {e}"));
                } else {
                    return Err(e);
                }
            }
        }
        let group = match self.owned_group(&cluster).await {
            Ok(g) => g,
            Err(e) if e.is_retryable() => {
                report.errors.push(format!("scale group: {e}"));
                None
            }
            Err(e) => return Err(e),
        };
        let (hosts, registered) = self.hosts(&cluster, &jobs, now).await?;
        let hosts = placement_targets(hosts, group.as_ref());
        let daemons = self.daemons(&cluster).await?;
        report.hosts = hosts.len();
        let (jobs, oversized) = writable(jobs, now);
        for job in &oversized {
            let mut r = error_record(&cluster, job, &DispatchError::Invalid(String::new()));
            r.reason = Some(format!(
                "left out: its item is {} bytes and its next write would pass the \
                 {MAX_JOB_ITEM_BYTES}-byte limit (DynamoDB refuses items over 400 KB); cancel \
                 or delete it",
                item_bytes(job)
            ));
            report.jobs.push(r);
        }
        let decide_started = std::time::Instant::now();
        let plan = decide(&jobs, &hosts, &daemons, now);
        report.decide_ms = (decide_started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
        report.queue_depth = plan.decisions.len();
        if let Some(head) = plan.decisions.first() {
            report.head_job = Some(head.job_id.clone());
            report.head_wait_seconds = Some(head.waited_seconds);
        }
        let depth = report.queue_depth;
        let mut launches = 0;
        let provisioned = provision(&jobs, &plan, self.config.max_provisioning);
        let by_id: BTreeMap<&str, &Job> = jobs.iter().map(|j| (j.job_id.as_str(), j)).collect();
        for d in &plan.decisions {
            let mut record = JobRecord::from_decision(&cluster, d, depth);
            let Some(job) = by_id.get(d.job_id.as_str()).copied() else {
                continue;
            };
            let outcome = match d.action {
                Action::Wait
                    if launches < MAX_LAUNCHES_PER_WAKE && provisioned.contains(&d.job_id) =>
                {
                    // No room on the hosts there: RunTask with the job's capacity provider
                    // strategy and no host pin, so ECS keeps the task PROVISIONING and its
                    // cluster autoscaler sees the demand.
                    launches += 1;
                    let why = format!(
                        "no host has room: submitted with its capacity provider strategy \
                         (PROVISIONING until ECS adds a host; at most {} at once)",
                        self.config.max_provisioning
                    );
                    let request = LaunchRequest::default();
                    self.launch_recorded(job, request, now, Some(why), &mut record, &mut report)
                        .await
                }
                Action::Wait | Action::Backoff => Ok(()),
                Action::Expire => {
                    let why = Observation::Expired(d.reason.clone().unwrap_or_default());
                    self.observe(job, &why, now).await.map(|_| ())
                }
                Action::Place if launches >= MAX_LAUNCHES_PER_WAKE => {
                    record.action = JobAction::Waiting;
                    record.reason = Some(format!(
                        "fits, but this wake-up already made {MAX_LAUNCHES_PER_WAKE} RunTask \
                         calls (ECS refills RunTask at 40/s); next wake-up"
                    ));
                    Ok(())
                }
                Action::Place => {
                    launches += 1;
                    let request = placed_request(job, d, &hosts);
                    self.launch_recorded(job, request, now, None, &mut record, &mut report)
                        .await
                }
            };
            if let Err(e) = outcome {
                // Only this job: reported, and the wake-up goes on with the next one.
                record = error_record(&cluster, job, &e);
            }
            report.jobs.push(record);
        }
        if let (Some(sg), Some(group)) = (self.config.scale_group.as_ref(), group.as_ref()) {
            let input = (&jobs, &hosts, &daemons, &plan, &registered);
            match self.scale(sg, group, input, &mut report, now).await {
                Ok(scale) => report.scale = Some(scale),
                Err(e) if e.is_retryable() => report.errors.push(format!("scale group: {e}")),
                Err(e) => {
                    report.scale = Some(ScaleReport {
                        group: sg.name.clone(),
                        note: Some(e.to_string()),
                        ..ScaleReport::default()
                    })
                }
            }
        }
        Ok(report)
    }

    /// The sweep's check of RUNNING jobs: DescribeTasks of their stored task ARNs (100 per
    /// call), each answer an observation ([`crate::dispatch::lifecycle`]): STOPPED ends the
    /// run, MISSING twice settles it as "outcome unknown".
    async fn reconcile_running(
        &self,
        jobs: &mut [Job],
        report: &mut WakeReport,
        now: i64,
    ) -> Result<(), DispatchError> {
        let arns: Vec<String> = jobs
            .iter()
            .filter(|j| j.state == JobState::Running)
            .filter_map(|j| j.task_arn.clone())
            .collect();
        if arns.is_empty() {
            return Ok(());
        }
        let cluster = report.cluster.clone();
        let described = self.ecs.describe_launched(&cluster, &arns).await?;
        let missing: BTreeSet<&str> = described.missing.iter().map(String::as_str).collect();
        let found: BTreeMap<&str, &LaunchedTask> = described
            .tasks
            .iter()
            .map(|t| (t.task_arn.as_str(), t))
            .collect();
        for job in jobs.iter_mut() {
            if job.state != JobState::Running {
                continue;
            }
            let Some(arn) = job.task_arn.clone() else {
                continue;
            };
            let observation = if missing.contains(arn.as_str()) {
                Observation::Missing { task_arn: arn }
            } else if let Some(t) = found.get(arn.as_str()) {
                observation_of(t)
            } else {
                continue;
            };
            let current = job.clone();
            match self.observe(&current, &observation, now).await {
                Ok(next) => {
                    if next.state != current.state {
                        report.jobs.push(reconciled(&cluster, &next));
                    }
                    *job = next;
                }
                Err(e) if e.is_retryable() => report.errors.push(format!("{}: {e}", job.job_id)),
                Err(e) => report.jobs.push(error_record(&cluster, job, &e)),
            }
        }
        self.stop_timed_out(jobs, report, now).await;
        Ok(())
    }

    /// The sweep stops each run past its `timeoutSeconds` (from when it started): StopTask with
    /// [`timeout_stop_reason`], and its end (the STOPPED event, or the next sweep's
    /// DescribeTasks) fails the attempt ([`crate::dispatch::lifecycle::judge`]). Until it has
    /// stopped, each sweep asks again (StopTask of a stopping task changes nothing).
    async fn stop_timed_out(&self, jobs: &[Job], report: &mut WakeReport, now: i64) {
        for job in jobs.iter().filter(|j| j.state == JobState::Running) {
            let (Some(limit), Some(arn)) = (job.timeout_seconds, job.task_arn.as_deref()) else {
                continue;
            };
            let started = job.run_started_at().unwrap_or(job.updated_at);
            if now < started.saturating_add(limit) {
                continue;
            }
            let reason = timeout_stop_reason(limit);
            let mut record = base_record(&report.cluster, job, JobAction::TimedOut);
            match self.ecs.stop_task(&job.spec.cluster, arn, &reason).await {
                Ok(()) => record.reason = Some(format!("{reason}: StopTask sent")),
                Err(e) if e.is_retryable() => {
                    report.errors.push(format!("{}: StopTask: {e}", job.job_id));
                    continue;
                }
                Err(e) => record.reason = Some(format!("{reason}: StopTask failed: {e}")),
            }
            report.jobs.push(record);
        }
    }

    /// The owned group's move after the dispatch: raise desired capacity for the jobs that wait
    /// (counting hosts on their way), and remove the hosts idle for `IDLE_SECONDS` and the
    /// instances that never registered.
    ///
    /// Idempotent: the raise is an absolute SetDesiredCapacity computed from what the group
    /// reports (a retry computes the same value, or sees it done and makes no call); the control
    /// item is written conditionally (on its revision) before any termination, so of two
    /// invocations only one terminates; only `InService` instances are terminated, so a retry
    /// after a lost answer sees the instance `Terminating` and does not ask again.
    async fn scale(
        &self,
        sg: &crate::dispatch::config::ScaleGroupConfig,
        group: &GroupState,
        (jobs, hosts, daemons, plan, registered): (
            &Vec<Job>,
            &Vec<DispatchHost>,
            &Vec<DaemonReservation>,
            &Plan,
            &BTreeSet<String>,
        ),
        report: &mut WakeReport,
        now: i64,
    ) -> Result<ScaleReport, DispatchError> {
        let key = idle_clock_key(&sg.name);
        let stored = self.store.get_control(&key).await?;
        let mut control: GroupControl = stored
            .as_ref()
            .and_then(|c| serde_json::from_value(c.body.clone()).ok())
            .unwrap_or_default();
        control.group = sg.name.clone();
        control.cluster = sg.cluster.clone();
        let decision = decide_scale(&ScaleInput {
            jobs,
            hosts,
            daemons,
            plan,
            group,
            host_size: sg.host_size,
            control: &control,
            idle_seconds: sg.idle_seconds,
            register_grace: sg.register_grace,
            registered,
            now,
        });
        for w in &decision.warnings {
            tracing::warn!(group = %sg.name, "{w}");
        }
        for r in report.jobs.iter_mut() {
            if let Some(note) = decision.notes.get(&r.job_id) {
                if r.action == JobAction::Waiting {
                    r.never_fits = note.starts_with("never fits");
                    r.reason = Some(note.clone());
                }
            }
        }
        let mut out = ScaleReport {
            group: sg.name.clone(),
            desired: group.desired,
            max: group.max,
            coming: decision.coming,
            at_max: decision.at_max.clone(),
            busy: decision.busy.clone(),
            idle_since: decision.idle_since.clone(),
            never_registered: decision.never_registered.clone(),
            warnings: decision.warnings.clone(),
            ..ScaleReport::default()
        };
        if let Some(to) = decision.raise_to.filter(|to| *to > group.desired) {
            self.group.set_desired_capacity(&sg.name, to).await?;
            out.raised_to = Some(to);
        }
        if decision.control.differs(&control) {
            let body = serde_json::to_value(&decision.control)
                .map_err(|e| DispatchError::Invalid(format!("scale group control item: {e}")))?;
            if self
                .replace_control(key.clone(), body, stored.as_ref())
                .await?
                == Replaced::Conflict
            {
                out.note = Some(
                    "the idle clock was moved by another invocation first: no host removed".into(),
                );
                return Ok(out);
            }
        }
        for id in &decision.terminate {
            match self.group.terminate_instance(id).await? {
                Terminated::Requested => out.terminated.push(id.clone()),
                Terminated::AlreadyGone => {}
            }
        }
        Ok(out)
    }

    /// [`Self::launch`], its outcome written into the job's `record` and the wake-up's
    /// `report` (a launch's own reason, else `default_reason`, else the decision's); a retryable
    /// failure is collected in the report, any other is returned (it concerns this job only).
    async fn launch_recorded(
        &self,
        job: &Job,
        request: LaunchRequest,
        now: i64,
        default_reason: Option<String>,
        record: &mut JobRecord,
        report: &mut WakeReport,
    ) -> Result<(), DispatchError> {
        match self.launch(job, request, now).await {
            Ok((action, task, reason)) => {
                record.action = action;
                record.task_arn = task;
                if let Some(r) = reason.or(default_reason) {
                    record.reason = Some(r);
                }
                if action == JobAction::Started {
                    report.started += 1;
                }
                Ok(())
            }
            Err(e) if e.is_retryable() => {
                record.action = JobAction::Unknown;
                record.reason = Some(e.to_string());
                report.errors.push(format!("{}: {e}", job.job_id));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// QUEUED → STARTING with the request (conditional), then RunTask.
    async fn launch(
        &self,
        job: &Job,
        request: LaunchRequest,
        now: i64,
    ) -> Result<(JobAction, Option<String>, Option<String>), DispatchError> {
        let Some(starting) = next_job(job, &Observation::Launch(request), now) else {
            return Ok((JobAction::Conflict, None, None));
        };
        if self.write(job, &starting).await? == Replaced::Conflict {
            return Ok((JobAction::Conflict, None, None));
        }
        self.run(&starting, now).await
    }

    /// RunTask for a STARTING job: its current launch's token and its stored request, exactly
    /// as first sent; the answer is the job's next observation.
    async fn run(
        &self,
        starting: &Job,
        now: i64,
    ) -> Result<(JobAction, Option<String>, Option<String>), DispatchError> {
        let token = starting.client_token(starting.launches);
        let started_by = starting.started_by(starting.launches);
        let request = starting.launch.clone().unwrap_or_default();
        let outcome = self
            .ecs
            .run_task(&starting.spec, &token, &started_by, &request)
            .await;
        let (observation, action) = match outcome {
            Ok(RunTaskOutcome::Started(task)) => (
                Observation::Started {
                    task_arn: task.task_arn.clone(),
                    container_instance_arn: task.container_instance_arn.clone(),
                },
                JobAction::Started,
            ),
            Ok(RunTaskOutcome::Conflict { task_arns }) if !task_arns.is_empty() => {
                (Observation::Adopted(task_arns), JobAction::Started)
            }
            Ok(RunTaskOutcome::Conflict { .. }) => {
                return Err(DispatchError::Incomplete(format!(
                    "{}: RunTask answered ConflictException without naming the task; the next \
                     wake-up lists it by startedBy",
                    starting.job_id
                )))
            }
            Ok(RunTaskOutcome::NotPlaced { reason }) => {
                (Observation::NotPlaced(reason), JobAction::NotPlaced)
            }
            Err(EcsError::Refused { message, code, .. }) if is_provisioning_cap(&message) => (
                Observation::NotPlaced(format!("the PROVISIONING cap ({code}): {message}")),
                JobAction::NotPlaced,
            ),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => (Observation::Refused(e.to_string()), JobAction::Failed),
        };
        let next = self.observe(starting, &observation, now).await?;
        let action = if next.revision == starting.revision + 1 {
            action
        } else {
            JobAction::Conflict
        };
        Ok((action, next.task_arn.clone(), next.reason.clone()))
    }

    /// A STARTING job found by a wake-up (its RunTask answer was lost, or the invocation
    /// crashed): what ECS lists under its `startedBy`, else the identical RunTask again.
    async fn reconcile_starting(
        &self,
        job: &Job,
        now: i64,
    ) -> Result<(Job, Option<JobRecord>), DispatchError> {
        let tasks = self
            .ecs
            .tasks_started_by(&job.spec.cluster, &job.started_by(job.launches))
            .await?;
        let cluster = cluster_name(&job.spec.cluster).to_string();
        match tasks.first() {
            Some(task) => {
                let next = self.observe(job, &observation_of(task), now).await?;
                let mut r = reconciled(&cluster, &next);
                if next.state == JobState::Running {
                    r.reason = Some("found the task RunTask started (its answer was lost)".into());
                }
                Ok((next, Some(r)))
            }
            None => {
                // ECS lists no task for this launch: the same request again, same token.
                let (action, task, reason) = self.run(job, now).await?;
                let updated = self
                    .store
                    .get(&job.job_id)
                    .await?
                    .unwrap_or_else(|| job.clone());
                let mut r = reconciled(&cluster, &updated);
                (r.action, r.task_arn, r.reason) = (action, task, reason);
                Ok((updated, Some(r)))
            }
        }
    }

    /// An `ECS Task State Change` of a task this dispatcher started: RUNNING confirms a
    /// STARTING job; STOPPED ends the run ([`crate::dispatch::lifecycle`]). Stale events
    /// (another launch, a terminal job) change nothing. Then the cluster wakes (room was freed).
    pub async fn on_task_event(
        &self,
        detail: &TaskStateChange,
        now: i64,
    ) -> Result<Option<WakeReport>, DispatchError> {
        if self.settle_task_event(detail, now).await? {
            return Ok(Some(
                self.wake(&detail.cluster_arn, "task-event", now).await?,
            ));
        }
        Ok(None)
    }

    /// [`Dispatcher::on_task_event`] without the wake-up: the job's outcome is written, and the
    /// answer says whether the event freed room (a STOPPED task: the cluster should wake).
    pub async fn settle_task_event(
        &self,
        detail: &TaskStateChange,
        now: i64,
    ) -> Result<bool, DispatchError> {
        let stopped = detail.last_status.as_deref() == Some("STOPPED");
        let Some((job_id, launch)) = detail.started_by.as_deref().and_then(parse_started_by) else {
            // Not ours: other tasks freeing room still matter.
            return Ok(stopped);
        };
        let Some(job) = self.store.get(job_id).await? else {
            return Ok(false);
        };
        if job.launches != launch || job.state.is_terminal() {
            return Ok(false);
        }
        let task = LaunchedTask {
            task_arn: detail.task_arn.clone(),
            container_instance_arn: detail.container_instance_arn.clone(),
            last_status: detail.last_status.clone(),
            stopped_reason: detail.stopped_reason.clone(),
            stop_code: detail.stop_code.clone(),
            containers: detail
                .containers
                .iter()
                .flatten()
                .map(|c| ContainerExit {
                    name: c.name.clone().unwrap_or_default(),
                    exit_code: c.exit_code,
                    essential: c.essential,
                    reason: c.reason.clone(),
                })
                .collect(),
        };
        self.observe(&job, &observation_of(&task), now).await?;
        Ok(stopped)
    }
}

/// What a described task (or a task event) tells about its job.
fn observation_of(task: &LaunchedTask) -> Observation {
    if task.last_status.as_deref() == Some("STOPPED") {
        Observation::Stopped(StoppedRun {
            task_arn: task.task_arn.clone(),
            stop_code: task.stop_code.clone(),
            stopped_reason: task.stopped_reason.clone(),
            container_instance_arn: task.container_instance_arn.clone(),
            containers: task.containers.clone(),
        })
    } else {
        Observation::Started {
            task_arn: task.task_arn.clone(),
            container_instance_arn: task.container_instance_arn.clone(),
        }
    }
}

/// The hosts a job may be placed on: with an owned group, its instances that are not
/// `InService` are left out (an instance the group is terminating, `Terminating:Wait`, stays
/// ACTIVE in ECS until the drainer sets it DRAINING: it must get no new work).
fn placement_targets(hosts: Vec<DispatchHost>, group: Option<&GroupState>) -> Vec<DispatchHost> {
    let Some(group) = group else {
        return hosts;
    };
    hosts
        .into_iter()
        .filter(|h| {
            let state = h
                .host
                .ec2_instance_id
                .as_deref()
                .and_then(|id| group.lifecycle_state(id));
            state.is_none_or(|s| s == "InService")
        })
        .collect()
}

/// The jobs a wake-up may write, and the QUEUED ones whose next write would pass
/// [`MAX_JOB_ITEM_BYTES`] (left out of the decision, so they never hold room or block the jobs
/// behind them).
fn writable(jobs: Vec<Job>, now: i64) -> (Vec<Job>, Vec<Job>) {
    jobs.into_iter().partition(|j| {
        j.state != JobState::Queued
            // Far under the mark (every job submitted under the 64 KB cap): no trial write.
            || item_bytes(j) + TRANSITION_BYTES <= MAX_JOB_ITEM_BYTES
            // Near it: the next write as it would be (its history trimmed to MAX_HISTORY).
            || item_bytes(&j.transition(JobState::Starting, "placed on i-00000000000000000", now))
                <= MAX_JOB_ITEM_BYTES
    })
}

/// More than one transition, the launch request and the counters ever add to a job's item.
const TRANSITION_BYTES: usize = 8 * 1024;

/// The RunTask request of a placed job: the host pin, and the host's capacity provider when
/// the launch goes through providers ([`crate::dispatch::decide::launch_request`]).
fn placed_request(job: &Job, d: &JobDecision, hosts: &[DispatchHost]) -> LaunchRequest {
    match hosts
        .iter()
        .find(|h| Some(h.host.id.as_str()) == d.host.as_deref())
    {
        Some(h) => crate::dispatch::decide::launch_request(job, h),
        None => LaunchRequest {
            pin: d.ec2_instance_id.clone(),
            capacity_provider: None,
        },
    }
}

fn base_record(cluster: &str, job: &Job, action: JobAction) -> JobRecord {
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
fn reconciled(cluster: &str, job: &Job) -> JobRecord {
    base_record(cluster, job, JobAction::Reconciled)
}

/// The record of a job whose step failed with an error a retry cannot fix: reported, and the
/// wake-up goes on.
fn error_record(cluster: &str, job: &Job, e: &DispatchError) -> JobRecord {
    let mut r = base_record(cluster, job, JobAction::Unknown);
    r.reason = Some(format!("not recorded: {e}"));
    r
}
