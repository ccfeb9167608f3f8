//! The job lifecycle, pure (docs/task-dispatcher.md, "The job lifecycle"): what one observation
//! does to a job. The dispatcher service only reads, calls ECS and writes the job this module
//! returns, conditionally on the revision it read.
//!
//! An attempt is counted when a job goes STARTING (it is the RunTask that may run it); a step
//! that says *refunded* gives it back, so only runs that failed because of the job use one.
//!
//! | state | observation | next | attempt | not before | reason |
//! |---|---|---|---|---|---|
//! | QUEUED | `Launch` (placed, or submitted for a capacity provider) | STARTING, the request kept | used | – | placed on … |
//! | QUEUED | `Expired` | EXPIRED | – | – | waited … |
//! | QUEUED, STARTING, RUNNING | `Cancelled` | CANCELLED | – | – | cancelled |
//! | STARTING | `Started` (RunTask's answer, a task event, reconcile) | RUNNING | – | – | task … |
//! | RUNNING without a host, or noted MISSING | `Started` (PROVISIONING ended; the task is there after all) | RUNNING, host recorded, note cleared | – | – | – |
//! | STARTING | `Adopted` (ConflictException: the token already started these) | RUNNING | – | – | adopted |
//! | STARTING | `NotPlaced` (`failures[]`, the PROVISIONING cap) | QUEUED in place | refunded | now + [`refusal_backoff`] | RunTask did not place it |
//! | STARTING | `Refused` (RunTask refused the request itself) | FAILED | – | – | RunTask refused |
//! | STARTING, RUNNING | `Stopped`, [`judge`] = succeeded | SUCCEEDED | – | – | … |
//! | STARTING, RUNNING | `Stopped`, not the job's fault | QUEUED in place | refunded | – | … without using an attempt |
//! | STARTING, RUNNING | `Stopped`, failed, attempts < max | QUEUED | used | now + [`retry_backoff`] | attempt n of m failed |
//! | STARTING, RUNNING | `Stopped`, failed, attempts = max | FAILED | used | – | failed after n attempt(s) |
//! | RUNNING | `Stopped` by the sweep past `timeoutSeconds` ([`judge`]: failed, whatever the exit codes) | as failed, the two rows above | used | as above | timed out: … |
//! | RUNNING | `Missing`, first time | RUNNING, `missingSince` noted | – | – | – |
//! | RUNNING | `Missing` again (a later sweep) | QUEUED if attempts remain, else FAILED | used | now + [`retry_backoff`] | outcome unknown |
//! | terminal | anything | unchanged | | | |
//! | any other pair (a stale or repeated observation) | | unchanged | | | |
//!
//! "In place" keeps the job's queue position and wait clock (`queuedAt`): it was not the job's
//! turn that failed. Refusals back off (60 s, doubling, at most 1 h), so a job ECS keeps refusing
//! for a reason the simulator cannot see (ENIs, a constraint it cannot evaluate) costs at most
//! [`MAX_REFUSED_RUNTASKS_PER_HOUR`] RunTask calls an hour and never holds a reservation: while it
//! backs off, lower jobs take the room.

use serde::Serialize;

use crate::job::{Job, JobState, LaunchRequest};
use crate::ports::task_launcher::ContainerExit;

/// First retry backoff after a failed run; doubles per attempt up to [`MAX_BACKOFF_SECONDS`].
pub const BASE_BACKOFF_SECONDS: i64 = 30;
pub const MAX_BACKOFF_SECONDS: i64 = 900;
/// First backoff after a RunTask refusal; doubles per refusal in a row up to
/// [`MAX_REFUSAL_BACKOFF_SECONDS`].
pub const BASE_REFUSAL_BACKOFF_SECONDS: i64 = 60;
pub const MAX_REFUSAL_BACKOFF_SECONDS: i64 = 3600;
/// What the refusal backoff allows at most in any hour (60 + 120 + 240 + 480 + 960 + 1920 s
/// > 3600 s: the seventh call comes after the hour).
pub const MAX_REFUSED_RUNTASKS_PER_HOUR: usize = 6;

use crate::markers::DRAINER_STOP_REASON;

/// The start of the stop reason the sweep gives a run past its `timeoutSeconds`
/// ([`timeout_stop_reason`]); [`judge`] fails such a run whatever its exit codes.
pub const TIMEOUT_STOP_REASON_PREFIX: &str = "ecs-autopilot task-dispatcher: timeoutSeconds";

/// StopTask's reason for a run past its `timeoutSeconds` (ECS keeps at most 255 characters).
pub fn timeout_stop_reason(timeout_seconds: i64) -> String {
    format!("{TIMEOUT_STOP_REASON_PREFIX} {timeout_seconds} exceeded")
}

/// Retry backoff after `attempts` used: 30 s, 60 s, 120 s, ... at most 15 min.
pub fn retry_backoff(attempts: u32) -> i64 {
    let shift = attempts.saturating_sub(1).min(10);
    (BASE_BACKOFF_SECONDS << shift).min(MAX_BACKOFF_SECONDS)
}

/// Backoff after the `refusals`-th RunTask refusal in a row: 60 s, 120 s, ... at most 1 h.
pub fn refusal_backoff(refusals: u32) -> i64 {
    let shift = refusals.saturating_sub(1).min(10);
    (BASE_REFUSAL_BACKOFF_SECONDS << shift).min(MAX_REFUSAL_BACKOFF_SECONDS)
}

/// A stopped task of the job's current launch, as a task event or DescribeTasks tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoppedRun {
    pub task_arn: String,
    /// ECS `stopCode` (`EssentialContainerExited`, `SpotInterruption`, ...).
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// The host it ran on (`None`: never placed, e.g. a PROVISIONING timeout).
    pub container_instance_arn: Option<String>,
    pub containers: Vec<ContainerExit>,
}

/// How a run ended, judged by the essential containers of its task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "why")]
pub enum Verdict {
    Succeeded(String),
    Failed(String),
    /// Stopped by something other than the job: re-queued without using an attempt.
    NotItsFault(String),
}

/// Stop codes of stops the job did not cause (ECS API `TaskStopCode`).
const INFRASTRUCTURE_STOP_CODES: [&str; 3] = [
    "SpotInterruption",
    "TerminationNotice",
    "InfrastructureHealth",
];

/// Exit codes of a container ECS stopped (SIGTERM, then SIGKILL after `stopTimeout`).
fn stopped_by_ecs(c: &ContainerExit) -> bool {
    let oom = c
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("OutOfMemory"));
    !oom && matches!(c.exit_code, None | Some(137) | Some(143))
}

/// Judges a stopped run (ecs-notes "task-dispatcher": task events and DescribeTasks carry no
/// `essential` flag; only the task definition says which containers are essential, kept with the
/// job at submission as `non_essential`).
///
/// | stop | essential containers | verdict |
/// |---|---|---|
/// | instance-drainer's stop reason | any | not its fault |
/// | stopCode `SpotInterruption`, `TerminationNotice`, `InfrastructureHealth` | any | not its fault |
/// | no essential exit code; stopCode not `TaskFailedToStart` / `UserInitiated` | none exited | not its fault (the host stopped or went away under it, or it never got a host: a PROVISIONING timeout) |
/// | any | every one exited 0 | succeeded |
/// | stopCode `EssentialContainerExited` | one exited 0, the others 137, 143 or none (not out of memory) | succeeded (ECS stopped the rest when the first exited) |
/// | any other | | failed, with the exit codes |
///
/// A non-essential container's exit code never decides: ECS stops a sidecar when the app exits
/// (137/143), or it may never start.
pub fn judge(run: &StoppedRun, non_essential: &[String]) -> Verdict {
    let essential: Vec<&ContainerExit> = run
        .containers
        .iter()
        .filter(|c| c.essential != Some(false) && !non_essential.contains(&c.name))
        .collect();
    let code = run.stop_code.as_deref().unwrap_or("");
    let reason = run.stopped_reason.as_deref().unwrap_or("");
    if reason == DRAINER_STOP_REASON {
        return Verdict::NotItsFault("stopped by instance-drainer (host terminating)".to_string());
    }
    // Stopped by the sweep past its timeout: the attempt failed, as AWS Batch's timeout does,
    // whatever the containers' exit codes (SIGTERM's 143, or 0 from a handler that caught it).
    if reason.starts_with(TIMEOUT_STOP_REASON_PREFIX) {
        return Verdict::Failed(format!("timed out: {reason}"));
    }
    if INFRASTRUCTURE_STOP_CODES.contains(&code) {
        return Verdict::NotItsFault(format!("stopped by ECS ({code}): {reason}"));
    }
    let codes = exit_codes(&essential);
    let none_exited = essential.iter().all(|c| c.exit_code.is_none());
    if none_exited && !matches!(code, "TaskFailedToStart" | "UserInitiated") {
        let why = if run.container_instance_arn.is_none() {
            "never got a host (PROVISIONING timeout)"
        } else {
            "its host stopped or went away (no container exited)"
        };
        return Verdict::NotItsFault(format!("{why}: {reason}"));
    }
    let all_zero = essential.iter().all(|c| c.exit_code == Some(0));
    if !essential.is_empty() && all_zero {
        return Verdict::Succeeded("every essential container exited 0".to_string());
    }
    let one_zero = essential.iter().any(|c| c.exit_code == Some(0));
    let rest_stopped = essential
        .iter()
        .all(|c| c.exit_code == Some(0) || stopped_by_ecs(c));
    if code == "EssentialContainerExited" && one_zero && rest_stopped {
        return Verdict::Succeeded(format!(
            "an essential container exited 0 and ECS stopped the others ({})",
            codes.join(", ")
        ));
    }
    Verdict::Failed(format!(
        "exit codes {}; stopped reason: {reason}",
        if codes.is_empty() {
            "none".to_string()
        } else {
            codes.join(", ")
        }
    ))
}

/// `name=code` of each container judged (`none` without a code).
fn exit_codes(containers: &[&ContainerExit]) -> Vec<String> {
    containers
        .iter()
        .map(|c| match c.exit_code {
            Some(code) => format!("{}={code}", c.name),
            None => format!("{}=none", c.name),
        })
        .collect()
}

/// What the dispatcher saw happen to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The job is sent to RunTask with this request.
    Launch(LaunchRequest),
    /// Waited past `maxWaitSeconds`.
    Expired(String),
    Cancelled,
    /// The current launch's task exists and is not stopped (RunTask's answer, an event, a
    /// reconcile).
    Started {
        task_arn: String,
        container_instance_arn: Option<String>,
    },
    /// RunTask answered `ConflictException`: tasks already started with this token.
    Adopted(Vec<String>),
    /// RunTask started nothing: `failures[]` or the PROVISIONING cap.
    NotPlaced(String),
    /// RunTask refused the request itself (a retry sends the same request and fails the same way).
    Refused(String),
    Stopped(StoppedRun),
    /// DescribeTasks answered MISSING for the RUNNING job's task.
    Missing {
        task_arn: String,
    },
}

/// What happens to the job's attempt count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attempt {
    /// Nothing changes.
    Kept,
    /// One more is used (a launch).
    Used,
    /// The one counted at launch is given back.
    Refunded,
}

/// One step: the next state and what comes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub to: JobState,
    pub attempt: Attempt,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    pub reason: String,
    /// A QUEUED step that keeps the job's wait clock.
    pub in_place: bool,
}

/// The decision for one observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// Nothing to write (a terminal job, a stale or repeated observation).
    Unchanged,
    /// A state change.
    To(Step),
    /// RUNNING stays RUNNING: the host its task got is recorded, a MISSING note is cleared.
    Refresh,
    /// RUNNING stays RUNNING; the first MISSING answer is noted.
    NoteMissing,
}

fn step(to: JobState, attempt: Attempt, reason: impl Into<String>) -> Move {
    Move::To(Step {
        to,
        attempt,
        not_before: None,
        reason: reason.into(),
        in_place: false,
    })
}

fn requeue(reason: String, not_before: Option<i64>, attempt: Attempt, in_place: bool) -> Move {
    Move::To(Step {
        to: JobState::Queued,
        attempt,
        not_before,
        reason,
        in_place,
    })
}

/// The failed-run step: QUEUED with backoff while attempts remain, else FAILED.
fn failed_run(job: &Job, why: &str, now: i64) -> Move {
    if job.attempts < job.max_attempts {
        let wait = retry_backoff(job.attempts);
        requeue(
            format!(
                "attempt {} of {} failed ({why}); retry in {wait} s",
                job.attempts, job.max_attempts
            ),
            Some(now + wait),
            Attempt::Kept,
            false,
        )
    } else {
        step(
            JobState::Failed,
            Attempt::Kept,
            format!("failed after {} attempt(s): {why}", job.attempts),
        )
    }
}

/// Decides what `observation` does to `job` (the module's table).
pub fn decide_step(job: &Job, observation: &Observation, now: i64) -> Move {
    use JobState::{Queued, Running, Starting};
    if job.state.is_terminal() {
        return Move::Unchanged;
    }
    match (job.state, observation) {
        (Queued, Observation::Launch(req)) => step(
            Starting,
            Attempt::Used,
            format!(
                "placed on {}",
                req.pin.as_deref().unwrap_or("a host ECS chooses")
            ),
        ),
        (Queued, Observation::Expired(why)) => step(JobState::Expired, Attempt::Kept, why),
        (_, Observation::Cancelled) => step(JobState::Cancelled, Attempt::Kept, "cancelled"),
        (Starting, Observation::Started { task_arn, .. }) => {
            step(Running, Attempt::Kept, format!("task {task_arn}"))
        }
        (
            Running,
            Observation::Started {
                container_instance_arn,
                ..
            },
        ) if job.missing_since.is_some()
            || (job.container_instance_arn.is_none() && container_instance_arn.is_some()) =>
        {
            Move::Refresh
        }
        (Starting, Observation::Adopted(arns)) if !arns.is_empty() => step(
            Running,
            Attempt::Kept,
            format!(
                "task {} (RunTask's token had already started it: adopted)",
                arns.join(", ")
            ),
        ),
        (Starting, Observation::NotPlaced(why)) => {
            let refusals = job.counters.refusals.saturating_add(1);
            let wait = refusal_backoff(refusals);
            requeue(
                format!("RunTask did not place it: {why}; next try in {wait} s"),
                Some(now + wait),
                Attempt::Refunded,
                true,
            )
        }
        (Starting, Observation::Refused(why)) => step(
            JobState::Failed,
            Attempt::Kept,
            format!("RunTask refused the request: {why}"),
        ),
        (Starting | Running, Observation::Stopped(run)) => match judge(run, &job.non_essential) {
            Verdict::Succeeded(why) => step(JobState::Succeeded, Attempt::Kept, why),
            Verdict::NotItsFault(why) => requeue(
                format!("{why}: re-queued without using an attempt"),
                None,
                Attempt::Refunded,
                true,
            ),
            Verdict::Failed(why) => failed_run(job, &why, now),
        },
        (Running, Observation::Missing { task_arn }) => match job.missing_since {
            None => Move::NoteMissing,
            Some(since) => failed_run(
                job,
                &format!(
                    "outcome unknown: ECS no longer has task {task_arn} (DescribeTasks MISSING \
                     since {})",
                    crate::clock::format_unix(since)
                ),
                now,
            ),
        },
        (
            Queued | Starting | Running,
            Observation::Launch(_)
            | Observation::Expired(_)
            | Observation::Started { .. }
            | Observation::Adopted(_)
            | Observation::NotPlaced(_)
            | Observation::Refused(_)
            | Observation::Stopped(_)
            | Observation::Missing { .. },
        ) => Move::Unchanged,
        (
            JobState::Succeeded
            | JobState::Failed
            | JobState::Expired
            | JobState::Cancelled
            | JobState::Skipped,
            _,
        ) => Move::Unchanged,
    }
}

/// The job after `mv` (`None` for [`Move::Unchanged`]): the caller writes it conditionally on
/// `job.revision`.
pub fn apply(job: &Job, observation: &Observation, mv: &Move, now: i64) -> Option<Job> {
    let mut next = match mv {
        Move::Unchanged => return None,
        Move::Refresh => {
            let mut n = job.clone();
            if let Observation::Started {
                container_instance_arn: Some(host),
                ..
            } = observation
            {
                n.container_instance_arn = Some(host.clone());
            }
            n.missing_since = None;
            n.revision = job.revision + 1;
            n.updated_at = now;
            return Some(n);
        }
        Move::NoteMissing => {
            let mut n = job.clone();
            n.missing_since = Some(now);
            n.revision = job.revision + 1;
            n.updated_at = now;
            return Some(n);
        }
        Move::To(s) => {
            let mut n = job.transition(s.to, s.reason.clone(), now);
            if s.in_place {
                n.queued_at = job.queued_at;
            }
            match s.attempt {
                Attempt::Kept => {}
                Attempt::Used => n.attempts = job.attempts.saturating_add(1),
                Attempt::Refunded => n.attempts = job.attempts.saturating_sub(1),
            }
            n.not_before = s.not_before;
            n
        }
    };
    match observation {
        Observation::Launch(req) => {
            next.launches = job.launches.saturating_add(1);
            next.launch = Some(req.clone());
            next.container_instance_arn = None;
            next.task_arn = None;
            next.exit_codes.clear();
        }
        Observation::Started {
            task_arn,
            container_instance_arn,
        } => {
            next.task_arn = Some(task_arn.clone());
            next.container_instance_arn = container_instance_arn.clone();
            next.counters.refusals = 0;
        }
        Observation::Adopted(arns) => {
            next.task_arn = arns.first().cloned();
            next.counters.refusals = 0;
        }
        Observation::NotPlaced(_) => {
            next.counters.refusals = job.counters.refusals.saturating_add(1);
            next.counters.refused_total = job.counters.refused_total.saturating_add(1);
        }
        Observation::Stopped(run) => {
            let judged: Vec<&ContainerExit> = run
                .containers
                .iter()
                .filter(|c| c.essential != Some(false) && !job.non_essential.contains(&c.name))
                .collect();
            next.exit_codes = exit_codes(&judged);
            next.task_arn = Some(run.task_arn.clone());
            if matches!(judge(run, &job.non_essential), Verdict::NotItsFault(_)) {
                next.counters.not_its_fault = job.counters.not_its_fault.saturating_add(1);
            }
        }
        Observation::Expired(_)
        | Observation::Cancelled
        | Observation::Refused(_)
        | Observation::Missing { .. } => {}
    }
    if next.state.is_terminal() {
        next.not_before = None;
    }
    Some(next)
}

/// [`decide_step`] then [`apply`].
pub fn next_job(job: &Job, observation: &Observation, now: i64) -> Option<Job> {
    apply(job, observation, &decide_step(job, observation, now), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState, attempts: u32, max: u32) -> Job {
        let mut j = crate::testing::job("j");
        j.state = state;
        j.attempts = attempts;
        j.max_attempts = max;
        j.launches = attempts.max(1);
        j.non_essential = vec!["sidecar".into()];
        j
    }

    fn exit(name: &str, code: Option<i32>) -> ContainerExit {
        ContainerExit {
            name: name.into(),
            exit_code: code,
            essential: None,
            reason: None,
        }
    }

    fn stopped(code: Option<&str>, exits: &[(&str, Option<i32>)]) -> StoppedRun {
        StoppedRun {
            task_arn: "t-1".into(),
            stop_code: code.map(str::to_string),
            stopped_reason: Some("stopped".into()),
            container_instance_arn: Some("ci-1".into()),
            containers: exits.iter().map(|(n, c)| exit(n, *c)).collect(),
        }
    }

    #[test]
    fn judge_table() {
        use Verdict as V;
        let ess = Some("EssentialContainerExited");
        let cases: Vec<(StoppedRun, &str)> = vec![
            // | every essential exited 0 | succeeded |
            (stopped(ess, &[("app", Some(0))]), "succeeded"),
            // | app 0, non-essential sidecar killed by ECS | succeeded |
            (
                stopped(ess, &[("app", Some(0)), ("sidecar", Some(137))]),
                "succeeded",
            ),
            (
                stopped(ess, &[("app", Some(0)), ("sidecar", Some(1))]),
                "succeeded",
            ),
            // | app 1, sidecar 0 | failed |
            (
                stopped(ess, &[("app", Some(1)), ("sidecar", Some(0))]),
                "failed",
            ),
            // | two essentials: one 0, ECS stopped the other (143) | succeeded |
            (
                stopped(ess, &[("app", Some(0)), ("db", Some(143))]),
                "succeeded",
            ),
            // | ... the other was not stopped by ECS (exit 2) | failed |
            (stopped(ess, &[("app", Some(0)), ("db", Some(2))]), "failed"),
            // | no EssentialContainerExited: a 143 is a failure | failed |
            (
                stopped(Some("UserInitiated"), &[("app", Some(143))]),
                "failed",
            ),
            // | spot, termination notice, infrastructure | not its fault |
            (stopped(Some("SpotInterruption"), &[("app", None)]), "not"),
            (
                stopped(Some("TerminationNotice"), &[("app", Some(143))]),
                "not",
            ),
            (
                stopped(Some("InfrastructureHealth"), &[("app", Some(1))]),
                "not",
            ),
            // | host gone: no exit codes, no stop code | not its fault |
            (stopped(None, &[("app", None)]), "not"),
            // | failed to start (image pull) | failed |
            (
                stopped(Some("TaskFailedToStart"), &[("app", None)]),
                "failed",
            ),
        ];
        for (run, want) in cases {
            let got = judge(&run, &["sidecar".to_string()]);
            let kind = match got {
                V::Succeeded(_) => "succeeded",
                V::Failed(_) => "failed",
                V::NotItsFault(_) => "not",
            };
            assert_eq!(kind, want, "{run:?} → {got:?}");
        }
        // Out of memory is the job's own failure, even under EssentialContainerExited.
        let mut oom = stopped(ess, &[("app", Some(0)), ("db", Some(137))]);
        oom.containers[1].reason = Some("OutOfMemoryError: Container killed".into());
        assert!(matches!(judge(&oom, &[]), V::Failed(_)));
        // Never placed: a PROVISIONING timeout.
        let mut never = stopped(None, &[]);
        never.container_instance_arn = None;
        assert!(matches!(judge(&never, &[]), V::NotItsFault(w) if w.contains("PROVISIONING")));
        // The drainer's stop.
        let mut drained = stopped(Some("UserInitiated"), &[("app", Some(143))]);
        drained.stopped_reason = Some(DRAINER_STOP_REASON.to_string());
        assert!(matches!(judge(&drained, &[]), V::NotItsFault(_)));
        // Stopped by the sweep past timeoutSeconds: failed, even if the app exited 0 on SIGTERM.
        let mut timed_out = stopped(Some("UserInitiated"), &[("app", Some(0))]);
        timed_out.stopped_reason = Some(timeout_stop_reason(3600));
        assert!(matches!(judge(&timed_out, &[]), V::Failed(w) if w.starts_with("timed out")));
    }

    /// (state, attempts, max, observation, next state or None, attempts after, not_before)
    type Case = (
        JobState,
        u32,
        u32,
        Observation,
        Option<JobState>,
        u32,
        Option<i64>,
    );

    #[test]
    fn lifecycle_table() {
        use JobState::*;
        let now = 1_000;
        let run = |exits: &[(&str, Option<i32>)], code: Option<&str>| {
            Observation::Stopped(stopped(code, exits))
        };
        let started = Observation::Started {
            task_arn: "t-1".into(),
            container_instance_arn: Some("ci-1".into()),
        };
        let ess = Some("EssentialContainerExited");
        // (state, attempts, max, observation, next state or None, attempts after, not_before)
        let cases: Vec<Case> = vec![
            (
                Queued,
                0,
                2,
                Observation::Launch(LaunchRequest::default()),
                Some(Starting),
                1,
                None,
            ),
            (
                Queued,
                0,
                2,
                Observation::Expired("waited".into()),
                Some(Expired),
                0,
                None,
            ),
            (
                Running,
                1,
                2,
                Observation::Cancelled,
                Some(Cancelled),
                1,
                None,
            ),
            (Starting, 1, 2, started.clone(), Some(Running), 1, None),
            (
                Starting,
                1,
                2,
                Observation::Adopted(vec!["t-9".into()]),
                Some(Running),
                1,
                None,
            ),
            (Starting, 1, 2, Observation::Adopted(vec![]), None, 1, None),
            (
                Starting,
                1,
                2,
                Observation::NotPlaced("ATTRIBUTE".into()),
                Some(Queued),
                0,
                Some(now + 60),
            ),
            (
                Starting,
                1,
                2,
                Observation::Refused("bad".into()),
                Some(Failed),
                1,
                None,
            ),
            (
                Running,
                1,
                2,
                run(&[("app", Some(0)), ("sidecar", Some(137))], ess),
                Some(Succeeded),
                1,
                None,
            ),
            (
                Running,
                1,
                2,
                run(&[("app", Some(1)), ("sidecar", Some(0))], ess),
                Some(Queued),
                1,
                Some(now + 30),
            ),
            (
                Running,
                2,
                2,
                run(&[("app", Some(1))], ess),
                Some(Failed),
                2,
                None,
            ),
            (
                Running,
                1,
                1,
                run(&[("app", None)], Some("TerminationNotice")),
                Some(Queued),
                0,
                None,
            ),
            (
                Starting,
                1,
                1,
                run(&[("app", None)], Some("SpotInterruption")),
                Some(Queued),
                0,
                None,
            ),
            // Stale: a STOPPED for a QUEUED job, a start for a RUNNING job with its host known.
            (Queued, 0, 2, run(&[("app", Some(0))], ess), None, 0, None),
            (
                Queued,
                0,
                2,
                Observation::Missing {
                    task_arn: "t".into(),
                },
                None,
                0,
                None,
            ),
            (Succeeded, 1, 2, Observation::Cancelled, None, 1, None),
            (Failed, 1, 2, started.clone(), None, 1, None),
        ];
        for (state, attempts, max, obs, want, want_attempts, want_nb) in cases {
            let j = job(state, attempts, max);
            let next = next_job(&j, &obs, now);
            assert_eq!(next.as_ref().map(|n| n.state), want, "{state:?} {obs:?}");
            if let Some(n) = next {
                assert_eq!(n.attempts, want_attempts, "{state:?} {obs:?}");
                assert_eq!(n.not_before, want_nb, "{state:?} {obs:?}");
                assert_eq!(n.revision, j.revision + 1);
            }
        }
    }

    #[test]
    fn a_refused_job_keeps_its_place_and_backs_off_exponentially() {
        let mut j = job(JobState::Starting, 1, 2);
        j.queued_at = 5;
        let n = next_job(&j, &Observation::NotPlaced("RESOURCE:ENI".into()), 100).expect("moves");
        assert_eq!(
            (n.queued_at, n.counters.refusals, n.counters.refused_total),
            (5, 1, 1)
        );
        assert_eq!(n.attempts, 0);
        // A start resets the refusal streak.
        let mut s = n.clone();
        s.state = JobState::Starting;
        let r = next_job(
            &s,
            &Observation::Started {
                task_arn: "t".into(),
                container_instance_arn: None,
            },
            200,
        )
        .expect("runs");
        assert_eq!((r.counters.refusals, r.counters.refused_total), (0, 1));
    }

    #[test]
    fn refusals_cost_at_most_six_runtask_calls_in_any_hour() {
        // A job refused on every try, tried as soon as its backoff ends.
        let mut calls = Vec::new();
        let (mut t, mut refusals) = (0_i64, 0_u32);
        while t < 6 * 3600 {
            calls.push(t);
            refusals += 1;
            t += refusal_backoff(refusals);
        }
        for (i, start) in calls.iter().enumerate() {
            let within = calls[i..].iter().take_while(|c| **c < start + 3600).count();
            assert!(
                within <= MAX_REFUSED_RUNTASKS_PER_HOUR,
                "{within} from {start}"
            );
        }
        assert_eq!(refusal_backoff(1), 60);
        assert_eq!(refusal_backoff(30), MAX_REFUSAL_BACKOFF_SECONDS);
    }

    #[test]
    fn a_missing_task_is_noted_once_then_settled() {
        let obs = Observation::Missing {
            task_arn: "t-1".into(),
        };
        let j = job(JobState::Running, 1, 1);
        let noted = next_job(&j, &obs, 100).expect("noted");
        assert_eq!(
            (noted.state, noted.missing_since),
            (JobState::Running, Some(100))
        );
        let settled = next_job(&noted, &obs, 160).expect("settled");
        assert_eq!(settled.state, JobState::Failed);
        assert!(settled
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("outcome unknown")));
        // With an attempt left: re-queued (the attempt counts: the run may have failed).
        let mut two = noted.clone();
        two.max_attempts = 2;
        let again = next_job(&two, &obs, 160).expect("requeued");
        assert_eq!(
            (again.state, again.attempts, again.missing_since),
            (JobState::Queued, 1, None)
        );
        // A task that shows up again clears the note.
        let back = Observation::Started {
            task_arn: "t-1".into(),
            container_instance_arn: None,
        };
        let cleared = next_job(&noted, &back, 120).expect("cleared");
        assert_eq!(
            (cleared.state, cleared.missing_since),
            (JobState::Running, None)
        );
        assert!(
            next_job(&cleared, &back, 130).is_none(),
            "nothing left to write"
        );
    }
}
