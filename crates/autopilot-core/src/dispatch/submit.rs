//! The submit path of the [`Dispatcher`]: a submission checked (its task definition, its
//! container overrides, its size) and stored as a QUEUED job — conditionally, so a retried
//! delivery finds the job it already stored — and the schedule ticks (each tick's run created
//! once, missed ticks caught up on the sweep).

use std::collections::{BTreeMap, BTreeSet};

use crate::arn::cluster_name;
use crate::dispatch::estimate::{estimate_key, family_of, FamilyRuns};
use crate::dispatch::report::WakeReport;
use crate::dispatch::schedule::{
    decide_tick, missed_tick, schedules_partition, LastRun, ScheduleControl, Tick,
};
use crate::job::{generate_job_id, schedule_job_id, Job, JobNeeds, JobState, Overlap, Submission};
use crate::ports::capacity_store::CapacityStore;
use crate::ports::ecs::EcsError;
use crate::ports::job_store::{ControlItem, Created, JobStore, Replaced};
use crate::ports::scale_group::ScaleGroup;

use super::dispatcher::{DispatchEcs, DispatchError, Dispatcher, MAX_SUBMITTED_JOB_BYTES};
use crate::retry::Retryable;

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
pub(super) struct TickMeta {
    pub(super) overlap: Overlap,
    pub(super) period: Option<i64>,
    /// The submission to replay for a missed tick ([`replayable`]).
    pub(super) replay: Option<serde_json::Value>,
    /// The sweep's run of a missed tick.
    pub(super) catch_up: bool,
}

/// A periodic submission as the sweep replays it: without its `jobId` (derived from the tick)
/// and `scheduledTime` (the missed tick's).
pub(super) fn replayable(submission: &serde_json::Value) -> serde_json::Value {
    let mut replay = submission.clone();
    if let Some(o) = replay.as_object_mut() {
        o.remove("jobId");
        o.remove("scheduledTime");
    }
    replay
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
pub(super) fn check_container_overrides(
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
pub(super) fn item_bytes(job: &Job) -> usize {
    serde_json::to_string(job).map_or(usize::MAX, |s| s.len())
}

impl<S: JobStore, E: DispatchEcs, C: CapacityStore, G: ScaleGroup> Dispatcher<S, E, C, G> {
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
    pub(super) async fn enqueue_as(
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
                    return Err(DispatchError::NotFound(format!(
                        "invalid job: unknown cluster {cluster}"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let td = match reads.task_definitions.get(&sub.spec.task_definition) {
            Some(td) => td.clone(),
            None => match self
                .ecs
                .describe_task_definition(&sub.spec.task_definition)
                .await
            {
                Ok(td) => {
                    reads
                        .task_definitions
                        .insert(sub.spec.task_definition.clone(), td.clone());
                    td
                }
                Err(e) if !e.is_retryable() => {
                    return Err(DispatchError::TaskDefinition {
                        task_definition: sub.spec.task_definition.clone(),
                        source: e,
                    })
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

    pub(super) async fn create(
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
    pub(super) async fn enqueue_tick(
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
    pub(super) async fn catch_up_schedules(
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
    pub(super) async fn learned_estimate(
        &self,
        family: &str,
    ) -> Result<Option<i64>, DispatchError> {
        let key = estimate_key(family);
        let Some(item) = self.store.get_control(&key).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_value::<FamilyRuns>(item.body)
            .ok()
            .and_then(|f| f.estimate()))
    }
}
