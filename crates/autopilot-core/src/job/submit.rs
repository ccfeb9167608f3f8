//! A submission — what a caller sends — its checks, and the job it becomes: job ids (given,
//! generated, a schedule's tick), schedules' bounds, task-level overrides.

use super::*;

/// A submission (`{"action": "submit", "job": {...}}`'s `job`): RunTask's fields plus the queue's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submission {
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(flatten)]
    pub spec: RunTaskSpec,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub max_wait_seconds: Option<i64>,
    #[serde(default)]
    pub max_attempts: Option<i64>,
    /// A periodic job: the schedule's name (1–36 letters, digits, `-`, `_`). The job id is
    /// derived from it and the tick (`NAME-YYYYMMDDTHHMMZ`) unless `jobId` is given.
    #[serde(default)]
    pub schedule_name: Option<String>,
    /// The tick (ISO 8601 UTC, e.g. EventBridge Scheduler's `<aws.scheduler.scheduled-time>`);
    /// default: the submission time.
    #[serde(default)]
    pub scheduled_time: Option<String>,
    /// What a tick does while the schedule's previous run is QUEUED, STARTING or RUNNING:
    /// `skip` (default: a SKIPPED record) or `allow` (a second run).
    #[serde(default)]
    pub overlap: Option<String>,
    /// The schedule's period (seconds): when no tick arrived for a period and a grace, the
    /// sweep creates the missed tick's run ([`crate::dispatch::schedule::missed_tick`]).
    #[serde(default)]
    pub schedule_period_seconds: Option<i64>,
    /// RunTask's `count`: only 1 (one task per job).
    #[serde(default)]
    pub count: Option<i64>,
    /// How long one run is expected to take (seconds): orders work (backfill), never stops it.
    #[serde(default)]
    pub expected_seconds: Option<i64>,
    /// A run still going this long after it started is stopped; its attempt fails.
    #[serde(default)]
    pub timeout_seconds: Option<i64>,
}

/// Most characters a `scheduleName` may have (the derived job id adds 16).
pub const MAX_SCHEDULE_NAME_LEN: usize = 36;
/// `schedulePeriodSeconds` bounds: the sweep runs once a minute; a year is the longest period.
pub const MIN_SCHEDULE_PERIOD_SECONDS: i64 = 60;
pub const MAX_SCHEDULE_PERIOD_SECONDS: i64 = 366 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmissionError {
    #[error("invalid job: {0}")]
    Invalid(String),
}

pub(super) fn invalid(msg: impl Into<String>) -> SubmissionError {
    SubmissionError::Invalid(msg.into())
}

/// Checks the job id: 1–52 characters of letters, digits, `-` and `_` (so that `startedBy`
/// and `clientToken` built from it are valid).
pub fn check_job_id(id: &str) -> Result<(), SubmissionError> {
    if id.is_empty() || id.len() > MAX_JOB_ID_LEN {
        return Err(invalid(format!(
            "jobId must have 1 to {MAX_JOB_ID_LEN} characters (got {})",
            id.len()
        )));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(format!(
            "jobId {id:?} may only contain letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// A JSON read's error naming the path of the bad field (``at `priority`: …``; the message
/// alone when the document itself is wrong).
pub(crate) fn path_error_message(e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path.is_empty() || path == "." {
        inner.to_string()
    } else {
        format!("at `{path}`: {inner}")
    }
}

impl Submission {
    /// Parses a submission from JSON, naming the path of a bad field; a key the submission
    /// does not know, or a RunTask field the dispatcher does not carry, is refused with its path
    /// ([`crate::submission::check_keys`]) before anything is read.
    pub fn from_value(value: Value) -> Result<Submission, SubmissionError> {
        crate::submission::check_keys(&value, "job").map_err(invalid)?;
        serde_path_to_error::deserialize(value).map_err(|e| invalid(path_error_message(e)))
    }

    /// Checks everything that needs no AWS call: a task definition and a cluster, priority
    /// ≥ 0, maxWaitSeconds > 0, 1 ≤ maxAttempts ≤ 10, the id, the limits on constraints and
    /// strategies, and that every constraint and strategy parses.
    pub fn validate(&self) -> Result<(), SubmissionError> {
        if self.spec.task_definition.trim().is_empty() {
            return Err(invalid("taskDefinition is required"));
        }
        if self.spec.cluster.trim().is_empty() {
            return Err(invalid("cluster is required"));
        }
        if let Some(id) = &self.job_id {
            check_job_id(id)?;
        }
        match self.priority {
            Some(p) if p < 0 => {
                return Err(invalid(format!(
                    "priority must be an integer ≥ 0 (got {p})"
                )))
            }
            Some(p) if p > i64::from(u32::MAX) => {
                return Err(invalid(format!("priority {p} is too large")))
            }
            _ => {}
        }
        if let Some(w) = self.max_wait_seconds {
            if w <= 0 {
                return Err(invalid(format!("maxWaitSeconds must be > 0 (got {w})")));
            }
        }
        if let Some(a) = self.max_attempts {
            if !(1..=i64::from(MAX_ATTEMPTS_LIMIT)).contains(&a) {
                return Err(invalid(format!(
                    "maxAttempts must be between 1 and {MAX_ATTEMPTS_LIMIT} (got {a})"
                )));
            }
        }
        if let Some(e) = self.expected_seconds {
            if !(1..=MAX_RUN_SECONDS).contains(&e) {
                return Err(invalid(format!(
                    "expectedSeconds must be between 1 and {MAX_RUN_SECONDS} (got {e})"
                )));
            }
        }
        if let Some(t) = self.timeout_seconds {
            if !(MIN_TIMEOUT_SECONDS..=MAX_RUN_SECONDS).contains(&t) {
                return Err(invalid(format!(
                    "timeoutSeconds must be between {MIN_TIMEOUT_SECONDS} and {MAX_RUN_SECONDS} \
                     (got {t})"
                )));
            }
        }
        if let Some(c) = self.count.filter(|c| *c != 1) {
            return Err(invalid(format!(
                "count must be 1 (got {c}): one task per job, so each run is judged and retried \
                 on its own; submit {c} jobs"
            )));
        }
        if let Some(p) = &self.spec.propagate_tags {
            if !["TASK_DEFINITION", "NONE"].contains(&p.as_str()) {
                return Err(invalid(format!(
                    "propagateTags must be TASK_DEFINITION or NONE for a standalone task (got {p:?})"
                )));
            }
        }
        if self.spec.placement_constraints.len() > MAX_JOB_CONSTRAINTS {
            return Err(invalid(format!(
                "at most {MAX_JOB_CONSTRAINTS} placementConstraints (ECS allows 10 and the \
                 dispatcher adds the host it chose)"
            )));
        }
        rules(&self.spec, 0).map_err(|e| invalid(format!("placement: {e}")))?;
        if let Some(name) = &self.schedule_name {
            if name.is_empty()
                || name.len() > MAX_SCHEDULE_NAME_LEN
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(format!(
                    "scheduleName {name:?} must have 1 to {MAX_SCHEDULE_NAME_LEN} letters, \
                     digits, '-' or '_'"
                )));
            }
        } else if self.scheduled_time.is_some()
            || self.overlap.is_some()
            || self.schedule_period_seconds.is_some()
        {
            return Err(invalid(
                "scheduledTime, overlap and schedulePeriodSeconds need a scheduleName",
            ));
        }
        if let Some(p) = self.schedule_period_seconds {
            if !(MIN_SCHEDULE_PERIOD_SECONDS..=MAX_SCHEDULE_PERIOD_SECONDS).contains(&p) {
                return Err(invalid(format!(
                    "schedulePeriodSeconds must be between {MIN_SCHEDULE_PERIOD_SECONDS} and \
                     {MAX_SCHEDULE_PERIOD_SECONDS} (got {p})"
                )));
            }
        }
        if let Some(t) = &self.scheduled_time {
            if ecs_cluster_query::parse_timestamp(t).is_none() {
                return Err(invalid(format!(
                    "scheduledTime {t:?} is not an ISO 8601 time (2026-12-02T00:00:00Z)"
                )));
            }
        }
        self.overlap_policy()?;
        Ok(())
    }

    /// The overlap policy (`skip` unless `allow`).
    pub fn overlap_policy(&self) -> Result<Overlap, SubmissionError> {
        match self.overlap.as_deref().map(str::trim) {
            None | Some("") => Ok(Overlap::Skip),
            Some(o) if o.eq_ignore_ascii_case("skip") => Ok(Overlap::Skip),
            Some(o) if o.eq_ignore_ascii_case("allow") => Ok(Overlap::Allow),
            Some(o) => Err(invalid(format!(
                "overlap must be skip or allow (got {o:?})"
            ))),
        }
    }

    /// The tick of a periodic submission, floored to the minute (Unix seconds).
    pub fn tick(&self, now: i64) -> i64 {
        let t = self
            .scheduled_time
            .as_deref()
            .and_then(ecs_cluster_query::parse_timestamp)
            .unwrap_or(now);
        t - t.rem_euclid(60)
    }

    /// The job to store: QUEUED, with its needs resolved and `job_id` (generated when absent).
    pub fn into_job(self, job_id: String, needs: JobNeeds, now: i64) -> Job {
        let scheduled_time = self.schedule_name.as_ref().map(|_| self.tick(now));
        let schedule_name = self.schedule_name.clone();
        let reason = "submitted".to_string();
        Job {
            job_id,
            spec: self.spec,
            priority: self
                .priority
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(0),
            max_wait_seconds: self.max_wait_seconds,
            schedule_name,
            scheduled_time,
            max_attempts: self
                .max_attempts
                .and_then(|a| u32::try_from(a).ok())
                .unwrap_or(DEFAULT_MAX_ATTEMPTS),
            needs,
            state: JobState::Queued,
            submitted_at: now,
            queued_at: now,
            attempts: 0,
            launches: 0,
            not_before: None,
            task_arn: None,
            container_instance_arn: None,
            reason: Some(reason.clone()),
            exit_codes: Vec::new(),
            updated_at: now,
            revision: 1,
            history: vec![Transition {
                from: None,
                to: JobState::Queued,
                at: now,
                reason,
            }],
            non_essential: Vec::new(),
            launch: None,
            counters: JobCounters::default(),
            missing_since: None,
            expected_seconds: self.expected_seconds,
            learned_seconds: None,
            timeout_seconds: self.timeout_seconds,
        }
    }
}

/// What a tick does while the schedule's previous run is not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    Skip,
    Allow,
}

/// The job id of a schedule's tick: `NAME-YYYYMMDDTHHMMZ` (every delivery of one tick, the
/// Scheduler's retries included, names the same job).
pub fn schedule_job_id(name: &str, tick: i64) -> String {
    let iso = crate::clock::format_unix(tick); // 2026-12-02T00:00:00Z
    let compact: String = iso
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(13)
        .collect();
    format!("{name}-{compact}Z")
}

/// A fresh job id when the caller gave none: `job-<unix seconds>-<16 hex digits>` (random from
/// the standard library's per-process hasher keys and a counter; not a secret).
pub fn generate_job_id(now: i64) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_i64(now);
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("job-{now}-{:016x}", h.finish())
}

/// Task-level `overrides.cpu` / `overrides.memory` (strings in RunTask) replace the task
/// definition's reservation.
pub fn needs_with_overrides(mut needs: JobNeeds, overrides: Option<&Value>) -> JobNeeds {
    let field = |name: &str| -> Option<i64> {
        let v = overrides?.get(name)?;
        v.as_str()
            .and_then(|s| s.trim().parse().ok())
            .or_else(|| v.as_i64())
    };
    if let Some(cpu) = field("cpu") {
        needs.cpu = cpu;
    }
    if let Some(memory) = field("memory") {
        needs.memory = memory;
    }
    needs
}
