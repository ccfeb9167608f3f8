//! The dispatcher service: reads the cluster's jobs (one Query) and hosts (the capacity table, or
//! ECS), decides ([`crate::dispatch::decide`]), starts what fits and records every job
//! considered. Every job transition is a conditional write on the revision the wake-up read.
//!
//! Exactly once per launch: QUEUED → STARTING is written **before** RunTask (with the launch
//! number that names the `clientToken` and `startedBy`); a STARTING job found by a later wake-up
//! (a lost answer, a crash) is reconciled by `ListTasks(startedBy)` first and relaunched with the
//! same token only when ECS has no such task. A retryable RunTask error leaves the job STARTING
//! and fails the invocation, so the retry reconciles it.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::arn::{cluster_name, same_cluster_name};
use crate::capacity::{instance_to_record, query_hosts, task_to_record, HostSelection, Record};
use crate::dispatch::config::DispatchConfig;
use crate::dispatch::decide::{
    decide, discount_unrecorded_launches, Action, DaemonReservation, DispatchHost, Plan,
};
use crate::dispatch::report::{JobAction, JobRecord, ScaleReport, WakeReport};
use crate::dispatch::scale::{decide_scale, provision, ScaleInput};
use crate::dispatch::schedule::{decide_tick, LastRun, Tick};
use crate::events::TaskStateChange;
use crate::job::{
    generate_job_id, needs_with_overrides, parse_started_by, schedule_job_id, Job, JobNeeds,
    JobState, Overlap, Submission,
};
use crate::ports::capacity_store::{CapacityStore, ItemKind, ItemQuery, StoreError};
use crate::ports::ecs::{DesiredStatus, EcsError, EcsRead, EcsWrite};
use crate::ports::job_store::{ControlItem, Created, JobStore, JobStoreError, Replaced};
use crate::ports::scale_group::{AutoScalingError, NoScaleGroup, ScaleGroup, Terminated};
use crate::ports::task_launcher::{
    is_provisioning_cap, ContainerExit, LaunchedTask, RunTaskOutcome, TaskLauncher,
};

/// The stop reason instance-drainer gives standalone tasks on a terminating host: such a stop
/// re-queues the job without using an attempt.
pub use crate::drain::drainer::STOP_REASON as DRAINER_STOP_REASON;

/// RunTask calls per wake-up at most: ECS refills cluster resource writes at 40 per second
/// (burst 100) per account and region; the rest start on the next wake-up.
pub const MAX_LAUNCHES_PER_WAKE: usize = 20;
/// First retry backoff; doubles per attempt up to [`MAX_BACKOFF_SECONDS`].
pub const BASE_BACKOFF_SECONDS: i64 = 30;
pub const MAX_BACKOFF_SECONDS: i64 = 900;
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

impl DispatchError {
    pub fn is_retryable(&self) -> bool {
        match self {
            DispatchError::Invalid(_) => false,
            DispatchError::Store(e) => e.is_retryable(),
            DispatchError::Ecs(e) => e.is_retryable(),
            DispatchError::ScaleGroup(e) => e.is_retryable(),
            DispatchError::Capacity(_) | DispatchError::Incomplete(_) => true,
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

pub struct Dispatcher<S, E, C, G = NoScaleGroup> {
    store: S,
    ecs: E,
    capacity: Option<C>,
    group: G,
    config: DispatchConfig,
}

/// The control item key of the owned group's idle clock.
pub fn idle_clock_key(group: &str) -> String {
    format!("scale-group#{group}")
}

/// Retry backoff after `attempts` used: 30 s, 60 s, 120 s, ... at most 15 min.
pub fn backoff_seconds(attempts: u32) -> i64 {
    let shift = attempts.saturating_sub(1).min(10);
    (BASE_BACKOFF_SECONDS << shift).min(MAX_BACKOFF_SECONDS)
}

/// `name=code` for each essential container (absent flag = essential), and whether all are 0.
pub fn exit_summary(containers: &[ContainerExit]) -> (Vec<String>, bool) {
    let essential: Vec<&ContainerExit> = containers
        .iter()
        .filter(|c| c.essential != Some(false))
        .collect();
    let codes: Vec<String> = essential
        .iter()
        .map(|c| match c.exit_code {
            Some(code) => format!("{}={code}", c.name),
            None => format!("{}=none", c.name),
        })
        .collect();
    let ok = !essential.is_empty() && essential.iter().all(|c| c.exit_code == Some(0));
    (codes, ok)
}

impl<S, E, C> Dispatcher<S, E, C, NoScaleGroup> {
    pub fn new(store: S, ecs: E, capacity: Option<C>, config: DispatchConfig) -> Self {
        Dispatcher {
            store,
            ecs,
            capacity,
            group: NoScaleGroup,
            config,
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
        let result = self.enqueue(job, now).await?;
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
        if let Some(id) = &sub.job_id {
            if let Some(existing) = self.store.get(id).await? {
                return Ok(SubmitResult {
                    job: existing,
                    duplicate: true,
                    skipped: None,
                });
            }
        }
        match self.ecs.cluster_default_strategy(&sub.spec.cluster).await {
            Ok(_) => {}
            Err(EcsError::ClusterNotFound { cluster }) => {
                return Err(DispatchError::Invalid(format!(
                    "invalid job: unknown cluster {cluster}"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let td = match self.ecs.task_definition(&sub.spec.task_definition).await {
            Ok(td) => td,
            Err(e) if !e.is_retryable() => {
                return Err(DispatchError::Invalid(format!(
                    "invalid job: task definition {}: {e}",
                    sub.spec.task_definition
                )))
            }
            Err(e) => return Err(e.into()),
        };
        // Roles the function may not pass would fail RunTask (AccessDenied): refuse now.
        if let Some(reason) = self
            .config
            .pass_roles
            .refusal(&td, sub.spec.overrides.as_ref())
        {
            return Err(DispatchError::Invalid(reason));
        }
        let needs = needs_with_overrides(
            JobNeeds::of_task_definition(&td),
            sub.spec.overrides.as_ref(),
        );
        let job_id = sub.job_id.clone().unwrap_or_else(|| generate_job_id(now));
        let job = sub.into_job(job_id, needs, now);
        if let Some(name) = job.schedule_name.clone() {
            return self.enqueue_tick(job, &name, overlap, now).await;
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
        overlap: Overlap,
        now: i64,
    ) -> Result<SubmitResult, DispatchError> {
        let key = schedule_key(schedule);
        let stored = self.store.get_control(&key).await?;
        let last: Option<LastRun> = stored
            .as_ref()
            .and_then(|c| c.body.get("lastRun"))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
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
                    };
                    let body = serde_json::json!({"schedule": schedule, "lastRun": last_run});
                    if self.replace_control(key, body, stored.as_ref()).await? == Replaced::Conflict
                    {
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
        let next = job.transition(JobState::Cancelled, "cancelled", now);
        self.write(&job, &next).await?;
        Ok(next)
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

    /// The hosts decide sees: schedulable hosts from the capacity table (less the room of
    /// `jobs` launched since each host item was written: [`discount_unrecorded_launches`]), else
    /// from ECS.
    async fn hosts(
        &self,
        cluster: &str,
        jobs: &[Job],
        now: i64,
    ) -> Result<Vec<DispatchHost>, DispatchError> {
        let records: Vec<Record> = match &self.capacity {
            // Only what placement needs: the live hosts (one key range, tombstones and expired
            // items filtered by the table), and live tasks only for daemon headroom.
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
        let selected = query_hosts(&records, HostSelection::Schedulable);
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
            .map(|q| DispatchHost {
                registered_cpu: q.record.instance.registered.cpu.unwrap_or(0),
                registered_memory: q.record.instance.registered.memory.unwrap_or(0),
                host: q.host,
            })
            .collect();
        if self.capacity.is_some() {
            discount_unrecorded_launches(&mut hosts, jobs, &as_of);
        }
        Ok(hosts)
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
        let jobs = self.store.cluster_jobs(cluster).await?;
        let hosts = self.hosts(cluster, &jobs, now).await?;
        let daemons = self.daemons(cluster).await?;
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
        report.log();
        if report.errors.is_empty() {
            Ok(report)
        } else {
            let msg = report.errors.join("; ");
            report.errors.clear();
            Err(DispatchError::Incomplete(msg))
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
        let mut jobs = self.store.cluster_jobs(&cluster).await?;
        // Reconcile launches whose answer was lost, and (sweep) runs whose end event was lost.
        for job in jobs.iter_mut() {
            let check = job.state == JobState::Starting
                || (trigger == "schedule" && job.state == JobState::Running);
            if !check {
                continue;
            }
            let current = job.clone();
            match self.reconcile(&current, now).await {
                Ok((updated, record)) => {
                    if let Some(r) = record {
                        report.jobs.push(r);
                    }
                    *job = updated;
                }
                Err(e) if e.is_retryable() => report.errors.push(format!("{}: {e}", job.job_id)),
                Err(e) => return Err(e),
            }
        }
        let hosts = self.hosts(&cluster, &jobs, now).await?;
        let daemons = self.daemons(&cluster).await?;
        report.hosts = hosts.len();
        let plan = decide(&jobs, &hosts, &daemons, now);
        report.queue_depth = plan.decisions.len();
        if let Some(head) = plan.decisions.first() {
            report.head_job = Some(head.job_id.clone());
            report.head_wait_seconds = Some(head.waited_seconds);
        }
        let depth = report.queue_depth;
        let mut launches = 0;
        let provisioned = provision(&jobs, &plan, self.config.max_provisioning);
        for d in &plan.decisions {
            let mut record = JobRecord::from_decision(&cluster, d, depth);
            let Some(job) = jobs.iter().find(|j| j.job_id == d.job_id) else {
                continue;
            };
            match d.action {
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
                    self.launch_recorded(job, None, now, Some(why), &mut record, &mut report)
                        .await?;
                }
                Action::Wait | Action::Backoff => {}
                Action::Expire => {
                    let reason = d.reason.clone().unwrap_or_default();
                    let next = job.transition(JobState::Expired, reason, now);
                    if self.write(job, &next).await? == Replaced::Conflict {
                        record.action = JobAction::Conflict;
                    }
                }
                Action::Place if launches >= MAX_LAUNCHES_PER_WAKE => {
                    record.action = JobAction::Waiting;
                    record.reason = Some(format!(
                        "fits, but this wake-up already made {MAX_LAUNCHES_PER_WAKE} RunTask \
                         calls (ECS refills RunTask at 40/s); next wake-up"
                    ));
                }
                Action::Place => {
                    launches += 1;
                    let pin = d.ec2_instance_id.as_deref();
                    self.launch_recorded(job, pin, now, None, &mut record, &mut report)
                        .await?;
                }
            }
            report.jobs.push(record);
        }
        if let Some(sg) = self
            .config
            .scale_group
            .as_ref()
            .filter(|g| same_cluster_name(&g.cluster, &cluster))
        {
            let input = (&jobs, &hosts, &daemons, &plan);
            match self.scale(sg, input, &mut report, now).await {
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

    /// The owned group's move after the dispatch: raise desired capacity for the jobs that wait
    /// (counting hosts on their way), and remove the hosts idle for `IDLE_SECONDS`.
    ///
    /// Idempotent: the raise is an absolute SetDesiredCapacity computed from what the group
    /// reports (a retry computes the same value, or sees it done and makes no call); the idle
    /// clock is written conditionally (on its revision) before any termination, so of two
    /// invocations only one terminates; only `InService` instances are terminated, so a retry
    /// after a lost answer sees the instance `Terminating` and does not ask again.
    async fn scale(
        &self,
        sg: &crate::dispatch::config::ScaleGroupConfig,
        (jobs, hosts, daemons, plan): (
            &Vec<Job>,
            &Vec<DispatchHost>,
            &Vec<DaemonReservation>,
            &Plan,
        ),
        report: &mut WakeReport,
        now: i64,
    ) -> Result<ScaleReport, DispatchError> {
        let Some(group) = self.group.describe(&sg.name).await? else {
            return Err(DispatchError::Invalid(format!(
                "scale group {} does not exist (SCALE_GROUP)",
                sg.name
            )));
        };
        let key = idle_clock_key(&sg.name);
        let stored = self.store.get_control(&key).await?;
        let idle_since: std::collections::BTreeMap<String, i64> = stored
            .as_ref()
            .and_then(|c| c.body.get("idleSince"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let decision = decide_scale(&ScaleInput {
            jobs,
            hosts,
            daemons,
            plan,
            group: &group,
            host_size: sg.host_size,
            idle_since: &idle_since,
            idle_seconds: sg.idle_seconds,
            now,
        });
        for r in report.jobs.iter_mut() {
            if let Some(note) = decision.notes.get(&r.job_id) {
                if r.action == JobAction::Waiting {
                    // A host of the group can hold it: not "never", whatever the hosts there.
                    r.reason = Some(note.clone());
                    r.never_fits = false;
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
            ..ScaleReport::default()
        };
        if let Some(to) = decision.raise_to.filter(|to| *to > group.desired) {
            self.group.set_desired_capacity(&sg.name, to).await?;
            out.raised_to = Some(to);
        }
        if decision.idle_since != idle_since {
            let body = serde_json::json!({
                "group": sg.name,
                "cluster": sg.cluster,
                "idleSince": decision.idle_since,
                "updatedAt": now,
            });
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

    /// QUEUED → STARTING (conditional), then RunTask, then the outcome's transition.
    /// [`Self::launch`], its outcome written into the job's `record` and the wake-up's
    /// `report` (a launch's own reason, else `default_reason`, else the decision's); a retryable
    /// failure is collected in the report, any other fails the wake-up.
    async fn launch_recorded(
        &self,
        job: &Job,
        ec2_instance_id: Option<&str>,
        now: i64,
        default_reason: Option<String>,
        record: &mut JobRecord,
        report: &mut WakeReport,
    ) -> Result<(), DispatchError> {
        match self.launch(job, ec2_instance_id, now).await {
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

    async fn launch(
        &self,
        job: &Job,
        ec2_instance_id: Option<&str>,
        now: i64,
    ) -> Result<(JobAction, Option<String>, Option<String>), DispatchError> {
        let mut starting = job.transition(
            JobState::Starting,
            format!("placed on {}", ec2_instance_id.unwrap_or("a host")),
            now,
        );
        starting.queued_at = job.queued_at;
        starting.launches = job.launches + 1;
        starting.attempts = job.attempts + 1;
        starting.container_instance_arn = None;
        starting.task_arn = None;
        starting.not_before = None;
        if self.write(job, &starting).await? == Replaced::Conflict {
            return Ok((JobAction::Conflict, None, None));
        }
        self.run(&starting, ec2_instance_id, now).await
    }

    /// RunTask for a STARTING job (its current launch number), and the transition it leads to.
    async fn run(
        &self,
        starting: &Job,
        ec2_instance_id: Option<&str>,
        now: i64,
    ) -> Result<(JobAction, Option<String>, Option<String>), DispatchError> {
        let token = starting.client_token(starting.launches);
        let started_by = starting.started_by(starting.launches);
        let outcome = self
            .ecs
            .run_task(&starting.spec, &token, &started_by, ec2_instance_id)
            .await;
        match outcome {
            Ok(RunTaskOutcome::Started(task)) => {
                let next = running(starting, &task, now);
                let action = match self.write(starting, &next).await? {
                    Replaced::Written => JobAction::Started,
                    Replaced::Conflict => JobAction::Conflict,
                };
                Ok((action, Some(task.task_arn), None))
            }
            Ok(RunTaskOutcome::NotPlaced { reason }) => {
                self.requeue_in_place(
                    starting,
                    &format!("RunTask did not place it: {reason}"),
                    now,
                )
                .await
            }
            Err(EcsError::Refused { message, code, .. }) if is_provisioning_cap(&message) => {
                self.requeue_in_place(
                    starting,
                    &format!("RunTask refused at the PROVISIONING cap ({code}): {message}"),
                    now,
                )
                .await
            }
            Err(e) if e.is_retryable() => Err(e.into()),
            Err(e) => {
                let reason = format!("RunTask refused the request: {e}");
                let next = starting.transition(JobState::Failed, reason.clone(), now);
                self.write(starting, &next).await?;
                Ok((JobAction::Failed, None, Some(reason)))
            }
        }
    }

    /// STARTING → QUEUED without using an attempt, keeping the job's place and wait clock.
    async fn requeue_in_place(
        &self,
        starting: &Job,
        reason: &str,
        now: i64,
    ) -> Result<(JobAction, Option<String>, Option<String>), DispatchError> {
        let mut next = starting.transition(JobState::Queued, reason, now);
        next.queued_at = starting.queued_at;
        next.attempts = starting.attempts.saturating_sub(1);
        self.write(starting, &next).await?;
        Ok((JobAction::NotPlaced, None, Some(reason.to_string())))
    }

    /// A STARTING or RUNNING job: what ECS has under its `startedBy`.
    async fn reconcile(
        &self,
        job: &Job,
        now: i64,
    ) -> Result<(Job, Option<JobRecord>), DispatchError> {
        let tasks = self
            .ecs
            .tasks_started_by(&job.spec.cluster, &job.started_by(job.launches))
            .await?;
        let record = |action: JobAction, task: Option<String>, reason: Option<String>| JobRecord {
            cluster: cluster_name(&job.spec.cluster).to_string(),
            job_id: job.job_id.clone(),
            priority: job.priority,
            action,
            host: None,
            ec2_instance_id: None,
            task_arn: task,
            reason,
            blocked_by: None,
            reserves: false,
            never_fits: false,
            waited_seconds: 0,
            hosts_short: None,
            queue_depth: 0,
        };
        match tasks.into_iter().next() {
            Some(task) if task.last_status.as_deref() == Some("STOPPED") => {
                let next = self.finished(job, &task, now).await?;
                let r = record(
                    JobAction::Reconciled,
                    Some(task.task_arn),
                    next.reason.clone(),
                );
                Ok((next, Some(r)))
            }
            Some(task) if job.state == JobState::Starting => {
                let next = running(job, &task, now);
                self.write(job, &next).await?;
                let r = record(
                    JobAction::Reconciled,
                    Some(task.task_arn),
                    Some("found the task RunTask started (its answer was lost)".into()),
                );
                Ok((next, Some(r)))
            }
            Some(_) => Ok((job.clone(), None)),
            None if job.state == JobState::Starting => {
                // ECS has no task for this launch: RunTask again with the same token.
                let (action, task, reason) = self.run(job, None, now).await?;
                let updated = self
                    .store
                    .get(&job.job_id)
                    .await?
                    .unwrap_or_else(|| job.clone());
                Ok((updated, Some(record(action, task, reason))))
            }
            None => Ok((job.clone(), None)),
        }
    }

    /// The transition for a job whose task stopped (event or reconcile), written.
    async fn finished(
        &self,
        job: &Job,
        task: &LaunchedTask,
        now: i64,
    ) -> Result<Job, DispatchError> {
        let stop = task.stopped_reason.clone().unwrap_or_default();
        let (codes, ok) = exit_summary(&task.containers);
        let mut next = if stop == DRAINER_STOP_REASON {
            let mut n = job.transition(
                JobState::Queued,
                "stopped by instance-drainer (host terminating): re-queued without using an attempt",
                now,
            );
            n.attempts = job.attempts.saturating_sub(1);
            n
        } else if ok {
            job.transition(
                JobState::Succeeded,
                "every essential container exited 0",
                now,
            )
        } else if job.attempts < job.max_attempts {
            let wait = backoff_seconds(job.attempts);
            let mut n = job.transition(
                JobState::Queued,
                format!(
                    "attempt {} of {} failed (exit codes {}; stopped reason: {stop}); retry in {wait} s",
                    job.attempts,
                    job.max_attempts,
                    codes.join(", ")
                ),
                now,
            );
            n.not_before = Some(now + wait);
            n
        } else {
            job.transition(
                JobState::Failed,
                format!(
                    "failed after {} attempt(s): exit codes {}; stopped reason: {stop}",
                    job.attempts,
                    codes.join(", ")
                ),
                now,
            )
        };
        next.exit_codes = codes;
        next.task_arn = Some(task.task_arn.clone());
        if self.write(job, &next).await? == Replaced::Conflict {
            return Ok(self
                .store
                .get(&job.job_id)
                .await?
                .unwrap_or_else(|| job.clone()));
        }
        Ok(next)
    }

    /// An `ECS Task State Change` of a task this dispatcher started: RUNNING confirms a
    /// STARTING job; STOPPED ends the run (success, retry, re-queue or failure). Stale events
    /// (another launch, a terminal job) change nothing. Then the cluster wakes (room was freed).
    pub async fn on_task_event(
        &self,
        detail: &TaskStateChange,
        now: i64,
    ) -> Result<Option<WakeReport>, DispatchError> {
        let Some((job_id, launch)) = detail.started_by.as_deref().and_then(parse_started_by) else {
            // Not ours: other tasks freeing room still matter.
            if detail.last_status.as_deref() == Some("STOPPED") {
                return Ok(Some(
                    self.wake(&detail.cluster_arn, "task-event", now).await?,
                ));
            }
            return Ok(None);
        };
        let Some(job) = self.store.get(job_id).await? else {
            return Ok(None);
        };
        if job.launches != launch || job.state.is_terminal() {
            return Ok(None);
        }
        let task = LaunchedTask {
            task_arn: detail.task_arn.clone(),
            container_instance_arn: detail.container_instance_arn.clone(),
            last_status: detail.last_status.clone(),
            stopped_reason: detail.stopped_reason.clone(),
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
        match detail.last_status.as_deref() {
            Some("STOPPED") if matches!(job.state, JobState::Starting | JobState::Running) => {
                self.finished(&job, &task, now).await?;
                Ok(Some(
                    self.wake(&detail.cluster_arn, "task-event", now).await?,
                ))
            }
            Some(_) if job.state == JobState::Starting => {
                let next = running(&job, &task, now);
                self.write(&job, &next).await?;
                Ok(None)
            }
            // A task submitted PROVISIONING got its host: record it (the job's host, and the
            // end of its PROVISIONING count).
            Some(_)
                if job.state == JobState::Running
                    && job.container_instance_arn.is_none()
                    && task.container_instance_arn.is_some() =>
            {
                let mut next = job.clone();
                next.container_instance_arn = task.container_instance_arn.clone();
                next.revision = job.revision + 1;
                next.updated_at = now;
                self.write(&job, &next).await?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

fn running(starting: &Job, task: &LaunchedTask, now: i64) -> Job {
    let mut next = starting.transition(JobState::Running, format!("task {}", task.task_arn), now);
    next.task_arn = Some(task.task_arn.clone());
    next.container_instance_arn = task.container_instance_arn.clone();
    next
}
