//! What a wake-up did: one record per job considered (logged as one JSON line each) and a
//! summary with the queue depth and the head job's wait.

use serde::Serialize;
use serde_with::skip_serializing_none;

use crate::dispatch::decide::{Action, JobDecision};

/// What happened to one job in a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    /// RunTask started its task.
    Started,
    /// A STARTING job whose task was found by its `startedBy` (a lost RunTask answer).
    Reconciled,
    /// RunTask did not place it (`failures[]`, the PROVISIONING cap): QUEUED again in its place.
    NotPlaced,
    /// RunTask refused the request (bad task definition, ...): FAILED.
    Failed,
    /// Past `maxWaitSeconds`.
    Expired,
    /// Still QUEUED (see `reason`, `blocked_by`).
    Waiting,
    /// In retry backoff.
    Backoff,
    /// Left STARTING: RunTask's answer is unknown (a retryable error); the retry reconciles.
    Unknown,
    /// Another writer moved the job first: nothing done.
    Conflict,
    /// Would start (`jobs explain`, a dry run).
    WouldStart,
    /// Running past its `timeoutSeconds`: StopTask sent; its attempt fails when it stops.
    TimedOut,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    pub cluster: String,
    pub job_id: String,
    pub priority: u32,
    pub action: JobAction,
    /// Container instance ARN placed on (or reserved).
    pub host: Option<String>,
    pub ec2_instance_id: Option<String>,
    pub task_arn: Option<String>,
    pub reason: Option<String>,
    pub blocked_by: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reserves: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub never_fits: bool,
    pub waited_seconds: i64,
    pub hosts_short: Option<usize>,
    pub queue_depth: usize,
    /// When it is expected to start on the host it holds (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_start: Option<i64>,
    /// The hold it declares (decide's `reservation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
}

impl JobRecord {
    pub fn from_decision(cluster: &str, d: &JobDecision, queue_depth: usize) -> JobRecord {
        JobRecord {
            cluster: cluster.to_string(),
            job_id: d.job_id.clone(),
            priority: d.priority,
            action: match d.action {
                Action::Place => JobAction::WouldStart,
                Action::Wait => JobAction::Waiting,
                Action::Backoff => JobAction::Backoff,
                Action::Expire => JobAction::Expired,
            },
            host: d.host.clone(),
            ec2_instance_id: d.ec2_instance_id.clone(),
            task_arn: None,
            reason: d.reason.clone(),
            blocked_by: d.blocked_by.clone(),
            reserves: d.reserves,
            never_fits: d.never_fits,
            waited_seconds: d.waited_seconds,
            hosts_short: d.hosts_short,
            expected_start: d.expected_start,
            reservation: d.reservation.clone(),
            queue_depth,
        }
    }
}

/// What the wake-up did with the owned group (`SCALE_GROUP`).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScaleReport {
    pub group: String,
    pub desired: u32,
    pub max: u32,
    /// Hosts coming (desired capacity not registered yet).
    pub coming: u32,
    /// SetDesiredCapacity made, to this value.
    pub raised_to: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub at_max: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub busy: Vec<String>,
    /// Idle hosts and since when (the stored clock).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub idle_since: std::collections::BTreeMap<String, i64>,
    /// TerminateInstanceInAutoScalingGroup requested (decrement) for these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminated: Vec<String>,
    /// Instances that did not register within `REGISTER_GRACE_SECONDS` (no longer coming).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub never_registered: Vec<String>,
    /// The group is not set up as required (AZRebalance running), or its configured host size
    /// differs from what its hosts register.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why nothing was done (the group is missing, another writer moved the clock first, ...).
    pub note: Option<String>,
}

/// One wake-up of one cluster.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WakeReport {
    pub cluster: String,
    pub trigger: String,
    /// QUEUED jobs when the wake-up read the table.
    pub queue_depth: usize,
    pub head_job: Option<String>,
    pub head_wait_seconds: Option<i64>,
    pub started: usize,
    pub hosts: usize,
    /// Live jobs the wake-up read (its Query of the live index).
    pub jobs_read: usize,
    /// Time spent deciding (the placement plan), in milliseconds.
    pub decide_ms: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobRecord>,
    /// Job records left out of an invocation's answer (it keeps the head of the queue:
    /// [`WakeReport::keep_head`]); each decision that changed was logged.
    #[serde(skip_serializing_if = "is_zero")]
    pub jobs_omitted: usize,
    /// Runs the sweep created for missed schedule ticks (job ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub catch_ups: Vec<String>,
    /// The owned group's move (only for `SCALE_GROUP`'s cluster).
    pub scale: Option<ScaleReport>,
    /// Retryable failures: the invocation fails after the report is logged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl WakeReport {
    /// Keeps the first `n` job records (the head of the queue) and counts the rest in
    /// `jobs_omitted`: an invocation's answer stays small at any queue depth (Lambda refuses a
    /// response over 6 MB, which would fail a whole SQS batch; 10,000 records are ~3 MB).
    pub fn keep_head(mut self, n: usize) -> Self {
        if self.jobs.len() > n {
            self.jobs_omitted += self.jobs.len() - n;
            self.jobs.truncate(n);
        }
        self
    }

    pub fn log(&self) {
        self.log_where(|_| true);
    }

    /// [`WakeReport::log`] with a decision line only for the jobs `changed` keeps (the
    /// dispatcher keeps those whose action or reason changed since the line it last logged).
    pub fn log_where(&self, mut changed: impl FnMut(&JobRecord) -> bool) {
        #[derive(Serialize)]
        struct Summary<'a> {
            cluster: &'a str,
            trigger: &'a str,
            queue_depth: usize,
            head_job: &'a Option<String>,
            head_wait_seconds: &'a Option<i64>,
            started: usize,
            hosts: usize,
            considered: usize,
            jobs_read: usize,
            decide_ms: f64,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            errors: &'a [String],
        }
        for j in self.jobs.iter().filter(|j| changed(j)) {
            crate::log::json_line("INFO", "task-dispatcher decision", j);
        }
        if let Some(scale) = &self.scale {
            // The owned group's move is also its metrics (EMF): hosts added, removed, on their
            // way, and jobs held at MaxSize.
            let metrics = crate::log::Metrics::new("task-dispatcher", Some(&self.cluster))
                .count(
                    "ScaleGroupHostsAdded",
                    scale
                        .raised_to
                        .map_or(0, |to| to.saturating_sub(scale.desired) as usize),
                )
                .count("ScaleGroupHostsRemoved", scale.terminated.len())
                .count("ScaleGroupHostsComing", scale.coming as usize)
                .count("ScaleGroupJobsAtMaxSize", scale.at_max.len());
            crate::log::json_line_with_metrics(
                "INFO",
                "task-dispatcher scale group",
                scale,
                &metrics,
            );
        }
        let summary = Summary {
            cluster: &self.cluster,
            trigger: &self.trigger,
            queue_depth: self.queue_depth,
            head_job: &self.head_job,
            head_wait_seconds: &self.head_wait_seconds,
            started: self.started,
            hosts: self.hosts,
            considered: self.jobs.len(),
            jobs_read: self.jobs_read,
            decide_ms: self.decide_ms,
            errors: &self.errors,
        };
        // A wake-up of a cluster with no job and no group move changed nothing: a DEBUG line and
        // no metrics, so an idle region costs no metric data per cluster per minute.
        if self.is_idle() {
            crate::log::json_line("DEBUG", "task-dispatcher wake-up", &summary);
            return;
        }
        let level = if self.errors.is_empty() {
            "INFO"
        } else {
            "ERROR"
        };
        crate::log::json_line_with_metrics(
            level,
            "task-dispatcher wake-up",
            &summary,
            &self.metrics(),
        );
    }

    /// Nothing queued, nothing considered, no group move, no error.
    pub fn is_idle(&self) -> bool {
        self.queue_depth == 0
            && self.started == 0
            && self.catch_ups.is_empty()
            && self.jobs.is_empty()
            && self.scale.is_none()
            && self.errors.is_empty()
    }

    /// The wake-up's metrics: queue depth, the head job's wait, jobs started, and the jobs
    /// considered by what happened to them.
    pub fn metrics(&self) -> crate::log::Metrics {
        let count = |action: JobAction| self.jobs.iter().filter(|j| j.action == action).count();
        crate::log::Metrics::new("task-dispatcher", Some(&self.cluster))
            .count("WakeUps", 1)
            .count("QueueDepth", self.queue_depth)
            .seconds(
                "HeadJobWait",
                self.head_wait_seconds.unwrap_or(0).max(0) as u64,
            )
            .count("Dispatched", self.started)
            .count("Waiting", count(JobAction::Waiting))
            .count("NotPlaced", count(JobAction::NotPlaced))
            .count("Expired", count(JobAction::Expired))
            .count("Failed", count(JobAction::Failed))
            .count("Errors", self.errors.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_up_reports_queue_depth_head_wait_and_dispatches_as_metrics() {
        let job = |id: &str, action| JobRecord {
            cluster: "batch".into(),
            job_id: id.into(),
            priority: 1,
            action,
            host: None,
            ec2_instance_id: None,
            task_arn: None,
            reason: None,
            blocked_by: None,
            reserves: false,
            never_fits: false,
            waited_seconds: 0,
            hosts_short: None,
            queue_depth: 3,
            expected_start: None,
            reservation: None,
        };
        let report = WakeReport {
            cluster: "arn:aws:ecs:us-east-1:1:cluster/batch".into(),
            trigger: "task-event".into(),
            queue_depth: 3,
            head_job: Some("urgent".into()),
            head_wait_seconds: Some(95),
            started: 1,
            hosts: 1,
            jobs_read: 3,
            decide_ms: 0.1,
            jobs_omitted: 0,
            catch_ups: vec![],
            jobs: vec![
                job("urgent", JobAction::Started),
                job("low-0", JobAction::Waiting),
                job("low-1", JobAction::Waiting),
            ],
            scale: None,
            errors: vec![],
        };
        let m = report.metrics();
        assert_eq!(m.cluster, "batch");
        let value = |name: &str| {
            m.values
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, v, unit)| (*v, *unit))
        };
        assert_eq!(value("QueueDepth"), Some((3.0, "Count")));
        assert_eq!(value("HeadJobWait"), Some((95.0, "Seconds")));
        assert_eq!(value("Dispatched"), Some((1.0, "Count")));
        assert_eq!(value("Waiting"), Some((2.0, "Count")));
        assert_eq!(value("Errors"), Some((0.0, "Count")));
        let empty = WakeReport {
            head_wait_seconds: None,
            ..WakeReport::default()
        };
        assert_eq!(
            empty.metrics().values[2],
            ("HeadJobWait", 0.0, "Seconds"),
            "an empty queue waits 0 s (the alarm sees data, not a gap)"
        );
    }
}
