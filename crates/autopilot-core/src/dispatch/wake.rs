//! One wake-up of the [`Dispatcher`] for a cluster: reconcile, decide, expire, start and scale
//! (the sweep is the wake-up the schedule triggers: it also catches up missed schedule ticks,
//! checks RUNNING jobs and stops timed-out ones), and the dry run `jobs explain` reads.

use std::collections::{BTreeMap, BTreeSet};

use crate::arn::cluster_name;
use crate::dispatch::decide::{decide, Action, DaemonReservation, DispatchHost, JobDecision, Plan};
use crate::dispatch::lifecycle::{timeout_stop_reason, Observation};
use crate::dispatch::report::{JobAction, JobRecord, ScaleReport, WakeReport};
use crate::dispatch::scale::{decide_scale, provision, GroupControl, ScaleInput};
use crate::job::{Job, JobState, LaunchRequest};
use crate::ports::capacity_store::CapacityStore;
use crate::ports::job_store::{JobStore, Replaced};
use crate::ports::scale_group::{GroupState, ScaleGroup, Terminated};

use super::dispatcher::{
    base_record, error_record, DispatchEcs, DispatchError, Dispatcher, MAX_JOB_ITEM_BYTES,
    MAX_LAUNCHES_PER_WAKE,
};
use super::host_read::placement_targets;
use super::submit::item_bytes;
use crate::retry::Retryable;

/// What makes a job's decision line worth logging again.
pub(super) fn decision_fingerprint(r: &JobRecord) -> u64 {
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

/// The jobs a wake-up may write, and the QUEUED ones whose next write would pass
/// [`MAX_JOB_ITEM_BYTES`] (left out of the decision, so they never hold room or block the jobs
/// behind them).
pub(super) fn writable(jobs: Vec<Job>, now: i64) -> (Vec<Job>, Vec<Job>) {
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
pub(super) const TRANSITION_BYTES: usize = 8 * 1024;

/// The RunTask request of a placed job: the host pin, and the host's capacity provider when
/// the launch goes through providers ([`crate::dispatch::decide::launch_request`]).
pub(super) fn placed_request(job: &Job, d: &JobDecision, hosts: &[DispatchHost]) -> LaunchRequest {
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

impl<S: JobStore, E: DispatchEcs, C: CapacityStore, G: ScaleGroup> Dispatcher<S, E, C, G> {
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

    pub(super) async fn wake_report(
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

    /// The sweep stops each run past its `timeoutSeconds` (from when it started): StopTask with
    /// [`timeout_stop_reason`], and its end (the STOPPED event, or the next sweep's
    /// DescribeTasks) fails the attempt ([`crate::dispatch::lifecycle::judge`]). Until it has
    /// stopped, each sweep asks again (StopTask of a stopping task changes nothing).
    pub(super) async fn stop_timed_out(&self, jobs: &[Job], report: &mut WakeReport, now: i64) {
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
    pub(super) async fn scale(
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
}
