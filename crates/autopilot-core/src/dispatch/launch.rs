//! Launches and their reconciliation for the [`Dispatcher`]: QUEUED → STARTING written before
//! RunTask, a STARTING job reconciled by `ListTasks(startedBy)` before the identical request is
//! sent again, RUNNING jobs checked by DescribeTasks, and task state-change events applied.

use std::collections::{BTreeMap, BTreeSet};

use crate::arn::cluster_name;
use crate::dispatch::lifecycle::{next_job, Observation, StoppedRun};
use crate::dispatch::report::{JobAction, JobRecord, WakeReport};
use crate::events::TaskStateChange;
use crate::job::{parse_started_by, Job, JobState, LaunchRequest};
use crate::ports::capacity_store::CapacityStore;
use crate::ports::ecs::EcsError;
use crate::ports::job_store::{JobStore, Replaced};
use crate::ports::scale_group::ScaleGroup;
use crate::ports::task_launcher::{
    is_provisioning_cap, ContainerExit, LaunchedTask, RunTaskOutcome,
};

use super::dispatcher::{error_record, reconciled, DispatchEcs, DispatchError, Dispatcher};
use crate::retry::Retryable;

/// What a described task (or a task event) tells about its job.
pub(super) fn observation_of(task: &LaunchedTask) -> Observation {
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

impl<S: JobStore, E: DispatchEcs, C: CapacityStore, G: ScaleGroup> Dispatcher<S, E, C, G> {
    /// The sweep's check of RUNNING jobs: DescribeTasks of their stored task ARNs (100 per
    /// call), each answer an observation ([`crate::dispatch::lifecycle`]): STOPPED ends the
    /// run, MISSING twice settles it as "outcome unknown".
    pub(super) async fn reconcile_running(
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

    /// [`Self::launch`], its outcome written into the job's `record` and the wake-up's
    /// `report` (a launch's own reason, else `default_reason`, else the decision's); a retryable
    /// failure is collected in the report, any other is returned (it concerns this job only).
    pub(super) async fn launch_recorded(
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
    pub(super) async fn launch(
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
    pub(super) async fn run(
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
    pub(super) async fn reconcile_starting(
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
