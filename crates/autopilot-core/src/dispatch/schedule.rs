//! Periodic jobs, pure: what one tick of a schedule does (docs/task-dispatcher.md, "Periodic
//! jobs").
//!
//! A schedule (EventBridge Scheduler, cron with a time zone) submits a job with `scheduleName`
//! and its tick (`scheduledTime`). Every delivery of one tick names the same job
//! ([`crate::job::schedule_job_id`]): a repeated delivery is a duplicate and writes nothing. Per
//! schedule, one control item (`schedule#NAME`) keeps the last run: its job id, tick and when it
//! was submitted.
//!
//! | last run of the schedule                                  | this tick                      |
//! |-----------------------------------------------------------|--------------------------------|
//! | none                                                      | run                            |
//! | this very tick (a crash between the two writes)           | run (the job is created)       |
//! | submitted at or after this tick was due (a late delivery  | covered: SKIPPED record        |
//! | of a tick missed during an outage; the run catches up)    |                                |
//! | QUEUED / STARTING / RUNNING, overlap `skip` (default)     | skipped: SKIPPED record        |
//! | QUEUED / STARTING / RUNNING, overlap `allow`              | run                            |
//! | finished (any terminal state) or gone (TTL)               | run                            |
//!
//! So ticks missed during an outage, delivered late by the Scheduler's retries, start one run,
//! not one per missed tick: the first delivered starts it, the others were due before it was
//! submitted and are covered.
//!
//! A tick that never arrives (the Scheduler gave up and dead-lettered it, its role lost
//! `sqs:SendMessage`, the schedule was paused) is created by the sweep when the submission gave
//! `schedulePeriodSeconds`: the control item then keeps the cluster, the period and the
//! submission, and is listed under `schedule#CLUSTER` in the live index so the sweep finds it
//! with one Query. [`missed_tick`]:
//!
//! | period | last run                          | now                              | the sweep creates |
//! |--------|-----------------------------------|----------------------------------|-------------------|
//! | none   | any                               | any                              | nothing           |
//! | p      | none                              | any                              | nothing           |
//! | p      | tick t, itself a catch-up         | any                              | nothing: one per gap; the next real tick resumes |
//! | p      | tick t                            | before t + p + grace             | nothing: not late |
//! | p      | tick t                            | at or after t + p + grace        | tick t + p        |
//!
//! grace = max(5 min, p / 10): a cron in a time zone has 23- and 25-hour days, and a late tick
//! of such a day must not look missed. The created run goes through [`decide_tick`] like any
//! tick (overlap `skip` still skips it); when the real tick turns up later it is covered.

use serde::{Deserialize, Serialize};

use crate::job::{Job, Overlap};

/// A schedule's last run, as the control item keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub job_id: String,
    /// Its tick (Unix seconds).
    pub tick: i64,
    /// When it was submitted (Unix seconds).
    pub submitted_at: i64,
    /// Created by the sweep for a tick that never arrived ([`missed_tick`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub catch_up: bool,
}

/// A schedule's control item (`schedule#NAME` in the jobs table), written conditionally on its
/// revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleControl {
    #[serde(default)]
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// From the last submission with `schedulePeriodSeconds`: its cluster, the period, and the
    /// submission itself (without `jobId` and `scheduledTime`), which the sweep replays for a
    /// missed tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<serde_json::Value>,
}

/// The live index partition a schedule's control item is listed under (its cluster's sweep
/// Queries it). No cluster name contains `#`.
pub fn schedules_partition(cluster_name: &str) -> String {
    format!("schedule#{cluster_name}")
}

/// Least time past a missed tick before the sweep creates it.
pub const MIN_MISSED_TICK_GRACE_SECONDS: i64 = 300;

/// The tick the sweep creates now, if any (see the table above).
pub fn missed_tick(control: &ScheduleControl, now: i64) -> Option<i64> {
    let period = control.period_seconds.filter(|p| *p > 0)?;
    let last = control.last_run.as_ref()?;
    if last.catch_up {
        return None;
    }
    let grace = (period / 10).max(MIN_MISSED_TICK_GRACE_SECONDS);
    let due = last.tick.checked_add(period)?;
    (now >= due.saturating_add(grace)).then_some(due)
}

/// What the tick does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision", content = "reason")]
pub enum Tick {
    Run,
    /// A SKIPPED record with this reason.
    Skip(String),
}

/// Decides one tick (see the table above). `previous` is the last run's job, when it still
/// exists.
pub fn decide_tick(
    schedule: &str,
    tick: i64,
    last: Option<&LastRun>,
    previous: Option<&Job>,
    overlap: Overlap,
) -> Tick {
    let Some(last) = last else {
        return Tick::Run;
    };
    if last.tick == tick {
        return Tick::Run;
    }
    if last.submitted_at >= tick {
        return Tick::Skip(format!(
            "covered: run {} of schedule {schedule} was submitted at {}, after this tick was due \
             at {} (a late delivery: one run catches up, not one per missed tick)",
            last.job_id,
            crate::clock::format_unix(last.submitted_at),
            crate::clock::format_unix(tick)
        ));
    }
    match previous {
        Some(p) if !p.state.is_terminal() && overlap == Overlap::Skip => Tick::Skip(format!(
            "overlap: the previous run {} of schedule {schedule} is still {} (overlap policy skip)",
            p.job_id, p.state
        )),
        _ => Tick::Run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobNeeds, JobState, Submission};

    fn job(state: JobState) -> Job {
        let mut j = Submission::default().into_job("nightly-prev".into(), JobNeeds::default(), 0);
        j.state = state;
        j
    }

    fn last(tick: i64, submitted_at: i64) -> LastRun {
        LastRun {
            job_id: "nightly-prev".into(),
            tick,
            submitted_at,
            catch_up: false,
        }
    }

    #[test]
    fn missed_tick_table() {
        let day = 86_400;
        let control = |period: Option<i64>, last: Option<LastRun>| ScheduleControl {
            schedule: "nightly".into(),
            last_run: last,
            period_seconds: period,
            ..ScheduleControl::default()
        };
        let caught_up = LastRun {
            catch_up: true,
            ..last(0, 0)
        };
        // (case, control, now, created tick)
        let cases = [
            ("no period", control(None, Some(last(0, 0))), 3 * day, None),
            ("no run yet", control(Some(day), None), 3 * day, None),
            (
                "the last run was a catch-up",
                control(Some(day), Some(caught_up)),
                3 * day,
                None,
            ),
            (
                "not late: within the grace (a tenth of a day)",
                control(Some(day), Some(last(0, 0))),
                day + day / 10 - 1,
                None,
            ),
            (
                "late: past the grace",
                control(Some(day), Some(last(0, 0))),
                day + day / 10,
                Some(day),
            ),
            (
                "short period: the grace is 5 minutes",
                control(Some(60), Some(last(0, 0))),
                60 + 299,
                None,
            ),
            (
                "short period, past 5 minutes",
                control(Some(60), Some(last(0, 0))),
                60 + 300,
                Some(60),
            ),
            (
                "many periods missed: one run, for the first missed tick",
                control(Some(day), Some(last(0, 0))),
                10 * day,
                Some(day),
            ),
            (
                "a 25-hour day (DST) is not a missed tick",
                control(Some(day), Some(last(0, 0))),
                day + 3600,
                None,
            ),
        ];
        for (name, c, now, want) in cases {
            assert_eq!(missed_tick(&c, now), want, "{name}");
        }
    }

    #[test]
    fn the_table() {
        let day = 86_400;
        let l = last(0, 5);
        // (case, last run, its job, overlap, runs)
        type Case<'a> = (&'a str, Option<&'a LastRun>, Option<Job>, Overlap, bool);
        let cases: Vec<Case> = vec![
            ("first ever", None, None, Overlap::Skip, true),
            ("same tick again", Some(&l), None, Overlap::Skip, true),
            (
                "previous running, skip",
                Some(&l),
                Some(job(JobState::Running)),
                Overlap::Skip,
                false,
            ),
            (
                "previous queued, skip",
                Some(&l),
                Some(job(JobState::Queued)),
                Overlap::Skip,
                false,
            ),
            (
                "previous running, allow",
                Some(&l),
                Some(job(JobState::Running)),
                Overlap::Allow,
                true,
            ),
            (
                "previous succeeded",
                Some(&l),
                Some(job(JobState::Succeeded)),
                Overlap::Skip,
                true,
            ),
            ("previous gone", Some(&l), None, Overlap::Skip, true),
        ];
        for (name, last, prev, overlap, runs) in cases {
            let tick = if name == "same tick again" { 0 } else { day };
            let t = decide_tick("nightly", tick, last, prev.as_ref(), overlap);
            assert_eq!(t == Tick::Run, runs, "{name}: {t:?}");
        }
    }

    #[test]
    fn ticks_missed_in_an_outage_start_one_run() {
        // Ticks at 0, 60, 120 missed; the outage ends at 1000: the first delivery runs, the
        // others (due before 1000) are covered, even after the run finished.
        let first = decide_tick("s", 0, None, None, Overlap::Skip);
        assert_eq!(first, Tick::Run);
        let after = last(0, 1000);
        for tick in [60, 120] {
            match decide_tick(
                "s",
                tick,
                Some(&after),
                Some(&job(JobState::Succeeded)),
                Overlap::Skip,
            ) {
                Tick::Skip(r) => assert!(r.starts_with("covered"), "{r}"),
                Tick::Run => panic!("tick {tick} ran again"),
            }
        }
        // The next regular tick runs.
        assert_eq!(
            decide_tick(
                "s",
                1020,
                Some(&after),
                Some(&job(JobState::Succeeded)),
                Overlap::Skip
            ),
            Tick::Run
        );
    }
}
